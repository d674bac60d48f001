//! Serving one client connection with hyper: HTTP/1.1 (with upgrades) or HTTP/2, behind the
//! client deadlines of [`super::activity`], and drained gracefully when the instance stops.
//!
//! An HTTP/1.1 connection holds hyper only while it is busy. hyper keeps a read and a write
//! buffer for a connection's whole life (8 KiB each as published, 2 KiB at first in the copy in
//! `vendor/`), which made an idle keep-alive connection cost twice nginx's. So a connection
//! starts without hyper, waits for its first byte with a one-byte read, and hands hyper that
//! byte and the I/O; once the connection has been quiet for its hold after a request
//! ([`ReleaseHold`]: 50 ms, 250 ms for a client that keeps coming back soon), hyper is asked to
//! let go (`graceful_shutdown` on an idle connection, with the I/O's shutdown suppressed), its
//! buffers are freed, and the connection waits for its next byte again. A burst of new
//! connections likewise holds no hyper buffers until each one's request arrives.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::access_log::body::LoggedBody;
use super::access_log::line::Pending;
use super::activity::{ActivityBody, ConnActivity, Guarded, Limits, RequestGuard};
use super::context::{Outcome, RequestCtx};
use super::quiet_io::ReleaseWhileQuiet;
use super::release_hold::ReleaseHold;
use super::rewind::Rewind;
use super::stream_start::StartAtOnce;
use super::{text, ConnInfo, EdgeBody};
use crate::config::Config;
use crate::metrics::{status_class, METRICS};
use crate::shutdown::Shutdown;
use futures_util::future::Either as EitherFuture;
use http_body_util::Either;

/// How long an HTTP/2 connection is quiet (no stream open) before its TLS receive buffer is
/// given back; an HTTP/1.1 connection's hold starts there too ([`ReleaseHold`]).
pub const RELEASE_AFTER: Duration = super::release_hold::FIRST_HOLD;

/// A response body as the connection sends it: logged when the access log is on.
type ServedBody = Either<LoggedBody<EdgeBody>, EdgeBody>;

/// Answers the requests of one connection, filling in the request's context as it learns.
pub trait Handler: Clone + Send + Sync + Unpin + 'static {
    /// Answers `req`, recording what it learns in `ctx`.
    fn handle<'a>(
        &'a self,
        req: Request<Incoming>,
        conn: &'a ConnInfo,
        ctx: &'a mut RequestCtx,
    ) -> impl Future<Output = Response<EdgeBody>> + Send + 'a;
}

/// What every request of one connection is served with, behind one reference count (cloned
/// one by one, they took 184 bytes of every request's state and a dozen atomic updates).
struct Shared<H> {
    handler: H,
    info: ConnInfo,
    /// The trusted proxies, when the access log is on (it names the client behind them).
    trusted: Option<Vec<ipnet::IpNet>>,
    /// `Alt-Svc` for every answer (HTTPS with HTTP/3 on).
    alt_svc: Option<HeaderValue>,
    /// Index into `metrics::PROTOCOLS`.
    protocol: usize,
}

/// One request of the connection, answered: the handler's answer (or `405` for `CONNECT`),
/// counted, logged when the access log is on, with the request's `guard` released when the
/// answer's body ends.
///
/// An `async` block, not an `async fn`: one stores each argument twice (its own place and the
/// local it is moved into), and this future is made for every request.
#[allow(clippy::manual_async_fn)] // stores its arguments once (above)
fn answer<H: Handler>(
    req: Request<Incoming>,
    shared: Arc<Shared<H>>,
    guard: RequestGuard,
) -> impl Future<Output = Result<Response<ActivityBody<ServedBody>>, Infallible>> + Send + 'static {
    async move {
        let Shared {
            handler,
            info,
            trusted,
            alt_svc,
            protocol,
        } = &*shared;
        let mut ctx = RequestCtx::of_request(&req, info.peer.ip(), trusted.as_deref());
        let mut response = if req.method() == Method::CONNECT {
            // Refused for every listener here, before any handler sees it.
            connect_refused()
        } else {
            handler.handle(req, info, &mut ctx).await
        };
        advertise_http3(&mut response, alt_svc.clone());
        let logged = record(&mut ctx, info, response.status().as_u16(), *protocol);
        if let Some(tunnel) = ctx.tunnel.take() {
            guard.open_tunnel(tunnel);
        }
        let response = response.map(|body| match logged {
            Some(pending) => Either::Left(LoggedBody::new(body, pending)),
            None => Either::Right(body),
        });
        Ok(response.map(|body| ActivityBody::new(body, guard)))
    }
}

/// Serves `io` until the client goes, a deadline passes, or the instance stops (then in-flight
/// requests get `DRAIN_GRACE_SECONDS`). `alt_svc`: the header every answer carries (HTTPS with
/// HTTP/3 on).
///
/// Not an `async fn`: one keeps every argument for its whole life, beside whatever it was moved
/// into. Here the service is made first and the future holds only what serving needs, for as
/// long as the connection lives (≈ 0.3 KiB less per connection, idle ones included).
pub fn serve<'a, IO, H>(
    io: IO,
    http2: bool,
    handler: H,
    info: ConnInfo,
    alt_svc: Option<HeaderValue>,
    config: &'a Config,
    shutdown: Shutdown,
) -> impl Future<Output = ()> + Send + 'a
where
    IO: AsyncRead + AsyncWrite + ReleaseWhileQuiet + Unpin + Send + 'static,
    H: Handler,
{
    let activity = ConnActivity::new(http2);
    let limits = Limits::of(config);
    let mut io = Guarded::new(io, activity.clone(), limits);
    let shared = Arc::new(Shared {
        handler,
        info,
        trusted: config.access_log_trusted_proxies().map(<[_]>::to_vec),
        alt_svc,
        protocol: usize::from(http2),
    });
    let requests = activity.clone();
    let service = service_fn(move |req| {
        let guard = requests.begin_request();
        // Boxed, and made in its box: hyper holds what `call` returns — in the connection's
        // one slot (HTTP/1.1, for the connection's life) or in a stream's future, polled first
        // in the connection's task and then on a task of its own (HTTP/2, [`StartAtOnce`]) —
        // and moves it whole. Built first and then boxed, the request's state
        // (≈ 2 KiB, the proxy's future included) would be copied into memory no request has
        // touched lately; `Box::write` lets the compiler build it where it stays.
        Box::into_pin(Box::write(
            Box::new_uninit(),
            answer(req, shared.clone(), guard),
        ))
    });
    if http2 {
        io.release_when_quiet(RELEASE_AFTER);
        // Each new stream is polled once while its head is warm (`super::stream_start`).
        let conn = hyper::server::conn::http2::Builder::new(StartAtOnce)
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(config.limits.max_header_bytes).unwrap_or(u32::MAX))
            .max_concurrent_streams(256)
            .serve_connection(TokioIo::new(io), service);
        // Boxed, like the HTTP/1 connection: the connection's task is sized for the largest
        // state of its future, for its whole life.
        let conn = Box::pin(conn);
        EitherFuture::Left(async move {
            run_draining(
                conn,
                |c| c.get_mut().as_mut().graceful_shutdown(),
                &shutdown,
                config.limits.drain_grace,
            )
            .await
        })
    } else {
        EitherFuture::Right(serve_http1(io, activity, service, config, shutdown))
    }
}

/// hyper's HTTP/1.1 settings for the edge.
fn http1_builder(config: &Config) -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // hyper's own header timer (30 s by default) also runs while a keep-alive connection
        // idles; the Guarded I/O enforces both deadlines as configured.
        .header_read_timeout(None)
        .max_buf_size(config.limits.max_header_bytes.max(8192))
        .max_header_size(config.limits.max_header_bytes);
    builder
}

/// Serves HTTP/1.1 on `io`, holding a hyper connection only while the client is busy (see the
/// module's doc). Not an `async fn`, for the reason [`serve`] gives.
#[allow(clippy::manual_async_fn)]
fn serve_http1<'a, IO, S>(
    mut io: Guarded<IO>,
    activity: Arc<ConnActivity>,
    mut service: S,
    config: &'a Config,
    shutdown: Shutdown,
) -> impl Future<Output = ()> + Send + 'a
where
    IO: AsyncRead + AsyncWrite + ReleaseWhileQuiet + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming, ResBody = ActivityBody<ServedBody>>
        + Unpin
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    async move {
        let builder = http1_builder(config);
        let mut unread = Bytes::new();
        let mut hold = ReleaseHold::default();
        loop {
            if unread.is_empty() {
                // Quiet: no hyper, no buffers (TLS's receive buffer included); the client
                // deadlines apply to this read too.
                io.release_while_quiet();
                let mut first = [0u8; 1];
                let read = tokio::select! {
                    read = io.read(&mut first) => read,
                    _ = shutdown.wait() => Ok(0),
                };
                match read {
                    Ok(0) => {
                        let _ = tokio::time::timeout(Duration::from_secs(1), io.shutdown()).await;
                        return;
                    }
                    Ok(_) => unread = Bytes::copy_from_slice(&first),
                    Err(_) => return,
                }
                hold.spoke_again();
            }
            let requests_before = activity.requests();
            // Boxed: inline, hyper's connection would size this future (and so the connection's
            // task, for its whole life) even while the connection waits without it.
            let mut conn = Box::pin(
                builder
                    .serve_connection(TokioIo::new(Rewind::new(unread, io)), service)
                    .with_upgrades(),
            );
            tokio::select! {
                _ = &mut conn => {
                    // The connection ends here, or goes on as the tunnel its last answer opened.
                    drop(conn);
                    if let Some(tunnel) = activity.take_tunnel() {
                        tunnel.run(&shutdown, config.limits.drain_grace).await;
                    }
                    return;
                }
                _ = shutdown.wait() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(config.limits.drain_grace, conn).await;
                    return;
                }
                since = quiet_after_a_request(&activity, requests_before, hold.get()) => {
                    hold.let_go(since);
                    activity.set_releasing(true);
                    conn.as_mut().graceful_shutdown();
                }
            }
            let finished = (&mut conn).await;
            activity.set_releasing(false);
            let parts = match (finished, Pin::into_inner(conn).into_parts()) {
                (Ok(()), Some(parts)) => parts,
                _ => return,
            };
            (io, unread) = parts.io.into_inner().into_inner(parts.read_buf);
            service = parts.service;
        }
    }
}

/// Resolves once the connection has served a request since `requests_before` and then been
/// quiet for `hold`, with the moment it went quiet. Sleeps only while nothing is in flight; a
/// request in flight is waited out without a timer ([`ConnActivity::poll_quiet_at`]).
async fn quiet_after_a_request(
    activity: &ConnActivity,
    requests_before: u64,
    hold: Duration,
) -> Instant {
    loop {
        let quiet = std::future::poll_fn(|cx| activity.poll_quiet_at(hold, cx)).await;
        let now = Instant::now();
        if quiet > now {
            tokio::time::sleep_until(quiet).await;
        } else if activity.requests() > requests_before {
            return quiet - hold;
        } else {
            // Bytes of the first request came, but not yet its whole head.
            tokio::time::sleep_until(now + hold).await;
        }
    }
}

/// Runs a hyper connection to its end; once `shutdown` fires, asks it to finish (`drain`:
/// hyper's `graceful_shutdown`, which the HTTP/1 and HTTP/2 types each have) and gives the
/// requests in flight `grace`.
pub async fn run_draining<C: Future>(
    conn: C,
    drain: impl FnOnce(Pin<&mut C>),
    shutdown: &Shutdown,
    grace: Duration,
) {
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = shutdown.wait() => {
            drain(conn.as_mut());
            let _ = tokio::time::timeout(grace, conn).await;
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

/// Adds `Alt-Svc` when HTTP/3 is on.
fn advertise_http3(response: &mut Response<EdgeBody>, alt_svc: Option<HeaderValue>) {
    if let Some(alt_svc) = alt_svc {
        response
            .headers_mut()
            .insert(http::header::ALT_SVC, alt_svc);
    }
}

/// Counts the request; when the access log is on, what its line needs (written when the
/// answer's body ends). `protocol` indexes `metrics::PROTOCOLS` (h1, h2, h3).
pub(super) fn record(
    ctx: &mut RequestCtx,
    conn: &ConnInfo,
    status: u16,
    protocol: usize,
) -> Option<Box<Pending>> {
    let route = ctx.route_label();
    match &ctx.route_metrics {
        Some(metrics) => metrics.count_request(status, protocol),
        None => METRICS.requests.inc(&[
            route,
            status_class(status),
            crate::metrics::PROTOCOLS[protocol],
        ]),
    }
    if let Outcome::UpstreamFailed(failure) = ctx.outcome {
        METRICS.upstream_failures.inc(&[route, failure.label()]);
    }
    let start = ctx.access.take()?;
    Some(Box::new(Pending {
        start: *start,
        began: ctx.started,
        peer: conn.peer.ip(),
        host: ctx.host.take(),
        status,
        route: ctx.route_label().to_owned(),
        outcome: ctx.outcome.label(),
        upstream: ctx.upstream.take(),
        upstream_time: ctx.upstream_time,
        tls: conn.https.then_some(conn.tls_version).flatten(),
        request_id: ctx
            .request_id
            .as_ref()
            .and_then(|id| id.to_str().ok())
            .map(str::to_owned),
    }))
}
