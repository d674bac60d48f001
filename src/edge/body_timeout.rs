//! A deadline on the request body a client streams to an upstream: the next piece must arrive
//! within `BODY_READ_TIMEOUT_SECONDS` of the last (progress resets it), and the body as a whole
//! must keep up a minimum rate — after the first `BODY_READ_TIMEOUT_SECONDS`, one more second is
//! allowed for every `BODY_MIN_RATE_BYTES_PER_SECOND` bytes received (Apache's `mod_reqtimeout`
//! rule) — so a client that drips one byte every few seconds is cut off too. When the deadline
//! passes the body fails with [`BodyTimedOut`]: the upstream request is aborted and the client
//! gets `408`.
//!
//! The body also records when the upstream last took a piece of it ([`SendProgress`]): the
//! upstream's own deadline (`UPSTREAM_TIMEOUT_SECONDS`) runs from the end of the request, and
//! while the body is sent, from its last piece, so a long upload is not cut by it.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// The error a body fails with when its client is too slow.
#[derive(Debug, thiserror::Error)]
#[error("client sent its request body too slowly")]
pub struct BodyTimedOut;

/// The two limits of a request body.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimits {
    /// The longest gap between two pieces of a body (`BODY_READ_TIMEOUT_SECONDS`).
    pub between_reads: Duration,
    /// Bytes per second a body must average after its first gap's worth of time (0: off).
    pub min_rate: u64,
}

/// When the upstream last took a piece of a request body (or its end).
#[derive(Debug)]
pub struct SendProgress {
    started: Instant,
    /// Milliseconds from `started` to the last piece taken.
    last_ms: AtomicU64,
}

impl SendProgress {
    fn new(started: Instant) -> Arc<SendProgress> {
        Arc::new(SendProgress {
            started,
            last_ms: AtomicU64::new(0),
        })
    }

    fn record(&self, now: Instant) {
        let ms = now.saturating_duration_since(self.started).as_millis() as u64;
        self.last_ms.fetch_max(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.started + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }

    /// Resolves once `quiet` has passed with no piece taken (the last piece, or the end, is
    /// the start of the wait for the answer).
    pub async fn quiet_for(&self, quiet: Duration) {
        loop {
            let due = self.last() + quiet;
            tokio::time::sleep_until(due).await;
            if self.last() + quiet <= Instant::now() {
                return;
            }
        }
    }
}

/// A request body with a deadline.
pub struct TimedBody<B> {
    inner: B,
    limits: BodyLimits,
    started: Instant,
    received: u64,
    timer: Pin<Box<Sleep>>,
    progress: Arc<SendProgress>,
}

impl<B> TimedBody<B> {
    /// Wraps `inner` so that a body slower than `limits` ends with an error.
    pub fn new(inner: B, limits: BodyLimits) -> TimedBody<B> {
        let now = Instant::now();
        TimedBody {
            inner,
            limits,
            started: now,
            received: 0,
            timer: Box::pin(tokio::time::sleep_until(now + limits.between_reads)),
            progress: SendProgress::new(now),
        }
    }

    /// When the upstream last took a piece of this body.
    pub fn progress(&self) -> Arc<SendProgress> {
        self.progress.clone()
    }

    /// The earlier of "next piece due" and "the rate's allowance used up".
    fn deadline(&self, now: Instant) -> Instant {
        let next_read = now + self.limits.between_reads;
        let allowance = match self.limits.min_rate {
            0 => return next_read,
            rate => Duration::from_secs_f64(self.received as f64 / rate as f64),
        };
        next_read.min(self.started + self.limits.between_reads + allowance)
    }
}

impl<B> Body for TimedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received += data.len() as u64;
                }
                let now = Instant::now();
                this.progress.record(now);
                let deadline = this.deadline(now);
                this.timer.as_mut().reset(deadline);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => {
                this.progress.record(Instant::now());
                Poll::Ready(None)
            }
            Poll::Pending => match this.timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimedOut)))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_dripping_body_runs_out_of_allowance() {
        let limits = BodyLimits {
            between_reads: Duration::from_secs(10),
            min_rate: 100,
        };
        let body = TimedBody::new(http_body_util::Empty::<Bytes>::new(), limits);
        let now = body.started;
        // Nothing received: due 10 s from now either way.
        assert_eq!(body.deadline(now), now + Duration::from_secs(10));
        // 9 s later with 200 bytes: the rate allows 10 + 2 = 12 s from the start, before the
        // 19 s the read timeout alone would give.
        let mut body = body;
        body.received = 200;
        let later = now + Duration::from_secs(9);
        assert_eq!(body.deadline(later), now + Duration::from_secs(12));
    }
}
