//! An upstream's answer body on its way to the client, holding what its exchange borrowed until
//! the last frame has been read: the connection (plain `http://` upstreams, [`Checkin`]) and the
//! place under `UPSTREAM_MAX_CONNECTIONS` ([`Slot`]).

use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::body::{Body, Frame, SizeHint};

use super::http1_pool::Checkin;
use super::slots::Slot;

/// An answer's body with its exchange's connection and slot.
pub struct AnswerBody<B: Body + Unpin + Send + 'static> {
    /// `None` only once dropped half-read (handed to the task that reads the rest).
    inner: Option<B>,
    /// Holds the slot too, when there is one: it is freed with the connection's return.
    checkin: Option<Checkin>,
    /// The slot of an answer without a `Checkin` (HTTP/2 upstreams).
    slot: Option<Slot>,
}

impl<B: Body + Unpin + Send + 'static> AnswerBody<B> {
    /// Wraps an upstream's body; `checkin` returns the connection to its pool and `slot` frees
    /// the in-flight slot when the body ends — with a `Checkin`, only once its connection is
    /// back, so that a request the slot lets through finds it idle.
    pub fn new(inner: B, checkin: Option<Checkin>, slot: Option<Slot>) -> AnswerBody<B> {
        let (checkin, slot) = match checkin {
            Some(checkin) => (Some(checkin.holding(slot)), None),
            None => (None, slot),
        };
        AnswerBody {
            inner: Some(inner),
            checkin,
            slot,
        }
    }

    /// Read whole: the connection can carry the next request.
    fn finished(&mut self) {
        if let Some(checkin) = self.checkin.take() {
            checkin.give_back();
        }
        self.slot = None;
    }
}

impl<B: Body + Unpin + Send + 'static> Body for AnswerBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = &mut *self;
        let Some(inner) = &mut this.inner else {
            return Poll::Ready(None);
        };
        let mut polled = Pin::new(&mut *inner).poll_frame(cx);
        if let (Poll::Pending, Some(checkin)) = (&polled, &mut this.checkin) {
            // A plain upstream's connection is driven by whoever reads its answer — when the
            // body has nothing ready: most answers come whole with their head, read while the
            // head was awaited, and driving the connection first cost a read attempt (≈ 300
            // instructions) per frame for nothing. Driving it when the body waits also sends
            // the request's body meanwhile and registers this task for the upstream's bytes.
            checkin.drive(cx);
            polled = Pin::new(&mut *inner).poll_frame(cx);
        }
        let ended = inner.is_end_stream();
        match &polled {
            Poll::Ready(None) => self.finished(),
            Poll::Ready(Some(Ok(_))) if ended => self.finished(),
            Poll::Ready(Some(Err(_))) => {
                // A broken answer leaves its connection unusable: it closes when dropped (and
                // frees the slot it holds then).
                self.checkin = None;
                self.slot = None;
            }
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner
            .as_ref()
            .is_none_or(|inner| inner.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |inner| inner.size_hint())
    }
}

impl<B: Body + Unpin + Send + 'static> Drop for AnswerBody<B> {
    /// An answer with no body (`204`, `304`, a `HEAD`'s) is never read: it is finished when
    /// dropped. One dropped half-read (the client went away) from a plain upstream is read to
    /// its end on a task of its own, which then gives the connection (and the slot) back
    /// ([`super::abandoned::drain_then_give_back`]); any other is closed.
    fn drop(&mut self) {
        if self.is_end_stream() {
            self.finished();
            return;
        }
        if let (Some(checkin), Some(inner)) = (self.checkin.take(), self.inner.take()) {
            tokio::spawn(super::abandoned::drain_then_give_back(inner, checkin));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};

    use super::super::slots::Slots;
    use super::*;

    #[tokio::test]
    async fn the_slot_is_given_back_when_the_body_has_been_read() {
        let slots = Slots::new(1);
        let slot = slots.wait(Duration::from_secs(1)).await.unwrap().unwrap();
        let mut body = AnswerBody::new(Full::new(Bytes::from_static(b"answer")), None, Some(slot));
        assert_eq!(slots.free(), Some(0));
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), Bytes::from_static(b"answer"));
        // Read whole, still held by the server: the slot is back without waiting for the drop.
        assert_eq!(slots.free(), Some(1));
        drop(body);
        assert_eq!(slots.free(), Some(1));
    }

    #[tokio::test]
    async fn an_answer_dropped_half_read_keeps_its_slot_until_the_drop() {
        let slots = Slots::new(1);
        let slot = slots.wait(Duration::from_secs(1)).await.unwrap().unwrap();
        let body = AnswerBody::new(Full::new(Bytes::from_static(b"answer")), None, Some(slot));
        assert_eq!(slots.free(), Some(0));
        drop(body);
        assert_eq!(slots.free(), Some(1));
    }
}
