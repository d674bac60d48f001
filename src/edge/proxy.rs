//! Forwarding a request to its route's upstream (SPEC §7): the host checks in their order
//! (`400`, `421`, `404`), hop-by-hop headers removed, `X-Forwarded-*` set, bodies streamed both
//! ways, WebSocket upgrades tunnelled, `502` when the upstream refuses, `504` when it is slow.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONNECTION, HOST, UPGRADE};
use http::{HeaderValue, Request, Response, StatusCode, Uri, Version};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use super::forwarded::{is_trusted, set_forwarded, strip_hop_by_hop};
use crate::config::Config;
use crate::routes::host;
use crate::routes::table::RouteTable;
use crate::routes::Route;
use crate::tls::certified::ServedCert;

/// Set on a response by the handler: the route that answered (for metrics and the access log).
#[derive(Clone, Debug)]
pub struct RouteLabel(pub String);

/// The body type of everything the edge answers.
pub type EdgeBody = BoxBody<Bytes, hyper::Error>;

/// What the handler knows of the connection a request came on.
#[derive(Clone, Debug)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub https: bool,
    /// The TLS SNI name, normalised (HTTPS only).
    pub sni: Option<String>,
    /// The certificate served on this connection (`None`: the default one).
    pub served: Option<Arc<ServedCert>>,
}

/// Forwards requests with a pooled HTTP/1.1 client.
#[derive(Clone)]
pub struct Proxy {
    pub routes: Arc<RouteTable>,
    client: Client<HttpConnector, EdgeBody>,
    config: Arc<Config>,
}

/// A local answer with a short text body.
pub fn text(status: StatusCode, body: &'static str) -> Response<EdgeBody> {
    let mut response = Response::new(
        Full::new(Bytes::from_static(body.as_bytes()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The request's host after SPEC §7's checks: one `Host` (HTTP/1) or the `:authority`
/// (HTTP/2), equal to an absolute-form URI's host when both are given; normalised.
pub fn checked_host<B>(req: &Request<B>) -> Result<String, &'static str> {
    let mut values = req.headers().get_all(HOST).iter();
    let header = match (values.next(), values.next()) {
        (_, Some(_)) => return Err("duplicate Host header"),
        (Some(v), None) => Some(
            v.to_str()
                .ok()
                .and_then(host::normalize)
                .ok_or("invalid Host header")?,
        ),
        (None, None) => None,
    };
    let authority = match req.uri().authority() {
        Some(a) => Some(host::normalize(a.as_str()).ok_or("invalid request authority")?),
        None => None,
    };
    match (header, authority) {
        (Some(h), Some(a)) if h != a => Err("Host differs from the request's authority"),
        (Some(h), _) => Ok(h),
        (None, Some(a)) if req.version() == Version::HTTP_2 => Ok(a),
        (None, _) => Err("missing Host header"),
    }
}

impl Proxy {
    pub fn new(routes: Arc<RouteTable>, config: Arc<Config>) -> Proxy {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(config.upstream_connect_timeout));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(std::time::Duration::from_secs(90))
            .pool_timer(TokioTimer::new())
            .build(connector);
        Proxy {
            routes,
            client,
            config,
        }
    }

    /// Answers one request arriving on the edge.
    pub async fn handle(&self, req: Request<Incoming>, conn: &ConnInfo) -> Response<EdgeBody> {
        let host = match checked_host(&req) {
            Ok(h) => h,
            Err(why) => return text(StatusCode::BAD_REQUEST, why),
        };
        if let Some(sni) = &conn.sni {
            let covered = conn.served.as_ref().is_some_and(|c| c.covers(&host));
            if &host != sni && !covered {
                return text(
                    StatusCode::MISDIRECTED_REQUEST,
                    "this connection's certificate does not cover the requested host",
                );
            }
        }
        let Some(route) = self.routes.get(&host) else {
            return text(StatusCode::NOT_FOUND, "no route for this host");
        };
        self.forward(req, &route, &host, conn).await
    }

    /// Sends the request to the route's upstream and streams the answer back; the response
    /// carries a [`RouteLabel`] and the time to its head is recorded.
    pub async fn forward(
        &self,
        req: Request<Incoming>,
        route: &Route,
        host: &str,
        conn: &ConnInfo,
    ) -> Response<EdgeBody> {
        let started = std::time::Instant::now();
        let mut response = self.forward_inner(req, route, host, conn).await;
        crate::metrics::METRICS
            .upstream_seconds
            .observe(&[&route.hostname], started.elapsed().as_secs_f64());
        response
            .extensions_mut()
            .insert(RouteLabel(route.hostname.clone()));
        response
    }

    /// [`Proxy::forward`] without the bookkeeping.
    async fn forward_inner(
        &self,
        mut req: Request<Incoming>,
        route: &Route,
        host: &str,
        conn: &ConnInfo,
    ) -> Response<EdgeBody> {
        let Ok(base) = route.upstream.parse::<Uri>() else {
            return text(StatusCode::BAD_GATEWAY, "route has an unusable upstream");
        };
        let Some(authority) = base.authority().cloned() else {
            return text(StatusCode::BAD_GATEWAY, "route has an unusable upstream");
        };
        let upgrade = (req.version() == Version::HTTP_11)
            .then(|| requested_upgrade(req.headers()))
            .flatten();
        let client_upgrade = upgrade.is_some().then(|| hyper::upgrade::on(&mut req));
        let original_host = req.headers().get(HOST).cloned().or_else(|| {
            req.uri()
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        });
        let (mut parts, body) = req.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        let trusted = is_trusted(conn.peer.ip(), &self.config.trusted_proxies);
        let proto = if conn.https { "https" } else { "http" };
        let forwarded_host = original_host
            .as_ref()
            .and_then(|h| h.to_str().ok())
            .unwrap_or(host)
            .to_owned();
        set_forwarded(
            &mut parts.headers,
            conn.peer.ip(),
            proto,
            &forwarded_host,
            trusted,
        );
        let path = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        parts.uri = match format!("http://{authority}{path}").parse() {
            Ok(uri) => uri,
            Err(_) => return text(StatusCode::BAD_REQUEST, "unusable request path"),
        };
        parts.version = Version::HTTP_11;
        let host_value = match (&original_host, route.preserve_host) {
            (Some(h), true) => h.clone(),
            _ => HeaderValue::from_str(authority.as_str())
                .unwrap_or_else(|_| HeaderValue::from_static("upstream")),
        };
        parts.headers.insert(HOST, host_value);
        if let Some(protocol) = &upgrade {
            parts
                .headers
                .insert(CONNECTION, HeaderValue::from_static("upgrade"));
            parts.headers.insert(UPGRADE, protocol.clone());
        }
        let request = Request::from_parts(parts, body.boxed());
        let response =
            tokio::time::timeout(self.config.upstream_timeout, self.client.request(request)).await;
        let mut response = match response {
            Err(_) => {
                return text(
                    StatusCode::GATEWAY_TIMEOUT,
                    "upstream did not answer in time",
                )
            }
            Ok(Err(e)) => return upstream_error(&e, route),
            Ok(Ok(r)) => r,
        };
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            if let Some(client_upgrade) = client_upgrade {
                let upstream_upgrade = hyper::upgrade::on(&mut response);
                tokio::spawn(tunnel(client_upgrade, upstream_upgrade));
                let (parts, _) = response.into_parts();
                return Response::from_parts(
                    parts,
                    Full::new(Bytes::new())
                        .map_err(|never| match never {})
                        .boxed(),
                );
            }
        }
        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        Response::from_parts(parts, body.boxed())
    }
}

/// The protocol a client asks to upgrade to (`Connection: upgrade` + `Upgrade: …`).
fn requested_upgrade(headers: &http::HeaderMap) -> Option<HeaderValue> {
    let asks = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    asks.then(|| headers.get(UPGRADE).cloned()).flatten()
}

/// `502` when the upstream refused or broke the connection, `504` when connecting timed out.
fn upstream_error(e: &hyper_util::client::legacy::Error, route: &Route) -> Response<EdgeBody> {
    let timed_out = {
        let mut source = std::error::Error::source(e);
        let mut found = false;
        while let Some(s) = source {
            if let Some(io) = s.downcast_ref::<std::io::Error>() {
                found |= io.kind() == std::io::ErrorKind::TimedOut;
            }
            found |= s.to_string().contains("timed out");
            source = s.source();
        }
        found
    };
    tracing::warn!(hostname = %route.hostname, upstream = %route.upstream, error = %e, "upstream request failed");
    if timed_out {
        text(
            StatusCode::GATEWAY_TIMEOUT,
            "upstream did not accept the connection in time",
        )
    } else {
        text(StatusCode::BAD_GATEWAY, "upstream unreachable")
    }
}

/// Copies bytes both ways between an upgraded client and upstream connection.
async fn tunnel(client: hyper::upgrade::OnUpgrade, upstream: hyper::upgrade::OnUpgrade) {
    let (client, upstream) = match (client.await, upstream.await) {
        (Ok(c), Ok(u)) => (c, u),
        _ => return,
    };
    let mut client = TokioIo::new(client);
    let mut upstream = TokioIo::new(upstream);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}
