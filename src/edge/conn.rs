//! Serving one client connection with hyper: HTTP/1.1 (with upgrades) or HTTP/2, behind the
//! client deadlines of [`super::activity`], and drained gracefully when the instance stops.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};

use super::activity::{ConnActivity, Guarded, Limits};
use super::proxy::{ConnInfo, EdgeBody, RouteLabel};
use crate::config::Config;
use crate::metrics::{status_class, METRICS};
use crate::shutdown::Shutdown;

/// How long in-flight requests get to finish once the instance stops.
pub const DRAIN_GRACE: Duration = Duration::from_secs(30);

/// Answers the requests of one connection.
pub trait Handler: Clone + Send + Sync + 'static {
    fn handle(
        &self,
        req: Request<Incoming>,
        conn: Arc<ConnInfo>,
    ) -> impl Future<Output = Response<EdgeBody>> + Send;
}

/// Serves `io` until the client goes, a deadline passes, or the instance stops (then in-flight
/// requests get [`DRAIN_GRACE`]).
pub async fn serve<IO, H>(
    io: IO,
    http2: bool,
    handler: H,
    info: ConnInfo,
    config: &Config,
    shutdown: Shutdown,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Handler,
{
    let activity = ConnActivity::new(http2);
    let limits = Limits {
        header_read: config.header_read_timeout,
        idle: config.idle_timeout,
    };
    let io = TokioIo::new(Guarded::new(io, activity.clone(), limits));
    let info = Arc::new(info);
    let access_log = config.access_log;
    let service = service_fn(move |req| {
        let guard = activity.begin_request();
        let handler = handler.clone();
        let info = info.clone();
        async move {
            let started = std::time::Instant::now();
            let line = access_log.then(|| AccessLine::of(&req));
            // Boxed: hyper keeps one slot per connection sized for this future, allocated for
            // the connection's whole life; the proxy's future is large (it holds the upstream
            // client's), so unboxed it would cost every idle connection several KiB.
            let response = Box::pin(handler.handle(req, info.clone())).await;
            drop(guard);
            let route = response
                .extensions()
                .get::<RouteLabel>()
                .map_or("-", |r| r.0.as_str());
            let status = response.status().as_u16();
            METRICS.requests.inc(&[route, status_class(status)]);
            if let Some(line) = line {
                line.log(&info, status, route, started.elapsed());
            }
            Ok::<_, Infallible>(response)
        }
    });
    if http2 {
        let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(config.max_header_bytes).unwrap_or(u32::MAX))
            .max_concurrent_streams(256)
            .serve_connection(io, service);
        run_draining(conn, |c| c.graceful_shutdown(), &shutdown).await;
    } else {
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .max_buf_size(config.max_header_bytes.max(8192))
            .max_header_size(config.max_header_bytes)
            .serve_connection(io, service)
            .with_upgrades();
        run_draining(conn, |c| c.graceful_shutdown(), &shutdown).await;
    }
}

/// Runs a hyper connection to its end; once `shutdown` fires, asks it to finish (`drain`:
/// hyper's `graceful_shutdown`, which the HTTP/1 and HTTP/2 types each have) and gives the
/// requests in flight [`DRAIN_GRACE`].
async fn run_draining<C: Future>(conn: C, drain: impl FnOnce(Pin<&mut C>), shutdown: &Shutdown) {
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = shutdown.wait() => {
            drain(conn.as_mut());
            let _ = tokio::time::timeout(DRAIN_GRACE, conn).await;
        }
    }
}

/// What the access log records of a request (taken before the request is consumed).
struct AccessLine {
    method: String,
    host: String,
    path: String,
}

impl AccessLine {
    fn of<B>(req: &Request<B>) -> AccessLine {
        AccessLine {
            method: req.method().to_string(),
            host: super::proxy::checked_host(req).unwrap_or_else(|_| "-".into()),
            path: req.uri().path().to_owned(),
        }
    }

    fn log(self, conn: &ConnInfo, status: u16, route: &str, took: Duration) {
        tracing::info!(
            target: "certgate::access",
            peer = %conn.peer,
            tls = conn.https,
            method = %self.method,
            host = %self.host,
            path = %self.path,
            status,
            route,
            duration_ms = took.as_secs_f64() * 1000.0,
            "request"
        );
    }
}
