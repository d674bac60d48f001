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
use futures_util::future::Either;
use http::{Request, Response, StatusCode};

use super::body_timeout::BodyLimits;
use super::context::{Outcome, RequestCtx};
use super::rate_limit::{self, RateLimiter, Verdict};
use super::shared_values::HostName;
use super::upstream_error::UpstreamError;
use super::upstreams::set::UpstreamSet;
use super::upstreams::Upstreams;
use super::{text, text_owned, ConnInfo, EdgeBody};
use crate::config::Config;
use crate::routes::table::RouteTable;
use crate::routes::Route;
use attempt::AttemptLimits;
use request::Prepared;

/// A client's request body, whichever protocol carried it: hyper's `Incoming` for HTTP/1.1 and
/// HTTP/2 — the phases do not depend on it, so another transport can feed them.
pub trait ClientBody:
    http_body::Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>>
    + Send
    + Sync
    + Unpin
    + 'static
{
}

impl<B> ClientBody for B where
    B: http_body::Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>>
        + Send
        + Sync
        + Unpin
        + 'static
{
}

/// Forwards requests to routes' upstreams.
#[derive(Clone)]
pub struct Proxy {
    /// Routes by hostname.
    pub routes: Arc<RouteTable>,
    /// Every route's upstreams: their connections, balancing, health.
    pub upstreams: Arc<Upstreams>,
    config: Arc<Config>,
    body_limits: BodyLimits,
    /// Routes' rate limits, counted with the cluster.
    limiter: Arc<RateLimiter>,
    /// `ON_DEMAND_UPSTREAM` as a route, made once. Its hostname is `on-demand`: metrics and logs
    /// get one label for every customer host (unbounded in number); the request's own host is
    /// still what is forwarded.
    on_demand_route: Option<Arc<Route>>,
}

impl Proxy {
    /// A proxy over `routes`, reaching them through `upstreams`, counting rate limits with
    /// `limiter`.
    pub fn new(
        routes: Arc<RouteTable>,
        upstreams: Arc<Upstreams>,
        limiter: Arc<RateLimiter>,
        config: Arc<Config>,
    ) -> Proxy {
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
            limiter,
            routes,
            upstreams,
            body_limits: BodyLimits {
                between_reads: config.limits.body_read_timeout,
                min_rate: config.limits.body_min_rate,
            },
            config,
        }
    }

    /// Answers one request arriving on the HTTPS edge: the host checks in their order, then
    /// the route.
    ///
    /// Not an `async fn`: everything up to the first wait (the checks, the route, the request
    /// prepared) runs now, and the future returned holds the prepared request only — an `async
    /// fn` keeps each of its arguments for its whole life, so every layer taking the request
    /// would add a copy of it to the future that is moved into its box for every request.
    // The `Err` of these steps is the answer itself, built once on the rare path and returned.
    #[allow(clippy::result_large_err)]
    pub fn handle<'a, B: ClientBody>(
        &'a self,
        req: Request<B>,
        conn: &'a ConnInfo,
        ctx: &'a mut RequestCtx,
    ) -> impl std::future::Future<Output = Response<EdgeBody>> + Send + 'a {
        let routed = self.route_for(&req, conn, ctx).and_then(|(route, host)| {
            self.admit_client(&req, &route, conn, ctx)
                .map(|()| (route, host))
        });
        let started = routed.and_then(|(route, host)| self.start(req, route, &host, conn, ctx));
        match started {
            Ok(forwarding) => Either::Left(self.forward(forwarding, conn, ctx)),
            Err(response) => Either::Right(std::future::ready(response)),
        }
    }

    /// The host checks in their order (`400`, `421`, `404`) and the route; the host with it.
    #[allow(clippy::result_large_err)]
    fn route_for<B>(
        &self,
        req: &Request<B>,
        conn: &ConnInfo,
        ctx: &mut RequestCtx,
    ) -> Result<(Arc<Route>, HostName), Response<EdgeBody>> {
        let host = match ctx.parse_host(req) {
            Ok(h) => h.clone(),
            Err(why) => return Err(text(StatusCode::BAD_REQUEST, why)),
        };
        // The host as text once: each `HostName::as_str` checks its bytes again (≈ 110
        // instructions).
        let name = host.as_str();
        if let Some(sni) = &conn.sni {
            let covered = || conn.served.as_ref().is_some_and(|c| c.covers(name));
            if name != sni && !covered() {
                return Err(text(
                    StatusCode::MISDIRECTED_REQUEST,
                    "this connection's certificate does not cover the requested host",
                ));
            }
        }
        let Some(route) = self
            .routes
            .get(name)
            .or_else(|| self.on_demand_route(name, conn))
        else {
            return Err(text(StatusCode::NOT_FOUND, "no route for this host"));
        };
        let admitted = match &conn.client {
            Some(client) => client.admits(&route),
            None => route.client_auth.is_none(),
        };
        if !admitted {
            return Err(text(
                StatusCode::MISDIRECTED_REQUEST,
                "this host checks client certificates differently from this connection's handshake",
            ));
        }
        if conn.https && route.min_tls_version > conn.tls_version {
            return Err(text(
                StatusCode::MISDIRECTED_REQUEST,
                "this host requires a newer TLS version than this connection's",
            ));
        }
        Ok((route, host))
    }

    /// The route's `ip_rules` on the client's address (`403` when refused).
    #[allow(clippy::result_large_err)]
    fn admit_client<B>(
        &self,
        req: &Request<B>,
        route: &Route,
        conn: &ConnInfo,
        ctx: &mut RequestCtx,
    ) -> Result<(), Response<EdgeBody>> {
        let Some(rules) = &route.ip_rules else {
            return Ok(());
        };
        let client = ctx.client(req, conn.peer.ip(), &self.config.listeners.trusted_proxies);
        if rules.admits(client) {
            Ok(())
        } else {
            Err(text(
                StatusCode::FORBIDDEN,
                "this client address may not reach this host",
            ))
        }
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

    /// Phase 1, before any wait: the route's upstreams and the request prepared for them; or
    /// certgate's own answer when either cannot be had.
    #[allow(clippy::result_large_err)]
    pub fn start<B: ClientBody>(
        &self,
        mut req: Request<B>,
        route: Arc<Route>,
        host: &HostName,
        conn: &ConnInfo,
        ctx: &mut RequestCtx,
    ) -> Result<Forwarding, Response<EdgeBody>> {
        let set = match self.upstreams.for_route(&route) {
            Ok(set) => set,
            Err(why) => {
                tracing::warn!(hostname = %route.hostname, %why, "route's upstreams unusable");
                ctx.route = Some(route);
                return Err(text(
                    StatusCode::BAD_GATEWAY,
                    "route has an unusable upstream",
                ));
            }
        };
        ctx.route_metrics = Some(set.metrics.clone());
        ctx.request_id = Some(super::request_id::ensure(req.headers_mut()));
        let limit_key = route.rate_limit.as_ref().map(|limit| {
            let trusted = &self.config.listeners.trusted_proxies;
            let client = ctx.client(&req, conn.peer.ip(), trusted);
            rate_limit::key_of(limit, req.headers(), client)
        });
        let retries = set.members.len() > 1 && self.config.upstreams.retries > 0;
        match Prepared::new(req, &route, host, conn, self.body_limits, retries) {
            Ok(prepared) => Ok(Forwarding {
                route,
                limit_key,
                set,
                prepared,
            }),
            Err(refusal) => {
                let response = self.refused(refusal, &route, ctx);
                ctx.route = Some(route);
                Err(response)
            }
        }
    }

    /// Phases 2 to 5: sends the prepared request to the route's upstream and streams the answer
    /// back; records the route, the time to the response head and the outcome in `ctx`.
    ///
    /// An `async` block, not an `async fn`: an `async fn` moves each argument into a local of
    /// its body and keeps the argument's own place too, so `forwarding` (≈ 0.5 KiB) would be
    /// stored twice in a future that is copied into its box for every request.
    #[allow(clippy::manual_async_fn)] // stores `forwarding` once (above)
    pub fn forward<'a>(
        &'a self,
        mut forwarding: Forwarding,
        conn: &'a ConnInfo,
        ctx: &'a mut RequestCtx,
    ) -> impl std::future::Future<Output = Response<EdgeBody>> + Send + 'a {
        async move {
            if let Some(refused) = self.over_limit(&forwarding).await {
                ctx.route = Some(forwarding.route);
                return refused;
            }
            // The fields are used where they are (not destructured into locals): a local copy
            // would double them in the future.
            let limits = AttemptLimits {
                retries: self.config.upstreams.retries,
                queue_timeout: self.config.upstreams.queue_timeout,
                upstream_timeout: self.config.upstreams.timeout,
            };
            let attempted = attempt::attempts(
                &mut forwarding.prepared,
                &forwarding.route,
                &forwarding.set,
                limits,
            )
            .await;
            let route = &forwarding.route;
            if let (Ok(answered), Some(_)) = (&attempted, &ctx.access) {
                ctx.upstream = Some(forwarding.set.members[answered.member].url.clone());
            }
            let result = match attempted {
                Ok(answered) if response::is_upgrade(&answered) => {
                    let client_upgrade = forwarding.prepared.client_upgrade.take();
                    let grpc = forwarding.prepared.grpc;
                    response::open_tunnel(answered, client_upgrade, grpc, &mut ctx.tunnel)
                }
                Ok(answered) => Ok(response::finish(
                    answered,
                    route,
                    conn,
                    forwarding.prepared.negotiated,
                    &self.config.traffic.compress,
                )),
                Err(refusal) => Err(refusal),
            };
            // From the request's arrival (`ctx.started`), not a clock read of its own when
            // forwarding began: the phases between take microseconds, and each read of the
            // clock costs ≈ 0.2 % of a request's CPU (7 a request before).
            let elapsed = ctx.started.elapsed();
            forwarding
                .set
                .metrics
                .observe_upstream(elapsed.as_secs_f64());
            ctx.upstream_time = Some(elapsed);
            let response = match result {
                Ok(response) => {
                    ctx.outcome = Outcome::Forwarded;
                    response
                }
                Err(refusal) => self.refused(refusal, route, ctx),
            };
            ctx.route = Some(forwarding.route);
            response
        }
    }

    /// `429` with `Retry-After` when the route's rate limit refuses the request.
    async fn over_limit(&self, forwarding: &Forwarding) -> Option<Response<EdgeBody>> {
        let route = &forwarding.route;
        let (limit, key) = (route.rate_limit.as_ref()?, forwarding.limit_key.as_ref()?);
        let Verdict::Limited(wait) = self.limiter.admit(&route.hostname, limit, key).await else {
            return None;
        };
        crate::metrics::METRICS.rate_limited.inc(&[&route.hostname]);
        let mut response = text(
            StatusCode::TOO_MANY_REQUESTS,
            "rate limit exceeded; try again after Retry-After seconds",
        );
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        response.headers_mut().insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from(seconds.max(1)),
        );
        Some(response)
    }

    /// The answer for a request that got no upstream answer.
    fn refused(&self, refusal: Refusal, route: &Route, ctx: &mut RequestCtx) -> Response<EdgeBody> {
        match refusal {
            Refusal::Local(response) => *response,
            Refusal::Upstream {
                failure,
                upstream,
                detail,
                grpc,
            } => {
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
        }
    }
}

/// A request on its way: its route, the route's upstreams and the request prepared for them.
pub struct Forwarding {
    route: Arc<Route>,
    /// What the route's rate limit counts this request under (when it has one).
    limit_key: Option<String>,
    set: Arc<UpstreamSet>,
    prepared: Prepared,
}

/// Why forwarding produced no upstream answer.
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
