//! Phase 1 of forwarding: the client's request made ready to go upstream — hop-by-hop headers
//! removed, `X-Forwarded-*` set, the route's request header rules applied, the host to send
//! decided, the body put behind its deadlines — and, for each attempt, the request for one
//! upstream.

use std::sync::Arc;

use http::header::{CONNECTION, HOST, TE, UPGRADE};
use http::request::Parts;
use http::uri::{Authority, PathAndQuery};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Version};
use http_body_util::BodyExt;

use super::super::body_timeout::{BodyLimits, SendProgress, TimedBody};
use super::super::encode::Negotiated;
use super::super::forwarded::{set_client_cert, set_forwarded, strip_hop_by_hop};
use super::super::shared_values::{self, HostName};
use super::super::upgrade::is_websocket_handshake;
use super::super::upstreams::client::UpstreamBody;
use super::super::upstreams::set::Member;
use super::super::{text, ConnInfo};
use super::ClientBody;
use super::Refusal;
use crate::edge::empty_body;
use crate::routes::validate::UpstreamScheme;
use crate::routes::Route;

/// A request ready to go upstream.
pub struct Prepared {
    /// The first attempt's head and body (taken by it).
    first: Option<(Parts, UpstreamBody)>,
    /// What a retry sends instead (a bodiless idempotent request, when retries are possible).
    /// Boxed: only routes with several upstreams have one, and this is moved with every
    /// request's state (120 bytes inline).
    template: Option<Box<(Method, HeaderMap)>>,
    path: PathAndQuery,
    /// The client's host, when the route preserves it: every attempt's authority and `Host`.
    preserved: Option<(Authority, HeaderValue)>,
    /// The client speaks gRPC: a failure is answered in gRPC's terms.
    pub grpc: bool,
    /// The client asked for trailers (`TE: trailers`), forwarded to HTTP/2 upstreams.
    trailers_wanted: bool,
    /// The client's side of a WebSocket handshake, to tunnel if the upstream agrees.
    pub client_upgrade: Option<hyper::upgrade::OnUpgrade>,
    /// What the client takes of the route's `encode` (`None`: the route compresses nothing).
    pub negotiated: Option<Negotiated>,
    /// Idempotent and bodiless: it may go to another upstream, or again on a new connection.
    pub replayable: bool,
    /// When the upstream last took a piece of the body (`None`: no body).
    pub progress: Option<Arc<SendProgress>>,
}

impl Prepared {
    /// Prepares `req` for `route`; `host` is its checked host. `retries` says whether a retry
    /// may follow (then the head is kept for it).
    pub fn new<B: ClientBody>(
        mut req: Request<B>,
        route: &Route,
        host: &HostName,
        conn: &ConnInfo,
        body_limits: BodyLimits,
        retries: bool,
    ) -> Result<Prepared, Refusal> {
        let websocket = is_websocket_handshake(&req);
        let client_upgrade = websocket.then(|| hyper::upgrade::on(&mut req));
        let original_host = original_host(&req, host);
        let (mut parts, body) = req.into_parts();
        let grpc = is_grpc(&parts.headers);
        let negotiated = Negotiated::for_request(&route.encode, &parts.method, &parts.headers);
        let trailers_wanted = wants_trailers(&parts.headers);
        strip_hop_by_hop(&mut parts.headers);
        set_forwarding_headers(
            &mut parts.headers,
            original_host.as_ref(),
            host,
            route,
            conn,
        )?;
        let path = parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        // The client's host, when the route preserves it; else each upstream's own authority.
        let preserved = match original_host.filter(|_| route.preserve_host) {
            // In shared bytes: every attempt clones it.
            Some(host) => {
                match Authority::from_maybe_shared(shared_values::copy(host.as_bytes())) {
                    Ok(authority) => Some((authority, host)),
                    Err(_) => return Err(unusable_host()),
                }
            }
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
        // A request without a body (most GETs) needs no deadline, and no timer is made for it;
        // its ended body is dropped here and an empty one (no allocation) goes upstream.
        let bodiless = http_body::Body::is_end_stream(&body);
        let (body, progress) = if bodiless {
            (empty_body(), None)
        } else {
            let timed = TimedBody::new(body, body_limits);
            let progress = timed.progress();
            (BodyExt::boxed(timed), Some(progress))
        };
        // Only a request that can be sent again as it was may go to a second upstream, or again
        // on a new connection when the upstream drops a kept-alive one under it.
        let replayable = bodiless && parts.method.is_idempotent();
        let template = (replayable && retries)
            .then(|| Box::new((parts.method.clone(), parts.headers.clone())));
        Ok(Prepared {
            first: Some((parts, body)),
            template,
            path,
            preserved,
            grpc,
            trailers_wanted,
            client_upgrade,
            negotiated,
            replayable,
            progress,
        })
    }

    /// Whether another upstream may be tried after a failed attempt.
    pub fn may_retry(&self) -> bool {
        self.template.is_some()
    }

    /// The request for one attempt at `member`: the client's the first time, the kept head
    /// (without a body) after that.
    pub fn request_for(&mut self, member: &Member) -> Request<UpstreamBody> {
        let (mut parts, body) = match (self.first.take(), &self.template) {
            (Some(first), _) => first,
            (None, Some(template)) => {
                let (method, headers) = &**template;
                let mut again = Request::new(empty_body()).into_parts();
                again.0.method = method.clone();
                again.0.headers = headers.clone();
                again
            }
            (None, None) => unreachable!("only a retryable request is sent twice"),
        };
        let (authority, host_value) = match &self.preserved {
            Some((authority, host)) => (authority.clone(), host.clone()),
            None => (member.uri_authority.clone(), member.host_value.clone()),
        };
        parts.uri = member.request_uri(authority, self.path.clone());
        parts.version = Version::HTTP_11;
        parts.headers.insert(HOST, host_value);
        if self.trailers_wanted && member.scheme != UpstreamScheme::Http {
            // gRPC needs it, and HTTP/2 allows exactly this `TE` (HTTP/1.1 hops drop it).
            parts
                .headers
                .insert(TE, HeaderValue::from_static("trailers"));
        }
        Request::from_parts(parts, body)
    }
}

/// The host as the client sent it: its `Host` header, else its `:authority` (HTTP/2), which
/// is usually the checked host itself and then shares its bytes.
fn original_host<B>(req: &Request<B>, host: &HostName) -> Option<HeaderValue> {
    if let Some(sent) = req.headers().get(HOST) {
        return Some(sent.clone());
    }
    let authority = req.uri().authority()?.as_str();
    if authority == host.as_str() {
        host.header_value()
    } else {
        shared_values::header_value(authority.as_bytes()).ok()
    }
}

fn unusable_host() -> Refusal {
    Refusal::Local(Box::new(text(
        StatusCode::BAD_REQUEST,
        "unusable Host header",
    )))
}

/// A gRPC request (`content-type: application/grpc…`).
fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// The client said `TE: trailers` (gRPC clients do; gRPC servers insist on it).
fn wants_trailers(headers: &HeaderMap) -> bool {
    headers.get_all(TE).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("trailers"))
        })
    })
}

/// `X-Forwarded-*` (the client's own `Host` value shared rather than copied when it is text)
/// and RFC 9440 `Client-Cert` (the verified certificate on a route that forwards it; any the
/// client sent removed).
fn set_forwarding_headers(
    headers: &mut HeaderMap,
    original_host: Option<&HeaderValue>,
    host: &HostName,
    route: &Route,
    conn: &ConnInfo,
) -> Result<(), Refusal> {
    // The client's own `Host` value, shared rather than copied, when it is text.
    let forwarded_host = match original_host.filter(|h| h.to_str().is_ok()) {
        Some(sent) => sent.clone(),
        None => host.header_value().ok_or_else(unusable_host)?,
    };
    set_forwarded(
        headers,
        &conn.peer_value,
        conn.https,
        forwarded_host,
        conn.trusted,
    );
    let forwarded_cert = conn
        .client
        .as_ref()
        .filter(|_| route.client_auth.as_ref().is_some_and(|a| a.forward))
        .map(|client| client.chain.as_slice());
    set_client_cert(headers, forwarded_cert);
    Ok(())
}
