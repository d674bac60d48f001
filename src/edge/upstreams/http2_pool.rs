//! The connection to one upstream that speaks HTTP/2 — `h2c://`, or `https://` when it chooses
//! `h2` by ALPN: a single HTTP/2 connection (hyper's `client::conn::http2`) that carries every
//! request to it at once, opened by the first request and again after it closes (a `GOAWAY`,
//! the upstream going away), and closed once no request has used it for
//! `UPSTREAM_IDLE_TIMEOUT_SECONDS`. An `https://` upstream that answers ALPN with HTTP/1.1
//! instead is remembered as such, and its requests go to [`super::http1_pool`] from then on,
//! the connection that found out among that pool's idle ones.
//!
//! Why not hyper-util's pooled client (which certgate used before): for every request it
//! hashed a pool key (the scheme and the authority, byte by byte, with SipHash), checked the
//! connection out of a shared map and back in, and moved its large futures about — ≈ 6k
//! instructions of the ≈ 77k an HTTP/2-upstream request cost (`docs/benchmarks.md`, "Other
//! upstream protocols"). Here a request takes a lock, hands itself to the connection's sender
//! and awaits its answer.
//!
//! Opening is shared: requests that arrive while the connection is being opened wait for that
//! one (a `Shared` future) instead of each opening their own, and all of them get its error if it
//! fails. A request the connection refused unsent (it had just closed) goes on a new one, once.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use futures_util::future::{FutureExt, Shared};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http2::SendRequest;
use hyper::client::conn::TrySendError;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use super::client::{SendError, UpstreamBody};
use super::dial::Dialer;
use super::http1_pool::Http1Pool;

/// The HTTP/2 connection to one upstream, and how to open it again.
pub struct Http2Pool {
    /// Opens a connection (TCP, and TLS offering HTTP/2 and HTTP/1.1 for `https://` upstreams).
    dialer: Dialer,
    /// The upstream chose HTTP/1.1 by ALPN: its requests go to the HTTP/1.1 pool instead.
    speaks_http1: AtomicBool,
    /// That HTTP/1.1 pool (`https://` upstreams), which keeps the connection that found out.
    http1: Option<Arc<Http1Pool>>,
    idle_timeout: Duration,
    state: Mutex<State>,
}

/// Why a request did not get its answer's head here.
pub enum Http2Error {
    /// The exchange failed (or the connection could not be opened).
    Send(SendError),
    /// The upstream chose HTTP/1.1 by ALPN: the request, unsent, for the HTTP/1.1 pool (boxed:
    /// this happens once per upstream, and keeps the result small).
    SpeaksHttp1(Box<Request<UpstreamBody>>),
}

#[derive(Default)]
struct State {
    /// The open connection's sender (`None` before the first request, once it closed, and
    /// once it was idle too long: dropping the last sender closes the connection when its
    /// streams in flight are done).
    current: Option<SendRequest<UpstreamBody>>,
    /// The connection being opened, which requests arriving meanwhile wait for.
    connecting: Option<Connecting>,
    /// Requests handed to a connection so far: the reaper closes the connection when this has
    /// not moved for a whole idle timeout.
    requests: u64,
    /// Whether the task closing an idle connection runs (started with the first connection).
    reaper_started: bool,
}

/// A connection being opened, awaited by every request that arrived meanwhile.
type Connecting =
    Shared<Pin<Box<dyn Future<Output = Result<SendRequest<UpstreamBody>, SharedError>> + Send>>>;

/// Where a request goes next.
#[allow(clippy::large_enum_variant)] // returned and matched at once: boxing would allocate
enum Step<A> {
    /// Handed to the open connection: its answer (or the request back, refused unsent).
    Sent(A),
    /// No open connection: wait for this one to open, then try again.
    Wait(Request<UpstreamBody>, Connecting),
}

impl Http2Pool {
    /// A pool dialing through `dialer` (over TLS, an `https://` upstream may answer ALPN with
    /// HTTP/1.1: then the connection goes to `http1`).
    pub fn new(
        dialer: Dialer,
        idle_timeout: Duration,
        http1: Option<Arc<Http1Pool>>,
    ) -> Arc<Http2Pool> {
        Arc::new(Http2Pool {
            dialer,
            speaks_http1: AtomicBool::new(false),
            http1,
            idle_timeout,
            state: Mutex::new(State::default()),
        })
    }

    /// Whether the upstream chose HTTP/1.1 when offered both by ALPN (then nothing is sent
    /// here).
    pub fn speaks_http1(&self) -> bool {
        self.speaks_http1.load(Ordering::Relaxed)
    }

    /// Sends `req` (absolute URI: HTTP/2 takes `:scheme` and `:authority` from it) on the open
    /// connection, opening it first when there is none, and waits for the answer's head.
    ///
    /// An `async` block, not an `async fn`, so that `req` is stored once in the future.
    #[allow(clippy::manual_async_fn)] // stores `req` once (above)
    pub fn send(
        self: &Arc<Self>,
        mut req: Request<UpstreamBody>,
    ) -> impl Future<Output = Result<Response<Incoming>, Http2Error>> + Send + '_ {
        async move {
            let mut refused_before = false;
            loop {
                match self.step(req) {
                    Step::Sent(answer) => match answer.await {
                        Ok(response) => return Ok(response),
                        Err(mut refused) => match refused.take_message() {
                            // Refused unsent: the connection had just closed. Once more, on
                            // a new one (the closed one is dropped by `step`).
                            Some(unsent) if !refused_before => {
                                refused_before = true;
                                req = unsent;
                            }
                            _ => {
                                return Err(Http2Error::Send(SendError::exchange(
                                    refused.into_error(),
                                )))
                            }
                        },
                    },
                    Step::Wait(unsent, connecting) => {
                        req = unsent;
                        match connecting.clone().await {
                            Ok(sender) => self.settle(&connecting, Some(sender)),
                            Err(e) => {
                                self.settle(&connecting, None);
                                if e.http1 {
                                    self.speaks_http1.store(true, Ordering::Relaxed);
                                    return Err(Http2Error::SpeaksHttp1(Box::new(req)));
                                }
                                return Err(Http2Error::Send(SendError::connect(e)));
                            }
                        }
                    }
                }
            }
        }
    }

    /// Hands `req` to the open connection, or says which opening to wait for (starting one).
    fn step(
        self: &Arc<Self>,
        req: Request<UpstreamBody>,
    ) -> Step<
        impl Future<Output = Result<Response<Incoming>, TrySendError<Request<UpstreamBody>>>>
            + Send
            + 'static,
    > {
        let mut state = self.state.lock().expect("h2 pool lock");
        if let Some(sender) = &mut state.current {
            if !sender.is_closed() {
                let answer = sender.try_send_request(req);
                state.requests += 1;
                return Step::Sent(answer);
            }
            state.current = None;
        }
        let connecting = state
            .connecting
            .get_or_insert_with(|| self.open().boxed().shared())
            .clone();
        if !state.reaper_started {
            state.reaper_started = true;
            tokio::spawn(close_when_idle(Arc::downgrade(self), self.idle_timeout));
        }
        Step::Wait(req, connecting)
    }

    /// Ends the opening `connecting` (unless a waiter before did, or a newer one is under
    /// way): the connection it opened becomes the one requests go on, or, when it failed
    /// (`None`), the next request tries again.
    fn settle(&self, connecting: &Connecting, opened: Option<SendRequest<UpstreamBody>>) {
        let mut state = self.state.lock().expect("h2 pool lock");
        if state
            .connecting
            .as_ref()
            .is_some_and(|c| c.ptr_eq(connecting))
        {
            state.connecting = None;
            if opened.is_some() {
                state.current = opened;
            }
        }
    }

    /// Opens a connection: TCP, then HTTP/2 — by prior knowledge (`h2c://`) or as TLS's ALPN
    /// agreed (`https://`; an upstream that chose HTTP/1.1 is an error saying so). Its I/O runs
    /// on a task of its own, which ends with the connection.
    fn open(
        &self,
    ) -> impl Future<Output = Result<SendRequest<UpstreamBody>, SharedError>> + Send + 'static {
        let dialer = self.dialer.clone();
        let http1 = self.http1.clone();
        async move {
            let (io, h2) = dialer.dial().await.map_err(|e| SharedError::of(e, false))?;
            if dialer.is_tls() && !h2 {
                if let Some(http1) = http1 {
                    http1.adopt(io).await;
                }
                return Err(SharedError::of(
                    SendError::connect(std::io::Error::other("the upstream chose HTTP/1.1")),
                    true,
                ));
            }
            let (sender, connection) =
                hyper::client::conn::http2::Builder::new(TokioExecutor::new())
                    .timer(TokioTimer::new())
                    .handshake(TokioIo::new(io))
                    .await
                    .map_err(|e| SharedError::of(SendError::connect(e), false))?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "upstream HTTP/2 connection ended with an error");
                }
            });
            Ok(sender)
        }
    }
}

/// Closes the connection once no request has gone on it for `idle_timeout` (checked every
/// 10 s at most); ends with the pool.
async fn close_when_idle(pool: Weak<Http2Pool>, idle_timeout: Duration) {
    let mut tick = tokio::time::interval(
        idle_timeout
            .min(Duration::from_secs(10))
            .max(Duration::from_millis(100)),
    );
    tick.tick().await;
    let (mut seen, mut since) = (0, Instant::now());
    loop {
        tick.tick().await;
        let Some(pool) = pool.upgrade() else { return };
        let mut state = pool.state.lock().expect("h2 pool lock");
        if state.requests != seen {
            (seen, since) = (state.requests, Instant::now());
        } else if since.elapsed() >= idle_timeout {
            state.current = None;
        }
    }
}

/// An opening's error, shared by every request that waited for it. Its source is the error
/// itself, so [`crate::edge::upstream_error`] still finds (say) the connect timeout or the TLS
/// error under it.
#[derive(Clone, Debug)]
pub struct SharedError {
    error: Arc<SendError>,
    /// Not an error of the upstream's: it chose HTTP/1.1 by ALPN.
    http1: bool,
}

impl SharedError {
    fn of(error: SendError, http1: bool) -> SharedError {
        SharedError {
            error: Arc::new(error),
            http1,
        }
    }
}

impl std::fmt::Display for SharedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for SharedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.error)
    }
}
