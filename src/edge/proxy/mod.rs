//! Forwarding a request to its route's upstream (`docs/edge.md`): the host checks in their order
//! (`400`, `421`, `404`), then the phases, each in a file of its own, pingora's shape over the
//! request's [`RequestCtx`]:
//!
//! 1. [`request`]: prepare the request — hop-by-hop headers removed, `X-Forwarded-*` set, the
//!    route's rules applied, the body behind its deadlines;
//! 2. and 3. [`attempt`]: pick an upstream and attempt the exchange, trying the next one when
//!    nothing reached the first and the request may go again; an answer or a classified
//!    failure;
//! 4. [`response`]: a `101` becomes a WebSocket tunnel;
//! 5. [`response`]: any other answer is finished for the client (bodies stream both ways).
//!
//! `502` when the upstream refuses, `504` when it is slow; gRPC clients get gRPC statuses.

mod attempt;
mod request;
mod response;

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use super::body_timeout::BodyLimits;
use super::context::{Outcome, RequestCtx};
use super::tunnel::Tunnel;
use super::upstream_error::UpstreamError;
use super::upstreams::set::UpstreamSet;
use super::upstreams::Upstreams;
use super::{text, text_owned, ConnInfo, EdgeBody};
use crate::config::Config;
use crate::routes::table::RouteTable;
use crate::routes::Route;
use attempt::AttemptLimits;
use request::Prepared;

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
            Err(Refusal::Local(response)) => *response,
            Err(Refusal::Upstream {
                failure,
                upstream,
                detail,
                grpc,
            }) => {
                tracing::warn!(hostname = %route.hostname, upstream, failure = failure.label(), detail, "upstream request failed");
                ctx.outcome = Outcome::UpstreamFailed(failure);
                if grpc {
                    response::grpc_error(failure, &detail)
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

    /// [`Proxy::forward`] without the bookkeeping: the phases in their order.
    async fn send(
        &self,
        req: Request<Incoming>,
        route: &Arc<Route>,
        set: &UpstreamSet,
        host: &str,
        conn: &ConnInfo,
        tunnel: &mut Option<Tunnel>,
    ) -> Result<Response<EdgeBody>, Refusal> {
        let retries = set.members.len() > 1 && self.config.upstream_retries > 0;
        let mut prepared = Prepared::new(req, route, host, conn, self.body_limits, retries)?;
        let limits = AttemptLimits {
            retries: self.config.upstream_retries,
            queue_timeout: self.config.upstream_queue_timeout,
            upstream_timeout: self.config.upstream_timeout,
        };
        let answered = attempt::attempts(&mut prepared, route, set, limits).await?;
        if response::is_upgrade(&answered) {
            let client_upgrade = prepared.client_upgrade.take();
            return response::open_tunnel(answered, client_upgrade, prepared.grpc, tunnel);
        }
        Ok(response::finish(answered, route, conn))
    }
}

/// Why [`Proxy::send`] produced no upstream answer.
enum Refusal {
    /// certgate answers itself (the request or the route cannot be used).
    Local(Box<Response<EdgeBody>>),
    /// The upstream exchange failed: how, with which upstream, why in a line, and whether the
    /// client speaks gRPC (it gets a gRPC status instead of an HTTP error).
    Upstream {
        failure: UpstreamError,
        upstream: String,
        detail: String,
        grpc: bool,
    },
}
