//! The connections to one plain `http://` upstream: hyper's own HTTP/1.1 connections, kept in a
//! list of idle ones that the proxy takes from and gives back to itself.
//!
//! Why not hyper-util's pooled client (which `https://` and `h2c://` upstreams still use): every
//! request through it takes a pool key (hashed), and a response whose body is still to be read —
//! nearly all of them — costs one more spawned task, which only waits for the connection to be
//! ready again to put it back (`docs/benchmarks.md`, "Session 9"). Here the connection goes
//! back when the answer's body has been passed on whole ([`Checkin`], given back by the answer's
//! body) — by then hyper is done with it — so nothing is spawned per request.
//!
//! What hyper-util did that is kept: a connection that turns out closed when a request is handed
//! to it (the upstream closed it while idle) is dropped and the request, not sent, goes on a
//! fresh one; idle connections are closed after `UPSTREAM_IDLE_TIMEOUT_SECONDS`, and at most
//! `UPSTREAM_MAX_IDLE_PER_HOST` are kept. Most recently used first, so the rest age out.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::client::legacy::connect::HttpConnector;

use super::client::{SendError, UpstreamBody};
use super::resolver::UpstreamResolver;

/// Idle connections to one upstream, and how to open another.
pub struct Http1Pool {
    connector: HttpConnector<UpstreamResolver>,
    /// `http://host:port` of the upstream.
    target: Uri,
    max_idle: usize,
    idle_timeout: Duration,
    /// Most recently given back last.
    idle: Mutex<Vec<Idle>>,
    /// Whether the task closing connections idle too long runs (started by the first one
    /// given back, so a set built and never used spawns nothing).
    reaper_started: std::sync::atomic::AtomicBool,
}

struct Idle {
    sender: SendRequest<UpstreamBody>,
    since: Instant,
}

/// A connection lent to one exchange: given back by [`Checkin::give_back`] when its answer has
/// been read whole; dropped otherwise, which closes it (a half-read answer leaves it unusable).
pub struct Checkin {
    sender: SendRequest<UpstreamBody>,
    pool: Arc<Http1Pool>,
}

impl Http1Pool {
    pub fn new(
        connector: HttpConnector<UpstreamResolver>,
        target: Uri,
        max_idle: usize,
        idle_timeout: Duration,
    ) -> Arc<Http1Pool> {
        Arc::new(Http1Pool {
            connector,
            target,
            max_idle,
            idle_timeout,
            idle: Mutex::new(Vec::new()),
            reaper_started: Default::default(),
        })
    }

    /// Sends `req` (origin-form URI, `Host` set) on an idle connection or a new one; the answer
    /// comes with the connection to give back once its body has been read.
    pub async fn send(
        self: &Arc<Self>,
        mut req: Request<UpstreamBody>,
    ) -> Result<(Response<Incoming>, Checkin), SendError> {
        loop {
            let (mut sender, reused) = match self.take_idle() {
                Some(sender) => (sender, true),
                None => (self.connect().await?, false),
            };
            match sender.try_send_request(req).await {
                Ok(response) => {
                    let checkin = Checkin {
                        sender,
                        pool: self.clone(),
                    };
                    return Ok((response, checkin));
                }
                Err(mut failed) => match failed.take_message() {
                    // Not sent: the idle connection had been closed under us. A fresh
                    // connection failing so is an answer of its own.
                    Some(unsent) if reused => req = unsent,
                    _ => return Err(SendError::exchange(failed.into_error())),
                },
            }
        }
    }

    /// The most recently used idle connection that is open and ready for a request.
    ///
    /// hyper has finished with a connection by the time its answer's last frame is read, so a
    /// connection given back is ready at once — except when the upstream answered before
    /// reading the whole request body (an early `413`, say) and the connection is still
    /// sending it. Such a one is not waited for (the body may be slow for as long as the
    /// client likes): it goes back to the far end of the list and another is used.
    fn take_idle(&self) -> Option<SendRequest<UpstreamBody>> {
        let mut idle = self.idle.lock().expect("idle list lock");
        let mut busy = Vec::new();
        let found = loop {
            let Some(popped) = idle.pop() else {
                break None;
            };
            if popped.sender.is_closed() || popped.since.elapsed() >= self.idle_timeout {
                continue;
            }
            if popped.sender.is_ready() {
                break Some(popped.sender);
            }
            busy.push(popped);
        };
        if !busy.is_empty() {
            idle.splice(0..0, busy);
        }
        found
    }

    async fn connect(&self) -> Result<SendRequest<UpstreamBody>, SendError> {
        use tower_service::Service;
        let io = self
            .connector
            .clone()
            .call(self.target.clone())
            .await
            .map_err(SendError::connect)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(SendError::connect)?;
        tokio::spawn(async move {
            if let Err(e) = connection.with_upgrades().await {
                tracing::debug!(error = %e, "upstream connection ended with an error");
            }
        });
        Ok(sender)
    }

    fn give_back(self: &Arc<Self>, sender: SendRequest<UpstreamBody>) {
        if sender.is_closed() {
            return;
        }
        {
            let mut idle = self.idle.lock().expect("idle list lock");
            if idle.len() >= self.max_idle {
                return;
            }
            idle.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
        if !self
            .reaper_started
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            tokio::spawn(close_idle_too_long(Arc::downgrade(self), self.idle_timeout));
        }
    }
}

/// Every `idle_timeout`, closes the connections idle that long (or already closed by the
/// upstream); ends with the pool.
async fn close_idle_too_long(pool: Weak<Http1Pool>, idle_timeout: Duration) {
    let mut tick = tokio::time::interval(idle_timeout);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(pool) = pool.upgrade() else { return };
        pool.idle
            .lock()
            .expect("idle list lock")
            .retain(|i| !i.sender.is_closed() && i.since.elapsed() < idle_timeout);
    }
}

impl Checkin {
    /// The answer has been read whole: the connection may carry the next request.
    pub fn give_back(self) {
        self.pool.give_back(self.sender);
    }
}
