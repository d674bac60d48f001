//! The plain-HTTP listener (`HTTP_ADDR`, SPEC §1, §9): ACME HTTP-01 answers, `/health`, and a
//! `308` to HTTPS for everything else with a valid `Host`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use super::accept::{accept_loop, stopped};
use super::host;
use crate::admin::health::Health;
use crate::config::Config;
use crate::store::{Store, StoreError};

const CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";

/// What the HTTP listener needs.
#[derive(Clone)]
pub struct HttpEdge {
    pub store: Store,
    pub health: Health,
    pub config: Arc<Config>,
}

type Body = Full<Bytes>;

impl HttpEdge {
    /// Serves until `stop` turns true.
    pub async fn serve(
        self,
        listener: TcpListener,
        connections: Arc<Semaphore>,
        stop: watch::Receiver<bool>,
    ) {
        let edge = self.clone();
        let stop_conn = stop.clone();
        accept_loop(listener, connections, stop, move |stream, peer, permit| {
            let edge = edge.clone();
            let mut stop = stop_conn.clone();
            async move {
                let config = edge.config.clone();
                let service = service_fn(move |req| {
                    let edge = edge.clone();
                    async move { Ok::<_, Infallible>(edge.handle(req, peer).await) }
                });
                let mut builder = hyper::server::conn::http1::Builder::new();
                builder
                    .timer(TokioTimer::new())
                    .header_read_timeout(config.header_read_timeout)
                    .max_buf_size(config.max_header_bytes.max(8192));
                let conn = builder.serve_connection(TokioIo::new(stream), service);
                tokio::pin!(conn);
                let idle = config.idle_timeout;
                tokio::select! {
                    _ = conn.as_mut() => {}
                    _ = stopped(&mut stop) => {
                        conn.as_mut().graceful_shutdown();
                        let _ = tokio::time::timeout(idle, conn.as_mut()).await;
                    }
                }
                drop(permit);
            }
        })
        .await;
    }

    async fn handle(&self, req: Request<Incoming>, _peer: SocketAddr) -> Response<Body> {
        let path = req.uri().path();
        if let Some(token) = path.strip_prefix(CHALLENGE_PREFIX) {
            return self.challenge(req.method(), token).await;
        }
        if path == "/health" && req.method() == Method::GET {
            return match self.health.unavailable_reason() {
                Some(word) => text(StatusCode::SERVICE_UNAVAILABLE, word),
                None => text(StatusCode::OK, "healthy"),
            };
        }
        let Some(host) = request_host(&req) else {
            return text(StatusCode::BAD_REQUEST, "missing or invalid Host header");
        };
        self.redirect(&host, &req)
    }

    /// `GET /.well-known/acme-challenge/{token}`: the key authorization from Redis, else 404.
    async fn challenge(&self, method: &Method, token: &str) -> Response<Body> {
        if (method != Method::GET && method != Method::HEAD) || !valid_token(token) {
            return text(StatusCode::NOT_FOUND, "not found");
        }
        match self.store.get_challenge(token).await {
            Ok(Some(key_authorization)) => {
                let mut response = Response::new(Full::new(Bytes::from(
                    key_authorization.expose().to_owned(),
                )));
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
                response
            }
            Ok(None) => text(StatusCode::NOT_FOUND, "not found"),
            Err(StoreError::Unavailable(_)) => {
                text(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable")
            }
            Err(e) => {
                tracing::error!(error = %e, "challenge lookup failed");
                text(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        }
    }

    /// `308` to `https://host[:HTTPS_PUBLIC_PORT]/path?query`.
    fn redirect(&self, host: &str, req: &Request<Incoming>) -> Response<Body> {
        let port = match self.config.https_public_port {
            443 => String::new(),
            p => format!(":{p}"),
        };
        let path_and_query = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
        let location = format!("https://{host}{port}{path_and_query}");
        let mut response = text(StatusCode::PERMANENT_REDIRECT, "redirecting to HTTPS");
        if let Ok(value) = HeaderValue::from_str(&location) {
            response.headers_mut().insert(header::LOCATION, value);
        }
        response
    }
}

/// The request's host: the single `Host` header (or the absolute-form URI's host), normalised.
pub fn request_host<B>(req: &Request<B>) -> Option<String> {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let header_host = match (hosts.next(), hosts.next()) {
        (Some(h), None) => Some(host::normalize(h.to_str().ok()?)?),
        (None, _) => None,
        (Some(_), Some(_)) => return None,
    };
    let uri_host = req
        .uri()
        .authority()
        .map(|a| host::normalize(a.as_str()))
        .map(|h| h.ok_or(()));
    match (header_host, uri_host) {
        (Some(h), None) => Some(h),
        (None, Some(Ok(u))) => Some(u),
        (Some(h), Some(Ok(u))) if h == u => Some(h),
        _ => None,
    }
}

/// `^[A-Za-z0-9_-]{1,256}$`.
fn valid_token(token: &str) -> bool {
    (1..=256).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
