//! How an HTTP/2 connection's new streams start: the executor hyper's HTTP/2 server hands each
//! stream's future to.
//!
//! hyper decodes a connection's new streams one after another and spawns a task for each. On
//! the current-thread scheduler a spawned task runs once the queue comes round to it — after
//! every other ready stream and upstream connection — so at 16 connections × 100 streams its
//! request head, decoded moments before, was read again from memory other streams had pushed
//! out of the cache. Here a stream's future is polled once at once, in the connection's task,
//! while its head is warm: the request is checked, routed and written to its upstream before the
//! next head is decoded. What is left (waiting for the answer, sending it) goes on in a task of
//! its own, as before, so that answers of many streams are still written out together.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

/// hyper's executor for HTTP/2 streams: first poll here, the rest on a task.
#[derive(Clone, Copy, Debug, Default)]
pub struct StartAtOnce;

impl<F> hyper::rt::Executor<F> for StartAtOnce
where
    F: Future<Output = ()> + Unpin + Send + 'static,
{
    fn execute(&self, mut fut: F) {
        let handoff = Arc::new(Handoff::default());
        let waker = Waker::from(handoff.clone());
        // A panic in a request's handler ends that stream only, as it did on a task of its own
        // (the panic hook has reported it), not the connection whose task this is.
        let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Pin::new(&mut fut).poll(&mut Context::from_waker(&waker))
        }));
        if let Ok(Poll::Pending) = first {
            tokio::spawn(Resume {
                stream: fut,
                first_wake: Some(handoff),
            });
        }
    }
}

/// A stream after its first poll: on its own task, polled once the first poll's waker fires.
/// (Not an `async` block: `stream.await` would move the stream once more, into the block's own
/// place for what it awaits.)
struct Resume<F> {
    stream: F,
    /// Until the first poll's waker has fired.
    first_wake: Option<Arc<Handoff>>,
}

impl<F: Future<Output = ()> + Unpin> Future for Resume<F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(handoff) = &self.first_wake {
            if handoff.woken(cx).is_pending() {
                return Poll::Pending;
            }
            self.first_wake = None;
        }
        Pin::new(&mut self.stream).poll(cx)
    }
}

/// Carries a wake-up that arrives for the first poll's waker on to the task (which may not
/// be polled yet, or be waiting for it).
#[derive(Default)]
struct Handoff {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Handoff {
    /// Ready once the first poll's waker has been woken: the future has something to do.
    fn woken(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.task.register(cx.waker());
        if self.woken.load(Ordering::Acquire) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Wake for Handoff {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::rt::Executor;
    use std::sync::atomic::AtomicUsize;

    /// Counts its polls; pending until `ready` is set, then done.
    struct Probe {
        polls: Arc<AtomicUsize>,
        ready: Arc<AtomicBool>,
        waker: Arc<AtomicWaker>,
        panics: bool,
    }

    impl Future for Probe {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.polls.fetch_add(1, Ordering::SeqCst);
            assert!(!self.panics, "the handler panicked (on purpose)");
            self.waker.register(cx.waker());
            if self.ready.load(Ordering::SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }
    }

    fn probe(panics: bool) -> (Probe, Arc<AtomicUsize>, Arc<AtomicBool>, Arc<AtomicWaker>) {
        let (polls, ready, waker) = (Arc::default(), Arc::default(), Arc::default());
        let probe = Probe {
            polls: Arc::clone(&polls),
            ready: Arc::clone(&ready),
            waker: Arc::clone(&waker),
            panics,
        };
        (probe, polls, ready, waker)
    }

    #[tokio::test]
    async fn a_stream_is_polled_at_once_and_then_on_its_task_when_woken() {
        let (stream, polls, ready, waker) = probe(false);
        StartAtOnce.execute(stream);
        assert_eq!(polls.load(Ordering::SeqCst), 1, "polled in execute");
        for _ in 0..5 {
            tokio::task::yield_now().await;
        }
        assert_eq!(polls.load(Ordering::SeqCst), 1, "not polled again unwoken");
        ready.store(true, Ordering::SeqCst);
        waker.wake();
        for _ in 0..5 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            polls.load(Ordering::SeqCst),
            2,
            "polled on its task once woken"
        );
    }

    #[tokio::test]
    async fn a_wake_during_the_first_poll_is_not_lost() {
        let (stream, polls, _ready, _waker) = probe(false);
        // Woken before the task exists: the task must still poll it.
        let woken_at_once = WakeDuringPoll(stream, true);
        StartAtOnce.execute(woken_at_once);
        for _ in 0..5 {
            tokio::task::yield_now().await;
        }
        assert_eq!(polls.load(Ordering::SeqCst), 2);
    }

    /// Wakes itself in its first poll (as a future that has more to do at once does).
    struct WakeDuringPoll(Probe, bool);

    impl Future for WakeDuringPoll {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            let polled = Pin::new(&mut self.0).poll(cx);
            if std::mem::take(&mut self.1) {
                cx.waker().wake_by_ref();
            }
            polled
        }
    }

    #[tokio::test]
    async fn a_panic_in_the_first_poll_ends_the_stream_not_the_caller() {
        let (stream, polls, _ready, _waker) = probe(true);
        StartAtOnce.execute(stream);
        assert_eq!(polls.load(Ordering::SeqCst), 1);
    }
}
