//! Serving the admin API with the edge's client deadlines (first byte and headers, idle) and
//! its own connection cap (`ADMIN_MAX_CONNECTIONS`): a client holding admin sockets open needs
//! no token to do so, so without these it could exhaust the descriptors the public listeners
//! need.

use std::sync::Arc;

use axum::Router;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower_service::Service;

use crate::edge::accept::accept_loop;
use crate::edge::activity::{ConnActivity, Guarded, Limits};
use crate::edge::conn::run_draining;
use crate::shutdown::Shutdown;

/// Serves `router` on `listener` until `shutdown`, at most `cap` connections at once.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    max_header_bytes: usize,
    drain_grace: std::time::Duration,
    cap: Arc<Semaphore>,
    shutdown: Shutdown,
) {
    accept_loop(listener, cap, shutdown, move |stream, _peer, drain| {
        let router = router.clone();
        async move {
            let activity = ConnActivity::new(false);
            let io = TokioIo::new(Guarded::new(stream, activity.clone(), limits));
            let service = service_fn(move |req: http::Request<Incoming>| {
                let guard = activity.begin_request();
                let mut router = router.clone();
                async move {
                    let response = router.call(req).await;
                    drop(guard);
                    response
                }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(None)
                .max_buf_size(max_header_bytes.max(8192))
                .serve_connection(io, service);
            run_draining(conn, |c| c.graceful_shutdown(), &drain, drain_grace).await;
        }
    })
    .await;
}
