//! Forwarding a request to its route's upstream (`docs/edge.md`): the host checks in their order
//! (`400`, `421`, `404`), hop-by-hop headers removed, `X-Forwarded-*` set, bodies streamed both
//! ways, WebSocket upgrades tunnelled, `502` when the upstream refuses, `504` when it is slow.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONNECTION, HOST, UPGRADE};
use http::{HeaderValue, Request, Response, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use super::body_timeout::{BodyLimits, TimedBody};
use super::context::{Outcome, RequestCtx};
use super::forwarded::{is_trusted, set_forwarded, strip_hop_by_hop};
use super::guarded_resolver::GuardedResolver;
use super::upgrade::{is_websocket_handshake, names_websocket};
use super::upstream_error::UpstreamError;
use super::{text, ConnInfo, EdgeBody};
use crate::config::Config;
use crate::routes::table::RouteTable;
use crate::routes::Route;

/// Forwards requests with a pooled HTTP/1.1 client.
#[derive(Clone)]
pub struct Proxy {
    pub routes: Arc<RouteTable>,
    client: Client<HttpConnector, UpstreamBody>,
    /// For routes a non-admin token wrote: resolves through [`GuardedResolver`].
    guarded: Client<HttpConnector<GuardedResolver>, UpstreamBody>,
    config: Arc<Config>,
    body_limits: BodyLimits,
    /// `ON_DEMAND_UPSTREAM` as a route, made once. Its hostname is `on-demand`: metrics and logs
    /// get one label for every customer host (unbounded in number); the request's own host is
    /// still what is forwarded.
    on_demand_route: Option<Arc<Route>>,
}

/// The body of a request on its way upstream: the client's, behind its deadline.
type UpstreamBody =
    http_body_util::combinators::BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

impl Proxy {
    pub fn new(routes: Arc<RouteTable>, config: Arc<Config>) -> Proxy {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(config.upstream_connect_timeout));
        connector.set_nodelay(true);
        let mut guarded = HttpConnector::new_with_resolver(GuardedResolver);
        guarded.set_connect_timeout(Some(config.upstream_connect_timeout));
        guarded.set_nodelay(true);
        let builder = || {
            let mut builder = Client::builder(TokioExecutor::new());
            builder
                .pool_idle_timeout(config.upstream_idle_timeout)
                .pool_max_idle_per_host(config.upstream_max_idle_per_host)
                .pool_timer(TokioTimer::new());
            builder
        };
        let on_demand_route = config
            .on_demand
            .as_ref()
            .and_then(|o| o.upstream.clone())
            .map(|upstream| {
                Arc::new(Route {
                    hostname: crate::on_demand::OWNER.to_owned(),
                    upstream,
                    cert_name: None,
                    https_redirect: true,
                    preserve_host: true,
                    hsts: None,
                    restricted_upstream: false,
                    request_headers: Default::default(),
                    response_headers: Default::default(),
                    owner_token_hash: crate::on_demand::OWNER.to_owned(),
                    created_at: String::new(),
                    updated_at: String::new(),
                })
            });
        Proxy {
            on_demand_route,
            routes,
            client: builder().build(connector),
            guarded: builder().build(guarded),
            body_limits: BodyLimits {
                between_reads: config.body_read_timeout,
                min_rate: config.body_min_rate,
            },
            config,
        }
    }

    /// Answers one request arriving on the HTTPS edge: the host checks in their order, then
    /// the route.
    pub async fn handle(
        &self,
        req: Request<Incoming>,
        conn: &ConnInfo,
        ctx: &mut RequestCtx,
    ) -> Response<EdgeBody> {
        let host = match ctx.parse_host(&req) {
            Ok(h) => h.to_owned(),
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
        let Some(route) = self
            .routes
            .get(&host)
            .or_else(|| self.on_demand_route(&host, conn))
        else {
            return text(StatusCode::NOT_FOUND, "no route for this host");
        };
        self.forward(req, route, &host, conn, ctx).await
    }

    /// For a host with no route whose connection is served a certificate covering it (an
    /// on-demand one, typically): the route to `ON_DEMAND_UPSTREAM`, when set.
    fn on_demand_route(&self, host: &str, conn: &ConnInfo) -> Option<Arc<Route>> {
        let route = self.on_demand_route.as_ref()?;
        conn.served
            .as_ref()
            .is_some_and(|c| c.covers(host))
            .then(|| route.clone())
    }

    /// Sends the request to the route's upstream and streams the answer back; records the
    /// route, the time to the response head and the outcome in `ctx`.
    pub async fn forward(
        &self,
        req: Request<Incoming>,
        route: Arc<Route>,
        host: &str,
        conn: &ConnInfo,
        ctx: &mut RequestCtx,
    ) -> Response<EdgeBody> {
        let started = std::time::Instant::now();
        let result = self.send(req, &route, host, conn).await;
        let elapsed = started.elapsed();
        crate::metrics::METRICS
            .upstream_seconds
            .observe(&[&route.hostname], elapsed.as_secs_f64());
        ctx.upstream_time = Some(elapsed);
        let response = match result {
            Ok(response) => {
                ctx.outcome = Outcome::Forwarded;
                response
            }
            Err(Refusal::Local(response)) => response,
            Err(Refusal::Upstream(failure)) => {
                tracing::warn!(hostname = %route.hostname, upstream = %route.upstream, failure = failure.label(), "upstream request failed");
                ctx.outcome = Outcome::UpstreamFailed(failure);
                let (status, body) = failure.answer();
                text(status, body)
            }
        };
        ctx.route = Some(route);
        response
    }

    /// [`Proxy::forward`] without the bookkeeping.
    async fn send(
        &self,
        mut req: Request<Incoming>,
        route: &Route,
        host: &str,
        conn: &ConnInfo,
    ) -> Result<Response<EdgeBody>, Refusal> {
        let unusable = || {
            Refusal::Local(text(
                StatusCode::BAD_GATEWAY,
                "route has an unusable upstream",
            ))
        };
        let base = route.upstream.parse::<Uri>().map_err(|_| unusable())?;
        let authority = base.authority().cloned().ok_or_else(unusable)?;
        let websocket = is_websocket_handshake(&req);
        let client_upgrade = websocket.then(|| hyper::upgrade::on(&mut req));
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
        parts.uri = format!("http://{authority}{path}")
            .parse()
            .map_err(|_| Refusal::Local(text(StatusCode::BAD_REQUEST, "unusable request path")))?;
        parts.version = Version::HTTP_11;
        let host_value = match (&original_host, route.preserve_host) {
            (Some(h), true) => h.clone(),
            _ => HeaderValue::from_str(authority.as_str())
                .unwrap_or_else(|_| HeaderValue::from_static("upstream")),
        };
        parts.headers.insert(HOST, host_value);
        route.request_headers.apply(&mut parts.headers);
        if websocket {
            parts
                .headers
                .insert(CONNECTION, HeaderValue::from_static("upgrade"));
            parts
                .headers
                .insert(UPGRADE, HeaderValue::from_static("websocket"));
        }
        // A request without a body (most GETs) needs no deadline, and no timer is made for it.
        let body = if http_body::Body::is_end_stream(&body) {
            BodyExt::boxed(body.map_err(Into::into))
        } else {
            BodyExt::boxed(TimedBody::new(body, self.body_limits))
        };
        let request = Request::from_parts(parts, body);
        let sent = if route.restricted_upstream {
            self.guarded.request(request)
        } else {
            self.client.request(request)
        };
        let response = tokio::time::timeout(self.config.upstream_timeout, sent).await;
        let mut response = match response {
            Err(_) => return Err(Refusal::Upstream(UpstreamError::Timeout)),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "upstream client error");
                return Err(Refusal::Upstream(UpstreamError::classify(&e)));
            }
            Ok(Ok(r)) => r,
        };
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            // Only the WebSocket upgrade the client asked for opens a tunnel; any other 101
            // would turn the connection into one certgate no longer checks.
            let Some(client_upgrade) =
                client_upgrade.filter(|_| names_websocket(response.headers()))
            else {
                return Err(Refusal::Upstream(UpstreamError::UnexpectedUpgrade));
            };
            {
                let upstream_upgrade = hyper::upgrade::on(&mut response);
                tokio::spawn(tunnel(client_upgrade, upstream_upgrade));
                let (parts, _) = response.into_parts();
                return Ok(Response::from_parts(
                    parts,
                    Full::new(Bytes::new())
                        .map_err(|never| match never {})
                        .boxed(),
                ));
            }
        }
        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        route.response_headers.apply(&mut parts.headers);
        if let (Some(hsts), true) = (&route.hsts, conn.https) {
            if let Ok(value) = HeaderValue::from_str(&hsts.header_value()) {
                parts
                    .headers
                    .insert(http::header::STRICT_TRANSPORT_SECURITY, value);
            }
        }
        Ok(Response::from_parts(parts, body.boxed()))
    }
}

/// Why [`Proxy::send`] produced no upstream answer.
enum Refusal {
    /// certgate answers itself (the request or the route cannot be used).
    Local(Response<EdgeBody>),
    /// The upstream exchange failed.
    Upstream(UpstreamError),
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
