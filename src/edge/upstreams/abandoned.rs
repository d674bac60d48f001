//! Exchanges with a plain `http://` upstream that the client abandoned — it went away (closed
//! its connection, reset its stream) while the answer was on its way — are finished on a task of
//! their own, so that their connection goes back to the pool instead of closing. Without this,
//! every request a client abandoned cost a connection to the upstream: a load generator ending
//! its run with 2,560 requests in flight left the next run to open ~900 again (issue #28).
//!
//! Finishing is bounded: the answer's head and body must come within [`FINISH_WITHIN`], and a
//! body is read (and dropped) only up to [`DRAIN_AT_MOST`]; past either the connection closes,
//! as it did before.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Response;
use hyper::body::{Body, Incoming};

use super::http1_pool::{log_end, Checkin, Driver, Http1Pool};
use super::replay::Unanswered;

/// How long an abandoned exchange may take to finish before its connection is closed.
const FINISH_WITHIN: Duration = Duration::from_secs(10);

/// The most of an abandoned answer's body read to keep its connection; a longer one closes it.
const DRAIN_AT_MOST: usize = 256 * 1024;

/// A request handed to its connection and its answer's head not yet in. Dropped so (the client
/// went away), the exchange is finished on a task of its own ([`finish_abandoned`]).
pub(super) struct InFlight {
    /// The connection, which holds the request and will hold its answer; `None` once settled.
    pub(super) checkin: Option<Checkin>,
}

impl InFlight {
    /// Drives the connection and polls for the answer's head.
    pub(super) fn poll_head(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Response<Incoming>, Unanswered>> {
        match &mut self.checkin {
            Some(checkin) => checkin.poll_answer(cx),
            None => Poll::Pending,
        }
    }

    /// The head is in (or the exchange failed): the connection, for the answer.
    pub(super) fn settled(mut self) -> Checkin {
        self.checkin.take().expect("an exchange has its connection")
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(checkin) = self.checkin.take() {
            tokio::spawn(finish_abandoned(checkin));
        }
    }
}

/// Waits for the abandoned request's answer, reads its body (up to [`DRAIN_AT_MOST`]) and
/// gives the connection back; within [`FINISH_WITHIN`], else the connection closes.
async fn finish_abandoned(mut checkin: Checkin) {
    let finished = tokio::time::timeout(FINISH_WITHIN, async {
        let head = std::future::poll_fn(|cx| checkin.poll_answer(cx));
        let body = head.await.ok()?.into_body();
        read_to_end(body, &mut checkin).await
    })
    .await;
    if let Ok(Some(())) = finished {
        checkin.reusable = true;
        checkin.give_back();
    }
}

/// The rest of an answer the client stopped reading: read (up to [`DRAIN_AT_MOST`], within
/// [`FINISH_WITHIN`]) and dropped, then the connection goes back to the pool (and the slot it
/// holds is freed); otherwise the connection closes.
pub(super) async fn drain_then_give_back<B: Body + Unpin>(body: B, mut checkin: Checkin) {
    let drained = tokio::time::timeout(FINISH_WITHIN, read_to_end(body, &mut checkin)).await;
    if let Ok(Some(())) = drained {
        checkin.give_back();
    }
}

/// Reads `body` to its end while driving its connection; `None` past [`DRAIN_AT_MOST`] bytes or
/// on an error.
async fn read_to_end<B: Body + Unpin>(mut body: B, checkin: &mut Checkin) -> Option<()> {
    let mut read = 0;
    loop {
        let frame = std::future::poll_fn(|cx| {
            checkin.drive(cx);
            Pin::new(&mut body).poll_frame(cx)
        });
        match frame.await {
            None => return Some(()),
            Some(Ok(frame)) => {
                read += frame.data_ref().map_or(0, bytes::Buf::remaining);
                if read > DRAIN_AT_MOST {
                    return None;
                }
            }
            Some(Err(_)) => return None,
        }
    }
}

/// A connection whose answer ended unread (the client went away mid-body), or that was still
/// sending its request's body when the answer ended: back to the pool once it is ready for the
/// next request (hyper drains a short rest of an answer), within [`FINISH_WITHIN`]; closed if
/// it ends first or takes longer. The exchange's `slot`, if it still holds one, is freed after.
pub(super) async fn reuse_when_ready(
    pool: Arc<Http1Pool>,
    mut driver: Driver,
    slot: Option<super::slots::Slot>,
) {
    let _held_until_done = slot;
    let done = tokio::time::timeout(FINISH_WITHIN, done_with_exchange(&mut driver)).await;
    if let Ok(true) = done {
        pool.give_back(driver);
    }
}

/// A connection that may not carry another request (its exchange failed, or was upgraded):
/// driven until it has finished what is in flight — an upgrade completes, a half-read answer
/// ends it — then closed. (It has no `SendRequest` whose drop would close it.)
pub(super) async fn close_when_done(mut driver: Driver) {
    done_with_exchange(&mut driver).await;
}

/// Drives `driver` until it can take the next request (`true`) or has ended (`false`).
async fn done_with_exchange(driver: &mut Driver) -> bool {
    std::future::poll_fn(|cx| {
        if let Poll::Ready(ended) = driver.as_mut().poll(cx) {
            log_end(ended);
            return Poll::Ready(false);
        }
        if driver.is_ready_for_inline() {
            Poll::Ready(true)
        } else {
            Poll::Pending
        }
    })
    .await
}
