//! The connection to one `h2c://` upstream: a single HTTP/2 connection (hyper's
//! `client::conn::http2`) that carries every request to it at once, opened by the first request
//! and again after it closes (a `GOAWAY`, the upstream going away), and closed once no request
//! has used it for `UPSTREAM_IDLE_TIMEOUT_SECONDS`.
//!
//! Why not hyper-util's pooled client (which `https://` upstreams still use, since there ALPN
//! decides between HTTP/1.1 and HTTP/2): for every request it hashed a pool key (the scheme and
//! the authority, byte by byte, with SipHash), checked the connection out of a shared map and
//! back in, and moved its large futures about — ≈ 6k instructions of the ≈ 77k an HTTP/2-upstream
//! request cost (`docs/benchmarks.md`, "Other upstream protocols"). Here a request takes a lock,
//! hands itself to the connection's sender and awaits its answer.
//!
//! Opening is shared: requests that arrive while the connection is being opened wait for that
//! one (a `Shared` future) instead of each opening their own, and all of them get its error if it
//! fails. A request the connection refused unsent (it had just closed) goes on a new one, once.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use futures_util::future::{FutureExt, Shared};
use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper::client::conn::http2::SendRequest;
use hyper::client::conn::TrySendError;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::client::{SendError, UpstreamBody};
use super::resolver::UpstreamResolver;
use crate::metrics::registry::Counter;

/// The HTTP/2 connection to one upstream, and how to open it again.
pub struct Http2Pool {
    connector: HttpConnector<UpstreamResolver>,
    /// `http://host:port` of the upstream.
    target: Uri,
    idle_timeout: Duration,
    state: Mutex<State>,
    /// `certgate_upstream_connections_opened_total` of the route.
    opened: Counter,
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
    /// A pool dialing `target` through `connector`.
    pub fn new(
        connector: HttpConnector<UpstreamResolver>,
        target: Uri,
        idle_timeout: Duration,
        opened: Counter,
    ) -> Arc<Http2Pool> {
        Arc::new(Http2Pool {
            connector,
            target,
            idle_timeout,
            state: Mutex::new(State::default()),
            opened,
        })
    }

    /// Sends `req` (absolute URI: HTTP/2 takes `:scheme` and `:authority` from it) on the open
    /// connection, opening it first when there is none, and waits for the answer's head.
    ///
    /// An `async` block, not an `async fn`, so that `req` is stored once in the future.
    #[allow(clippy::manual_async_fn)] // stores `req` once (above)
    pub fn send(
        self: &Arc<Self>,
        mut req: Request<UpstreamBody>,
    ) -> impl Future<Output = Result<Response<Incoming>, SendError>> + Send + '_ {
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
                            _ => return Err(SendError::exchange(refused.into_error())),
                        },
                    },
                    Step::Wait(unsent, connecting) => {
                        req = unsent;
                        match connecting.clone().await {
                            Ok(sender) => self.settle(&connecting, Some(sender)),
                            Err(e) => {
                                self.settle(&connecting, None);
                                return Err(SendError::connect(e));
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

    /// Opens a connection: TCP, then HTTP/2 by prior knowledge. Its I/O runs on a task of its
    /// own, which ends with the connection.
    fn open(
        &self,
    ) -> impl Future<Output = Result<SendRequest<UpstreamBody>, SharedError>> + Send + 'static {
        use tower_service::Service;
        let mut connector = self.connector.clone();
        let target = self.target.clone();
        let opened = self.opened.clone();
        async move {
            opened.inc();
            let io = connector.call(target).await.map_err(SharedError::new)?;
            let (sender, connection) =
                hyper::client::conn::http2::Builder::new(TokioExecutor::new())
                    .timer(TokioTimer::new())
                    .handshake(io)
                    .await
                    .map_err(SharedError::new)?;
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
/// itself, so [`crate::edge::upstream_error`] still finds (say) the connect timeout under it.
#[derive(Clone, Debug)]
pub struct SharedError(Arc<SendError>);

impl SharedError {
    fn new(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> SharedError {
        SharedError(Arc::new(SendError::connect(cause)))
    }
}

impl std::fmt::Display for SharedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SharedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}
