//! A cap on the requests in flight to one upstream (`UPSTREAM_MAX_CONNECTIONS`, like HAProxy's
//! `maxconn` and nginx's `max_conns`), with a queue for the rest.
//!
//! An HTTP/1.1 upstream connection carries one request at a time, so without a cap a burst of
//! requests opens a connection for each (the pool has no limit of its own) — each one costs the
//! upstream a socket and certgate a socket and ≈ 7 KB of heap while it is kept idle for reuse
//! (measured with 1,000). With a cap, a request beyond it waits in line (first come, first
//! served) for a slot, up to `UPSTREAM_QUEUE_TIMEOUT_SECONDS`, and is then answered `503`. A
//! slot is held from before the request is sent until its answer's body has been passed on
//! whole (or dropped), which is when its connection goes back to the pool
//! ([`super::answer::AnswerBody`]).
//! Upgraded connections (WebSocket tunnels) give their slot back when the tunnel opens.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The slots of one upstream; no cap when built with 0.
#[derive(Clone)]
pub struct Slots {
    cap: Option<Arc<Semaphore>>,
    /// Requests in line right now (`certgate_upstream_waiting`).
    waiting: Arc<AtomicUsize>,
}

/// One request's place among an upstream's slots; given back when dropped.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    /// How long the request waited in line for it; `None` when one was free at once.
    pub waited: Option<Duration>,
}

/// No slot came free within the queue's time (which the request waited whole).
#[derive(Debug)]
pub struct QueueTimedOut;

impl Slots {
    /// `max` slots, or no cap for 0.
    pub fn new(max: usize) -> Slots {
        Slots {
            cap: (max > 0).then(|| Arc::new(Semaphore::new(max))),
            waiting: Arc::default(),
        }
    }

    /// Waits (in arrival order) for a slot, at most `queue_timeout`; `None` (at once) when
    /// there is no cap.
    pub async fn wait(&self, queue_timeout: Duration) -> Result<Option<Slot>, QueueTimedOut> {
        let Some(cap) = &self.cap else {
            return Ok(None);
        };
        // A free slot is taken without a timer (a released slot goes to the line first, so this
        // never jumps it).
        if let Ok(permit) = cap.clone().try_acquire_owned() {
            return Ok(Some(Slot {
                _permit: permit,
                waited: None,
            }));
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let _in_line = InLine(&self.waiting);
        let joined = std::time::Instant::now();
        match tokio::time::timeout(queue_timeout, cap.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Some(Slot {
                _permit: permit,
                waited: Some(joined.elapsed()),
            })),
            // The semaphore is never closed; were it, that would be a queue that never moves.
            Ok(Err(_)) | Err(_) => Err(QueueTimedOut),
        }
    }

    /// A request would get a slot without waiting: no cap, or one free and nobody in line (a
    /// slot given back goes straight to the first in line).
    pub fn has_room(&self) -> bool {
        self.cap
            .as_ref()
            .is_none_or(|cap| cap.available_permits() > 0)
    }

    /// Slots free now (the cap when idle); `None` without a cap.
    #[cfg(test)]
    pub fn free(&self) -> Option<usize> {
        self.cap.as_ref().map(|cap| cap.available_permits())
    }

    /// Requests waiting in line now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }
}

/// Counts a request out of the line however its wait ends (a slot, the time-out, or the client
/// going away).
struct InLine<'a>(&'a AtomicUsize);

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_beyond_the_cap_waits_and_then_times_out() {
        let slots = Slots::new(1);
        let first = slots.wait(Duration::from_secs(1)).await.unwrap();
        assert!(
            first.as_ref().unwrap().waited.is_none(),
            "a free slot needs no wait"
        );
        assert_eq!(slots.free(), Some(0));
        assert!(slots.wait(Duration::from_millis(50)).await.is_err());
        assert_eq!(slots.waiting(), 0, "the timed-out request left the line");
        let line = slots.clone();
        let second = tokio::spawn(async move { line.wait(Duration::from_secs(5)).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(first);
        let second = second.await.unwrap().unwrap().unwrap();
        assert!(
            second.waited.unwrap() >= Duration::from_millis(90),
            "waited {:?}",
            second.waited
        );
    }

    #[tokio::test]
    async fn no_cap_never_waits() {
        let slots = Slots::new(0);
        let held: Vec<Option<Slot>> =
            futures_util::future::join_all((0..1000).map(|_| slots.wait(Duration::from_millis(1))))
                .await
                .into_iter()
                .collect::<Result<_, _>>()
                .unwrap();
        assert!(held.iter().all(Option::is_none) && held.len() == 1000);
        assert_eq!(slots.free(), None);
    }
}
