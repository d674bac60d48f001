//! Serving one client connection with hyper: HTTP/1.1 (with upgrades) or HTTP/2, behind the
//! client deadlines of [`super::activity`], and drained gracefully when the instance stops.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};

use super::activity::{ConnActivity, Guarded, Limits};
use super::context::{Outcome, RequestCtx};
use super::{text, ConnInfo, EdgeBody};
use crate::config::Config;
use crate::metrics::{status_class, METRICS};
use crate::shutdown::Shutdown;

/// How long in-flight requests get to finish once the instance stops.
pub const DRAIN_GRACE: Duration = Duration::from_secs(30);

/// Answers the requests of one connection, filling in the request's context as it learns.
pub trait Handler: Clone + Send + Sync + 'static {
    fn handle<'a>(
        &'a self,
        req: Request<Incoming>,
        conn: &'a ConnInfo,
        ctx: &'a mut RequestCtx,
    ) -> impl Future<Output = Response<EdgeBody>> + Send + 'a;
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
            let mut ctx = RequestCtx::new(&req, access_log);
            let response = if req.method() == Method::CONNECT {
                // Refused for every listener here, before any handler sees it.
                connect_refused()
            } else {
                // Boxed: hyper keeps one slot per connection sized for this future, allocated
                // for the connection's whole life; the proxy's future is large (it holds the
                // upstream client's), so unboxed it would cost every idle connection several KiB.
                Box::pin(handler.handle(req, &info, &mut ctx)).await
            };
            drop(guard);
            record(&ctx, &info, response.status().as_u16());
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
            // hyper's own header timer (30 s by default) also runs while a keep-alive
            // connection idles; the Guarded I/O enforces both deadlines as configured.
            .header_read_timeout(None)
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
pub async fn run_draining<C: Future>(
    conn: C,
    drain: impl FnOnce(Pin<&mut C>),
    shutdown: &Shutdown,
) {
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = shutdown.wait() => {
            drain(conn.as_mut());
            let _ = tokio::time::timeout(DRAIN_GRACE, conn).await;
        }
    }
}

/// `405` for `CONNECT`: certgate is a reverse proxy, never a tunnel to wherever a client names,
/// so CONNECT is answered here on HTTP/1.1 and HTTP/2 alike and never sent upstream.
pub fn connect_refused() -> Response<EdgeBody> {
    let mut response = text(
        StatusCode::METHOD_NOT_ALLOWED,
        "CONNECT is not supported by this server",
    );
    response.headers_mut().insert(
        http::header::ALLOW,
        HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
    );
    response
}

/// Counts the request and writes its access-log line, from its context.
fn record(ctx: &RequestCtx, conn: &ConnInfo, status: u16) {
    let route = ctx.route_label();
    METRICS.requests.inc(&[route, status_class(status)]);
    if let Outcome::UpstreamFailed(failure) = ctx.outcome {
        METRICS.upstream_failures.inc(&[route, failure.label()]);
    }
    if let Some((method, path)) = &ctx.access {
        tracing::info!(
            target: "certgate::access",
            peer = %conn.peer,
            tls = conn.https,
            method = %method,
            host = ctx.host.as_deref().unwrap_or("-"),
            path = %path,
            status,
            route,
            outcome = ctx.outcome.label(),
            duration_ms = ctx.started.elapsed().as_secs_f64() * 1000.0,
            "request"
        );
    }
}
