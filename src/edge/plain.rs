//! The plain-HTTP listener (`HTTP_ADDR`, `docs/edge.md`): ACME HTTP-01 answers, `/health`, routes
//! with `https_redirect: false` proxied, and a `308` to HTTPS for everything else with a valid
//! `Host`.

use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::accept::accept_loop;
use super::conn::{self, Handler};
use super::context::RequestCtx;
use super::proxy::Proxy;
use super::{text, ConnInfo, EdgeBody};
use crate::config::Config;
use crate::health::Health;
use crate::shutdown::Shutdown;
use crate::store::{Store, StoreError};

const CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";

/// What the HTTP listener needs.
#[derive(Clone)]
pub struct HttpEdge {
    /// Where http-01 challenge answers are read.
    pub store: Store,
    /// Readiness, for `/health` on this listener.
    pub health: Health,
    /// The settings.
    pub config: Arc<Config>,
    /// Forwards plain-HTTP routes' requests.
    pub proxy: Proxy,
}

impl Handler for HttpEdge {
    async fn handle(
        &self,
        req: Request<Incoming>,
        conn: &ConnInfo,
        ctx: &mut RequestCtx,
    ) -> Response<EdgeBody> {
        let path = req.uri().path();
        if let Some(token) = path.strip_prefix(CHALLENGE_PREFIX) {
            // Boxed: the Redis lookup's future (≈ 7 KB) would otherwise size the state of every
            // request on this listener, redirects and proxied routes included.
            return Box::pin(self.challenge(req.method(), token)).await;
        }
        if path == "/health" && req.method() == Method::GET {
            return match self.health.unavailable_reason() {
                Some(word) => text(StatusCode::SERVICE_UNAVAILABLE, word),
                None => text(StatusCode::OK, "healthy"),
            };
        }
        let host = match ctx.parse_host(&req) {
            Ok(h) => h.clone(),
            Err(why) => return text(StatusCode::BAD_REQUEST, why),
        };
        match self.proxy.routes.get(&host) {
            Some(route) if !route.https_redirect => {
                match self.proxy.start(req, route, &host, conn, ctx) {
                    Ok(forwarding) => self.proxy.forward(forwarding, conn, ctx).await,
                    Err(response) => response,
                }
            }
            _ => self.redirect(&host, &req),
        }
    }
}

impl HttpEdge {
    /// Serves until `shutdown`.
    pub async fn serve(
        self,
        listener: TcpListener,
        connections: Arc<Semaphore>,
        shutdown: Shutdown,
    ) {
        accept_loop(
            listener,
            connections,
            shutdown,
            move |mut stream, peer, shutdown| {
                let edge = self.clone();
                async move {
                    let _gauge = crate::metrics::ConnectionGauge::open();
                    let Some(addresses) = super::proxy_protocol::addresses_of(
                        &mut stream,
                        peer,
                        &edge.config.traffic.proxy_protocol,
                        edge.config.limits.header_read_timeout,
                    )
                    .await
                    else {
                        return;
                    };
                    let info = ConnInfo::new(
                        addresses.client,
                        false,
                        None,
                        None,
                        &edge.config.listeners.trusted_proxies,
                    );
                    let config = edge.config.clone();
                    conn::serve(stream, false, edge, info, None, &config, shutdown).await;
                }
            },
        )
        .await;
    }

    /// `GET /.well-known/acme-challenge/{token}`: the key authorization from Redis, else 404.
    async fn challenge(&self, method: &Method, token: &str) -> Response<EdgeBody> {
        if (method != Method::GET && method != Method::HEAD) || !valid_token(token) {
            return text(StatusCode::NOT_FOUND, "not found");
        }
        match self.store.acme().http_challenge(token).await {
            Ok(Some(key_authorization)) => {
                let body = Full::new(Bytes::from(key_authorization.expose().to_owned()));
                let mut response = Response::new(body.map_err(|never| match never {}).boxed());
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
    fn redirect<B>(&self, host: &str, req: &Request<B>) -> Response<EdgeBody> {
        let port = match self.config.listeners.https_public_port {
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

/// `^[A-Za-z0-9_-]{1,256}$`.
fn valid_token(token: &str) -> bool {
    (1..=256).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
