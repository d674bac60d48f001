//! The connections to one HTTP/1.1 upstream (`http://`, or `https://` when it chose HTTP/1.1 by
//! ALPN): hyper's own HTTP/1.1 connections, kept in a list of idle ones that the proxy takes
//! from and gives back to itself.
//!
//! Why not hyper-util's pooled client (which certgate used before): there
//! every connection runs on a task of its own, so each request and each answer crosses between
//! tasks through channels; every request hashes a pool key; and an answer whose body is still to
//! be read — nearly all of them — costs one more spawned task, which only waits to put the
//! connection back. Here the task of the request drives its connection (hyper's `Connection`
//! future, the [`Driver`]) while the exchange is in flight — first until the answer's head, then
//! from the answer's body ([`Checkin::drive`], called by `AnswerBody`) — and the connection goes
//! back to the list when the answer has been read whole.
//! Nothing is spawned per request; a connection lent to an exchange that ends early (the client
//! went away, an upgrade, an upstream still reading the request's body) gets a task of its own
//! to finish on.
//!
//! What hyper-util did that is kept: a connection the upstream closed while idle is not used (an
//! idle connection is polled when taken, and by the reaper, to see that), and a request handed to
//! one that closed under it, not sent, goes on a fresh one; idle connections are closed after
//! `UPSTREAM_IDLE_TIMEOUT_SECONDS`, and at most `UPSTREAM_MAX_IDLE_PER_HOST` are kept. Most
//! recently used first, so the rest age out.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1::UpgradeableConnection;
use hyper_util::rt::TokioIo;

use super::abandoned::{self, InFlight};
use super::client::{SendError, UpstreamBody};
use super::dial::{Dialer, UpstreamIo};
use super::replay::Unanswered;
use super::slots::Slot;

/// Idle connections to one upstream, and how to open another.
pub struct Http1Pool {
    /// Opens a connection (TCP, and TLS offering only HTTP/1.1 for `https://` upstreams).
    dialer: Dialer,
    max_idle: usize,
    idle_timeout: Duration,
    /// Most recently given back last.
    idle: Mutex<Vec<Idle>>,
    /// Whether the task closing connections idle too long runs (started by the first one
    /// given back, so a set built and never used spawns nothing).
    reaper_started: std::sync::atomic::AtomicBool,
}

/// hyper's side of one connection (reading, writing, upgrades): polled by the task of the
/// request it carries, not by a task of its own, so an exchange is no hand-over between tasks.
///
/// Typed, not a `dyn Future`: a request is handed to it directly
/// ([`UpgradeableConnection::start_inline`], a hunk in the copy of hyper) and its answer taken
/// from it, without hyper's queue and oneshot channel between `SendRequest` and the connection.
/// It has no `SendRequest` at all (`inline_only`): whether it can take the next request is asked
/// of it ([`UpgradeableConnection::is_ready_for_inline`]), so an exchange touches no state
/// shared with a sender and leaves no waker there.
pub(super) type Driver = Pin<Box<UpgradeableConnection<TokioIo<UpstreamIo>, UpstreamBody>>>;

struct Idle {
    driver: Driver,
    since: Instant,
}

/// A connection lent to one exchange: given back by [`Checkin::give_back`] when its answer has
/// been read whole. Dropped before that (the client went away, an upgrade, an upstream that
/// answered before reading the whole request body), its driver goes on on a task of its own
/// and finishes what is in flight — a half-read answer closes it, an upgrade completes.
pub struct Checkin {
    /// Whether the connection may carry another request once this exchange is over: its
    /// answer's head came (set then), so it is not closing.
    pub(super) reusable: bool,
    /// `None` once the connection has ended (closed, or upgraded).
    driver: Option<Driver>,
    pool: Arc<Http1Pool>,
    /// The exchange's place under `UPSTREAM_MAX_CONNECTIONS` ([`Checkin::holding`]): freed
    /// with the `Checkin`, so only when the connection is in the pool or closed — a request let
    /// through by the freed place finds it idle instead of opening one more, and the cap bounds
    /// connections, not only requests.
    slot: Option<Slot>,
}

impl Http1Pool {
    /// A pool dialing through `dialer`, keeping at most `max_idle` idle connections.
    pub fn new(dialer: Dialer, max_idle: usize, idle_timeout: Duration) -> Arc<Http1Pool> {
        Arc::new(Http1Pool {
            dialer,
            max_idle,
            idle_timeout,
            idle: Mutex::new(Vec::new()),
            reaper_started: Default::default(),
        })
    }

    /// Sends `req` (origin-form URI, `Host` set) on an idle connection or a new one; the answer
    /// comes with the connection to give back once its body has been read.
    ///
    /// The request is handed to the connection directly (hyper's `start_inline`, a hunk in the
    /// copy of hyper: its head is encoded at once, the answer is taken from the connection), not
    /// through hyper's request queue and a oneshot channel, which cost a cold ring slot written
    /// and read back and an allocation per request.
    ///
    /// An idle connection may be closed by the upstream (its keep-alive timeout) just as a
    /// request goes out on it. One that the connection refuses (it has ended) goes on another
    /// connection; a `replayable` one (idempotent, no body: the caller says) that was written
    /// but got no answer before the upstream dropped the connection goes once more on a new
    /// connection, read back from what the connection wrote ([`super::replay`]).
    ///
    /// An `async` block, not an `async fn`, so that `req` is stored once in the future (an
    /// `async fn` keeps each argument's place beside the local it moves it into).
    #[allow(clippy::manual_async_fn)] // stores `req` once (above)
    pub fn send(
        self: &Arc<Self>,
        mut req: Request<UpstreamBody>,
        replayable: bool,
    ) -> impl Future<Output = Result<(Response<Incoming>, Checkin), SendError>> + Send + '_ {
        async move {
            let mut fresh_only = false;
            loop {
                let idle = if fresh_only { None } else { self.take_idle() };
                let reused = idle.is_some();
                let mut driver = match idle {
                    Some(idle) => idle,
                    // Boxed: connecting (a DNS lookup, a TCP connect, hyper's handshake) is the rare path; its
                    // state would otherwise size every request's future.
                    None => Box::pin(self.connect()).await?,
                };
                if let Err(unsent) = driver.start_inline(req) {
                    // Not taken: the connection had ended, or was still busy (hyper refuses a
                    // request it cannot send at once). Another connection.
                    req = unsent;
                    if reused {
                        continue;
                    }
                    return Err(SendError::connect(std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        "the upstream closed the new connection before the request",
                    )));
                }
                // Should the client go away before the answer's head, the exchange is handed
                // whole to a task that finishes it and keeps the connection.
                let mut exchange = InFlight {
                    checkin: Some(Checkin {
                        reusable: false,
                        driver: Some(driver),
                        pool: self.clone(),
                        slot: None,
                    }),
                };
                // The connection is driven here until the answer's head is in (the request's body,
                // if any, is sent meanwhile).
                let answered = std::future::poll_fn(|cx| exchange.poll_head(cx)).await;
                let mut checkin = exchange.settled();
                match answered {
                    Ok(response) => {
                        checkin.reusable = true;
                        return Ok((response, checkin));
                    }
                    Err(failed) => match failed.again.filter(|_| reused && replayable) {
                        Some(again) => {
                            tracing::debug!(upstream = %self.dialer.target(), "reused upstream connection dropped a request; sending it again on a new one");
                            req = *again;
                            fresh_only = true;
                        }
                        None => return Err(SendError::exchange(failed.error)),
                    },
                }
            }
        }
    }

    /// The most recently used idle connection that the upstream has not closed. Only ready
    /// connections are given back ([`Checkin::give_back`]): one still sending its request's
    /// body when the answer ended (an upstream answering early, a `413` say) finishes on a
    /// task of its own instead, so no request ever waits behind a slow upload.
    fn take_idle(&self) -> Option<Driver> {
        loop {
            let mut popped = self.idle.lock().expect("idle list lock").pop()?;
            if popped.since.elapsed() >= self.idle_timeout || ended(&mut popped.driver) {
                continue;
            }
            return Some(popped.driver);
        }
    }

    async fn connect(&self) -> Result<Driver, SendError> {
        let (io, _) = self.dialer.dial().await?;
        driver_over(io).await
    }

    /// Keeps `io`, a connection opened elsewhere whose upstream chose HTTP/1.1 (the first
    /// `https://` connection, which offered `h2` too), as an idle connection of this pool:
    /// the request that found it out goes on it instead of on one more TLS handshake.
    pub(super) async fn adopt(self: &Arc<Self>, io: UpstreamIo) {
        match driver_over(io).await {
            Ok(driver) => self.give_back(driver),
            Err(e) => tracing::debug!(error = %e, "upstream connection not kept"),
        }
    }

    pub(super) fn give_back(self: &Arc<Self>, driver: Driver) {
        {
            let mut idle = self.idle.lock().expect("idle list lock");
            if idle.len() >= self.max_idle {
                return;
            }
            idle.push(Idle {
                driver,
                since: Instant::now(),
            });
        }
        if !self
            .reaper_started
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            tokio::spawn(close_idle_connections(
                Arc::downgrade(self),
                self.idle_timeout,
            ));
        }
    }
}

/// Closes the connections idle for `idle_timeout`, and those the upstream closed (an idle
/// connection has no task of its own to notice: it is looked at here, every 10 s at most, and
/// when taken); ends with the pool.
async fn close_idle_connections(pool: Weak<Http1Pool>, idle_timeout: Duration) {
    let mut tick = tokio::time::interval(idle_timeout.min(Duration::from_secs(10)));
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(pool) = pool.upgrade() else { return };
        pool.idle
            .lock()
            .expect("idle list lock")
            .retain_mut(|i| i.since.elapsed() < idle_timeout && !ended(&mut i.driver));
    }
}

/// hyper's HTTP/1.1 client side of `io`, taking requests by `start_inline` only (its
/// `SendRequest` is not kept). hyper's handshake writes and reads nothing.
async fn driver_over(io: UpstreamIo) -> Result<Driver, SendError> {
    let (_sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(SendError::connect)?;
    let mut driver = Box::pin(connection.with_upgrades());
    driver.inline_only();
    // An idle connection is polled before it carries the next request (`take_idle`), which
    // reads there what the read at an exchange's end would find (a hunk in the copy of hyper).
    driver.defer_idle_read(true);
    Ok(driver)
}

/// Polls a connection once, without a waker: it ends (is `Ready`) when the upstream has closed
/// it, which an idle connection only learns when polled; an open one takes note of what it has
/// read (an answer finished: it is ready for the next request).
fn ended(driver: &mut Driver) -> bool {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    driver.as_mut().poll(&mut cx).is_ready()
}

/// A connection's end, when it was an error (the client sees the exchange's own error).
pub(super) fn log_end(ended: hyper::Result<()>) {
    if let Err(e) = ended {
        tracing::debug!(error = %e, "upstream connection ended with an error");
    }
}

impl Checkin {
    /// Lets the connection make progress (read the answer, send the request's body); call
    /// before polling the answer's body, with the same task.
    pub fn drive(&mut self, cx: &mut Context<'_>) {
        if let Some(driver) = &mut self.driver {
            if let Poll::Ready(ended) = driver.as_mut().poll(cx) {
                log_end(ended);
                self.driver = None;
            }
        }
    }

    /// Drives the connection and takes the answer's head to the request handed to it, once in
    /// (or the error that ended the exchange, the connection's end included, with the request
    /// read back from what the connection wrote when it may go again).
    pub(super) fn poll_answer(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Response<Incoming>, Unanswered>> {
        debug_assert!(self.driver.is_some(), "polled for an answer after it came");
        let Some(driver) = &mut self.driver else {
            return Poll::Pending;
        };
        let ended = driver.as_mut().poll(cx);
        let answer = match driver.take_answer() {
            Some(Ok(head)) => Poll::Ready(Ok(head)),
            Some(Err(error)) => Poll::Ready(Err(Unanswered::of(error, driver))),
            None => Poll::Pending,
        };
        if let Poll::Ready(ended) = ended {
            log_end(ended);
            self.driver = None;
        }
        answer
    }

    /// The same, holding the exchange's `slot` until the connection is back or closed.
    pub fn holding(mut self, slot: Option<Slot>) -> Checkin {
        self.slot = slot;
        self
    }

    /// The answer has been read whole: the connection may carry the next request — if it is
    /// open and done with this exchange (not still sending its request's body).
    pub fn give_back(mut self) {
        let (true, Some(mut driver)) = (self.reusable, self.driver.take()) else {
            return;
        };
        if !driver.is_ready_for_inline() {
            // The answer's last frame was just read and hyper has not yet taken note (it does
            // when its connection is next polled): poll it once. Without this, under load most
            // connections looked busy here and were closed, not reused.
            if ended(&mut driver) {
                return;
            }
        }
        if driver.is_ready_for_inline() {
            self.pool.give_back(driver);
        } else {
            // Still busy (sending its request's body): dropped below, it comes back when done.
            self.driver = Some(driver);
        }
    }
}

impl Drop for Checkin {
    /// A connection not given back finishes on a task of its own: it returns to the pool once
    /// done with its exchange ([`abandoned::reuse_when_ready`]: the client went away mid-body,
    /// or the request's body was still being sent), or closes once done with it (an upgrade, a
    /// broken answer: [`abandoned::close_when_done`]). The slot it holds goes with it.
    fn drop(&mut self) {
        let Some(driver) = self.driver.take() else {
            return;
        };
        if self.reusable {
            tokio::spawn(abandoned::reuse_when_ready(
                self.pool.clone(),
                driver,
                self.slot.take(),
            ));
        } else {
            tokio::spawn(abandoned::close_when_done(driver));
        }
    }
}
