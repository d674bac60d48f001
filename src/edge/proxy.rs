//! Forwarding a request to its route's upstream (`docs/edge.md`): the host checks in their order
//! (`400`, `421`, `404`), hop-by-hop headers removed, `X-Forwarded-*` set, bodies streamed both
//! ways, WebSocket upgrades tunnelled, `502` when the upstream refuses, `504` when it is slow.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONNECTION, HOST, TE, UPGRADE};
use http::uri::{Authority, PathAndQuery};
use http::{HeaderValue, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;

use super::body_timeout::{BodyLimits, SendProgress, TimedBody};
use super::context::{Outcome, RequestCtx};
use super::forwarded::{set_forwarded, strip_hop_by_hop};
use super::tunnel::Tunnel;
use super::upgrade::{is_websocket_handshake, names_websocket};
use super::upstream_error::{describe, UpstreamError};
use super::upstreams::answer::AnswerBody;
use super::upstreams::set::{Tried, UpstreamSet};
use super::upstreams::slots::{QueueTimedOut, Slot};
use super::upstreams::Upstreams;
use super::{text, text_owned, ConnInfo, EdgeBody};
use crate::config::Config;
use crate::metrics::route::RouteMetrics;
use crate::routes::table::RouteTable;
use crate::routes::validate::UpstreamScheme;
use crate::routes::Route;

/// Forwards requests to routes' upstreams.
#[derive(Clone)]
pub struct Proxy {
    pub routes: Arc<RouteTable>,
    /// Every route's upstreams: their connections, balancing, health.
    pub upstreams: Arc<Upstreams>,
    config: Arc<Config>,
    body_limits: BodyLimits,
    /// `ON_DEMAND_UPSTREAM` as a route, made once. Its hostname is `on-demand`: metrics and logs
    /// get one label for every customer host (unbounded in number); the request's own host is
    /// still what is forwarded.
    on_demand_route: Option<Arc<Route>>,
}

impl Proxy {
    pub fn new(routes: Arc<RouteTable>, upstreams: Arc<Upstreams>, config: Arc<Config>) -> Proxy {
        let on_demand_route = config
            .on_demand
            .as_ref()
            .and_then(|o| o.upstream.clone())
            .map(|upstream| {
                Arc::new(Route {
                    hostname: crate::on_demand::OWNER.to_owned(),
                    upstream,
                    https_redirect: true,
                    preserve_host: true,
                    owner_token_hash: crate::on_demand::OWNER.to_owned(),
                    ..Route::default()
                })
            });
        Proxy {
            on_demand_route,
            routes,
            upstreams,
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
        let set = match self.upstreams.for_route(&route) {
            Ok(set) => set,
            Err(why) => {
                tracing::warn!(hostname = %route.hostname, why, "route's upstreams unusable");
                ctx.route = Some(route);
                return text(StatusCode::BAD_GATEWAY, "route has an unusable upstream");
            }
        };
        ctx.route_metrics = Some(set.metrics.clone());
        let started = std::time::Instant::now();
        let result = self
            .send(req, &route, &set, host, conn, &mut ctx.tunnel)
            .await;
        let elapsed = started.elapsed();
        set.metrics.observe_upstream(elapsed.as_secs_f64());
        ctx.upstream_time = Some(elapsed);
        let response = match result {
            Ok(response) => {
                ctx.outcome = Outcome::Forwarded;
                response
            }
            Err(Refusal::Local(response)) => response,
            Err(Refusal::Upstream {
                failure,
                upstream,
                detail,
                grpc,
            }) => {
                tracing::warn!(hostname = %route.hostname, upstream, failure = failure.label(), detail, "upstream request failed");
                ctx.outcome = Outcome::UpstreamFailed(failure);
                if grpc {
                    grpc_error(failure, &detail)
                } else {
                    let (status, body) = failure.answer();
                    if failure == UpstreamError::Tls {
                        text_owned(status, Bytes::from(format!("{body}: {detail}\n")))
                    } else {
                        text(status, body)
                    }
                }
            }
        };

        ctx.route = Some(route);
        response
    }

    /// [`Proxy::forward`] without the bookkeeping.
    async fn send(
        &self,
        mut req: Request<Incoming>,
        route: &Arc<Route>,
        set: &UpstreamSet,
        host: &str,
        conn: &ConnInfo,
        tunnel: &mut Option<Tunnel>,
    ) -> Result<Response<EdgeBody>, Refusal> {
        let websocket = is_websocket_handshake(&req);
        let client_upgrade = websocket.then(|| hyper::upgrade::on(&mut req));
        let original_host = req.headers().get(HOST).cloned().or_else(|| {
            req.uri()
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        });
        let (mut parts, body) = req.into_parts();
        let grpc = is_grpc(&parts.headers);
        let trailers_wanted = wants_trailers(&parts.headers);
        strip_hop_by_hop(&mut parts.headers);
        // The client's own `Host` value, shared rather than copied, when it is text.
        let forwarded_host = match original_host.as_ref().filter(|h| h.to_str().is_ok()) {
            Some(sent) => sent.clone(),
            None => HeaderValue::from_str(host).map_err(|_| {
                Refusal::Local(text(StatusCode::BAD_REQUEST, "unusable Host header"))
            })?,
        };
        set_forwarded(
            &mut parts.headers,
            &conn.peer_value,
            conn.https,
            forwarded_host,
            conn.trusted,
        );
        let path = parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        // The client's host, when the route preserves it; else each upstream's own authority.
        let preserved = match original_host.filter(|_| route.preserve_host) {
            Some(host) => match Authority::try_from(host.as_bytes()) {
                Ok(authority) => Some((authority, host)),
                Err(_) => {
                    return Err(Refusal::Local(text(
                        StatusCode::BAD_REQUEST,
                        "unusable Host header",
                    )))
                }
            },
            None => None,
        };
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
        let bodiless = http_body::Body::is_end_stream(&body);
        let (body, progress) = if bodiless {
            (BodyExt::boxed(body.map_err(Into::into)), None)
        } else {
            let timed = TimedBody::new(body, self.body_limits);
            let progress = timed.progress();
            (BodyExt::boxed(timed), Some(progress))
        };
        // Only a request that can be sent again as it was may go to a second upstream, or again
        // on a new connection when the upstream drops a kept-alive one under it.
        let replayable = bodiless && parts.method.is_idempotent();
        let mut retries_left = if replayable && set.members.len() > 1 {
            self.config.upstream_retries
        } else {
            0
        };
        let template = (retries_left > 0).then(|| (parts.method.clone(), parts.headers.clone()));
        let mut pending = Some((parts, body));
        let mut tried: Tried = 0;
        let mut last_failure = None;
        let (slot, checkin);
        let mut response = loop {
            let Some(i) = set.pick(tried) else {
                let (failure, upstream, detail) = last_failure.unwrap_or((
                    UpstreamError::NoneHealthy,
                    String::new(),
                    "every upstream is out of rotation".to_owned(),
                ));
                return Err(Refusal::Upstream {
                    failure,
                    upstream,
                    detail,
                    grpc,
                });
            };
            tried |= 1 << i;
            let member = &set.members[i];
            let (mut parts, body) = match (pending.take(), &template) {
                (Some(first), _) => first,
                (None, Some((method, headers))) => {
                    let mut again = Request::new(empty_body()).into_parts();
                    again.0.method = method.clone();
                    again.0.headers = headers.clone();
                    again
                }
                (None, None) => unreachable!("only a retryable request is sent twice"),
            };
            let (authority, host_value) = match &preserved {
                Some((authority, host)) => (authority.clone(), host.clone()),
                None => (member.uri_authority.clone(), member.host_value.clone()),
            };
            parts.uri = member.request_uri(authority, path.clone());
            parts.version = Version::HTTP_11;
            parts.headers.insert(HOST, host_value);
            if trailers_wanted && member.scheme != UpstreamScheme::Http {
                // gRPC needs it, and HTTP/2 allows exactly this `TE` (HTTP/1.1 hops drop it).
                parts
                    .headers
                    .insert(TE, HeaderValue::from_static("trailers"));
            }
            // Waits in line when the upstream is at UPSTREAM_MAX_CONNECTIONS. An answer's slot
            // goes with its body (below), so it is held until the answer has been passed on; a
            // failed attempt's is given back before the next upstream is tried.
            let queued = member.slots.wait(self.config.upstream_queue_timeout).await;
            record_time_in_line(&set.metrics, &queued, self.config.upstream_queue_timeout);
            let Ok(held) = queued else {
                return Err(Refusal::Upstream {
                    failure: UpstreamError::QueueTimeout,
                    upstream: member.url.clone(),
                    detail: String::new(),
                    grpc,
                });
            };
            let in_flight = member.health.start();
            let sent = member
                .client
                .send(Request::from_parts(parts, body), replayable);
            let outcome =
                within_upstream_timeout(sent, progress.as_deref(), self.config.upstream_timeout)
                    .await;
            drop(in_flight);
            let e = match outcome {
                None => {
                    return Err(Refusal::Upstream {
                        failure: UpstreamError::Timeout,
                        upstream: member.url.clone(),
                        detail: String::new(),
                        grpc,
                    })
                }
                Some(Ok((response, lent))) => {
                    member.health.succeeded();
                    slot = held;
                    checkin = lent;
                    break response;
                }
                Some(Err(e)) => e,
            };
            let failure = UpstreamError::classify(&e);
            let detail = describe(&e);
            tracing::debug!(upstream = %member.url, detail, "upstream client error");
            if failure.before_sending() && member.health.connect_failed(&detail, set.eject) {
                tracing::warn!(hostname = %route.hostname, upstream = %member.url, detail, "upstream ejected after failing to connect");
            }
            if failure.before_sending() && retries_left > 0 {
                retries_left -= 1;
                last_failure = Some((failure, member.url.clone(), detail));
                continue;
            }
            return Err(Refusal::Upstream {
                failure,
                upstream: member.url.clone(),
                detail,
                grpc,
            });
        };
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            // Only the WebSocket upgrade the client asked for opens a tunnel; any other 101
            // would turn the connection into one certgate no longer checks.
            let Some(client_upgrade) =
                client_upgrade.filter(|_| names_websocket(response.headers()))
            else {
                return Err(Refusal::Upstream {
                    failure: UpstreamError::UnexpectedUpgrade,
                    upstream: String::new(),
                    detail: String::new(),
                    grpc,
                });
            };
            // The connection is the tunnel's now, never idle in the pool again: dropping its
            // checkin lets it finish the upgrade on a task of its own. The tunnel itself runs
            // on the client connection's task once the `101` is out (`super::tunnel`).
            drop(checkin);
            let upstream_upgrade = hyper::upgrade::on(&mut response);
            *tunnel = Some(Tunnel::between(client_upgrade, upstream_upgrade));
            let (parts, _) = response.into_parts();
            return Ok(Response::from_parts(parts, empty_body()));
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
        // The connection (plain upstreams) and the slot are given back when the body ends.
        let body = if slot.is_none() && checkin.is_none() {
            body.boxed()
        } else {
            AnswerBody::new(body, checkin, slot).boxed()
        };
        Ok(Response::from_parts(parts, body))
    }
}

/// Why [`Proxy::send`] produced no upstream answer.
enum Refusal {
    /// certgate answers itself (the request or the route cannot be used).
    Local(Response<EdgeBody>),
    /// The upstream exchange failed: how, with which upstream, why in a line, and whether the
    /// client speaks gRPC (it gets a gRPC status instead of an HTTP error).
    Upstream {
        failure: UpstreamError,
        upstream: String,
        detail: String,
        grpc: bool,
    },
}

/// The upstream's answer (`None`: it took longer than `timeout` from the end of the request —
/// from the start for a request without a body, from the body's last piece otherwise, so a long
/// upload is not cut by it but an upstream that stops taking the body is).
async fn within_upstream_timeout<T>(
    sent: impl std::future::Future<Output = T>,
    progress: Option<&SendProgress>,
    timeout: std::time::Duration,
) -> Option<T> {
    match progress {
        None => tokio::time::timeout(timeout, sent).await.ok(),
        Some(progress) => tokio::select! {
            answer = sent => Some(answer),
            _ = progress.quiet_for(timeout) => None,
        },
    }
}

/// `certgate_upstream_queue_seconds`: how long a request waited for its slot, if it waited (one
/// refused waited the whole `queue_timeout`).
fn record_time_in_line(
    metrics: &RouteMetrics,
    queued: &Result<Option<Slot>, QueueTimedOut>,
    queue_timeout: std::time::Duration,
) {
    let waited = match queued {
        Ok(held) => held.as_ref().and_then(|slot| slot.waited),
        Err(QueueTimedOut) => Some(queue_timeout),
    };
    if let Some(waited) = waited {
        metrics.observe_queue(waited.as_secs_f64());
    }
}

/// A gRPC request (`content-type: application/grpc…`).
fn is_grpc(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// The client said `TE: trailers` (gRPC clients do; gRPC servers insist on it).
fn wants_trailers(headers: &http::HeaderMap) -> bool {
    headers.get_all(TE).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("trailers"))
        })
    })
}

/// A failed gRPC call as gRPC clients understand it: `200`, no body, `grpc-status` and
/// `grpc-message` in the (trailers-only) head.
fn grpc_error(failure: UpstreamError, detail: &str) -> Response<EdgeBody> {
    let mut response = Response::new(empty_body());
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.insert(
        "grpc-status",
        HeaderValue::from_static(failure.grpc_status()),
    );
    let (_, text) = failure.answer();
    let message = if detail.is_empty() {
        text.to_owned()
    } else {
        format!("{text}: {detail}")
    };
    // grpc-message is percent-encoded; keep it to printable ASCII without `%`.
    let message: String = message
        .chars()
        .map(|c| {
            if (c.is_ascii_graphic() && c != '%') || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if let Ok(value) = HeaderValue::from_str(&message) {
        headers.insert("grpc-message", value);
    }
    response
}

/// An empty body of the edge's body type.
fn empty_body<E>() -> http_body_util::combinators::BoxBody<Bytes, E> {
    Full::new(Bytes::new())
        .map_err(|never| match never {})
        .boxed()
}
