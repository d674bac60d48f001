//! The per-request context (pingora's `CTX` is the model): one struct carries what the edge
//! learns of a request — its parsed host, its route, timings, the outcome — from the handler
//! to the metrics and the access log, so nothing is parsed twice or smuggled through response
//! extensions.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::HOST;
use http::{Request, Version};

use super::access_log::AccessStart;
use super::shared_values::HostName;
use super::tunnel::Tunnel;
use super::upstream_error::UpstreamError;
use crate::metrics::route::RouteMetrics;
use crate::routes::host;
use crate::routes::Route;

/// What became of a request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Outcome {
    /// Answered by certgate itself (redirect, challenge, health, a refusal).
    #[default]
    Local,
    /// Forwarded, and the upstream's answer relayed.
    Forwarded,
    /// Forwarding failed; which side failed.
    UpstreamFailed(UpstreamError),
}

impl Outcome {
    /// The `outcome` metrics label.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Local => "local",
            Outcome::Forwarded => "forwarded",
            Outcome::UpstreamFailed(e) => e.label(),
        }
    }
}

/// One request's context, made when its head arrives.
#[derive(Debug)]
pub struct RequestCtx {
    /// When the request head arrived.
    pub started: Instant,
    /// The request's host after the checks of [`checked_host`], once a handler parsed it.
    pub host: Option<HostName>,
    /// The route that answered, once one was found.
    pub route: Option<Arc<Route>>,
    /// The route's series, once its upstreams were found: counted without a lookup.
    pub route_metrics: Option<Arc<RouteMetrics>>,
    /// Time until the upstream's response head, when forwarded.
    pub upstream_time: Option<Duration>,
    /// How it ended (answered, refused, failed upstream, …), for the log and metrics.
    pub outcome: Outcome,
    /// What the access log needs of the request head, kept only when the log is on. Boxed: the
    /// context is part of every request's state, which is written whole (72 bytes inline).
    pub access: Option<Box<AccessStart>>,
    /// The upstream that answered (its URL), recorded only when the access log is on.
    pub upstream: Option<String>,
    /// The WebSocket tunnel a `101` opened, for the connection to run once the answer is out.
    pub tunnel: Option<Tunnel>,
    /// `X-Request-Id` as forwarded upstream (the client's, or one made here).
    pub request_id: Option<http::HeaderValue>,
    /// The client's address once something asked for it (ip_rules, a rate limit, the access
    /// log): worked out once per request.
    pub client: Option<std::net::IpAddr>,
}

impl Default for RequestCtx {
    fn default() -> Self {
        RequestCtx::new()
    }
}

impl RequestCtx {
    /// The context of a request whose head just arrived (the access log's part is added by the
    /// connection when the log is on).
    pub fn new() -> RequestCtx {
        RequestCtx {
            started: Instant::now(),
            host: None,
            route: None,
            route_metrics: None,
            upstream_time: None,
            outcome: Outcome::Local,
            access: None,
            upstream: None,
            tunnel: None,
            request_id: None,
            client: None,
        }
    }

    /// The context of `req`, with what the access log needs of its head when the log is on
    /// (`trusted`: then the trusted proxies, to name the client behind them; `None` when off).
    pub fn of_request<B>(
        req: &Request<B>,
        peer: std::net::IpAddr,
        trusted: Option<&[ipnet::IpNet]>,
    ) -> RequestCtx {
        let mut ctx = RequestCtx::new();
        if let Some(trusted) = trusted {
            let client = ctx.client(req, peer, trusted);
            ctx.access = Some(Box::new(AccessStart::of(req, client)));
        }
        ctx
    }

    /// The client's address (`super::forwarded::client_address`), worked out on first use.
    pub fn client<B>(
        &mut self,
        req: &Request<B>,
        peer: std::net::IpAddr,
        trusted: &[ipnet::IpNet],
    ) -> std::net::IpAddr {
        *self
            .client
            .get_or_insert_with(|| super::forwarded::client_address(req.headers(), peer, trusted))
    }

    /// Parses and checks the request's host once; later calls return the same answer.
    pub fn parse_host<B>(&mut self, req: &Request<B>) -> Result<&HostName, &'static str> {
        match &mut self.host {
            Some(host) => Ok(host),
            empty => Ok(empty.insert(checked_host(req)?)),
        }
    }

    /// The route label for metrics and the access log: the route's hostname, else `-`.
    pub fn route_label(&self) -> &str {
        self.route.as_ref().map_or("-", |r| r.hostname.as_str())
    }
}

/// The request's host after the checks of `docs/edge.md`: one `Host` (HTTP/1) or the
/// `:authority` (HTTP/2, HTTP/3), equal to an absolute-form URI's host when both are given; normalised.
pub fn checked_host<B>(req: &Request<B>) -> Result<HostName, &'static str> {
    let mut values = req.headers().get_all(HOST).iter();
    let header = match (values.next(), values.next()) {
        (_, Some(_)) => return Err("duplicate Host header"),
        (Some(v), None) => Some(
            v.to_str()
                .ok()
                .and_then(host::normalized)
                .ok_or("invalid Host header")?,
        ),
        (None, None) => None,
    };
    let authority = match req.uri().authority() {
        Some(a) => Some(host::normalized(a.as_str()).ok_or("invalid request authority")?),
        None => None,
    };
    let host = match (header, authority) {
        (Some(h), Some(a)) if h != a => return Err("Host differs from the request's authority"),
        (Some(h), _) => h,
        (None, Some(a)) if matches!(req.version(), Version::HTTP_2 | Version::HTTP_3) => a,
        (None, _) => return Err("missing Host header"),
    };
    Ok(HostName::new(&host))
}
