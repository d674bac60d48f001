//! Handshakes take turns for the CPU, so a storm of new connections cannot starve the requests
//! of connections already open. Resumed handshakes take a turn too: their key exchange is
//! cheaper, but still runs in the same synchronous step.
//!
//! rustls does a handshake's expensive work (the key exchange and, for a full handshake, the
//! certificate signature: ≈ 0.2 ms ECDSA, ≈ 0.6 ms RSA) synchronously, in
//! `StartHandshake::into_stream`. Without turns, 1,500 clients connecting at once put 1,500 such
//! steps into the scheduler's queue, and every task woken behind them — a request that arrived on
//! a finished handshake, an upstream's answer — waits for all of them: the burst row of
//! `docs/benchmarks.md` had ≈ 1,400 connections inside hyper at once, each holding its buffers and
//! an upstream connection, while they waited for the CPU.
//!
//! A [`SigningTurns`] lets at most one such step per worker go per round of the scheduler: a
//! handshake takes a turn, does its step, and keeps the turn until it has yielded once, so every
//! task that was ready meanwhile runs before the next handshake's step. Handshakes still run at
//! the rate the CPU can sign (turns are FIFO and nothing waits on I/O while holding one, so a
//! slow or silent client cannot hold a turn); what changes is that the work already admitted
//! goes first.
//!
//! The accept loop is not paced by the length of this line: in a burst the connections are all
//! accepted before their ClientHellos arrive, so the line is short while the accepting happens.

use std::future::Future;

use tokio::sync::{Semaphore, SemaphorePermit};

/// At most `workers` handshake steps in flight per round of the scheduler.
pub struct SigningTurns {
    turns: Semaphore,
}

/// A task's turn: held while its step runs and until the task has yielded once.
pub struct Turn<'a> {
    permit: SemaphorePermit<'a>,
}

impl SigningTurns {
    /// One turn per worker thread of the runtime.
    pub fn new(workers: usize) -> SigningTurns {
        SigningTurns {
            turns: Semaphore::new(workers.max(1)),
        }
    }

    /// Waits for this task's turn; the step is begun once it has come, then handed to
    /// [`Turn::hold_for`]. A waiting task holds nothing of the step (in a burst most
    /// connections wait here).
    pub async fn turn(&self) -> Turn<'_> {
        Turn {
            permit: self
                .turns
                .acquire()
                .await
                .expect("the turns' semaphore is never closed"),
        }
    }
}

impl<'a> Turn<'a> {
    /// Runs `rest`, what remains of a step begun in this turn (for a handshake: sending the
    /// server's flight and reading the client's answer), to its end. The rest is polled at
    /// once, so the server's flight leaves without waiting; the turn is held until the task has
    /// yielded once (tokio runs a yielded task after the ready ones and after looking for I/O),
    /// so whatever became ready meanwhile runs before the next handshake's step.
    ///
    /// Not an `async fn`: `rest` (a handshake's whole rustls state) is moved once, into the
    /// future returned, instead of into an argument slot and then a pinned copy.
    pub fn hold_for<F: Future + Unpin + 'a>(
        self,
        mut rest: F,
    ) -> impl Future<Output = F::Output> + 'a {
        let mut yielded = Box::pin(tokio::task::yield_now());
        let mut permit = Some(self.permit);
        std::future::poll_fn(move |cx| {
            let polled = std::pin::Pin::new(&mut rest).poll(cx);
            if polled.is_ready() || (permit.is_some() && yielded.as_mut().poll(cx).is_ready()) {
                permit = None;
            }
            polled
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;

    type Order = Arc<Mutex<Vec<&'static str>>>;

    /// Spawns two handshakes (each `step`, with or without turns) and then a request woken a
    /// round later, as a request on an open connection would be; returns the order of their
    /// steps.
    async fn order_of_steps(turns: Option<Arc<SigningTurns>>) -> Vec<&'static str> {
        let order: Order = Arc::default();
        let handshake = |name: &'static str| {
            let (turns, order) = (turns.clone(), order.clone());
            tokio::spawn(async move {
                let step = || {
                    order.lock().unwrap().push(name);
                    // The rest of the handshake: the client's answer, a moment later.
                    Box::pin(tokio::time::sleep(Duration::from_millis(10)))
                };
                match turns {
                    Some(turns) => {
                        let turn = turns.turn().await;
                        turn.hold_for(step()).await
                    }
                    None => step().await,
                }
            })
        };
        let first = handshake("handshake 1");
        let second = handshake("handshake 2");
        let request = {
            let order = order.clone();
            tokio::spawn(async move {
                tokio::task::yield_now().await;
                order.lock().unwrap().push("request");
            })
        };
        for task in [first, second, request] {
            task.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        order
    }

    /// Two handshakes that arrive together do not run back to back: a task that became ready
    /// in between (a request on an open connection) runs between them.
    #[tokio::test(flavor = "current_thread")]
    async fn ready_work_runs_between_two_handshake_steps() {
        let turns = Some(Arc::new(SigningTurns::new(1)));
        assert_eq!(
            order_of_steps(turns).await,
            vec!["handshake 1", "request", "handshake 2"]
        );
    }

    /// Without turns the same tasks run both handshakes first: the test above measures the
    /// turns, not the scheduler.
    #[tokio::test(flavor = "current_thread")]
    async fn without_turns_handshakes_run_back_to_back() {
        assert_eq!(
            order_of_steps(None).await,
            vec!["handshake 1", "handshake 2", "request"]
        );
    }
}
