//! Phases 4 and 5 of forwarding: a `101` becomes a tunnel (WebSocket only), any other answer is
//! finished for the client — hop-by-hop headers removed, the route's response rules and HSTS
//! applied, its body carrying the upstream connection and slot until it has been passed on.

use super::super::empty_body;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::BodyExt;

use super::super::encode::body::EncodedBody;
use super::super::encode::{self, CompressPolicy, Negotiated};
use super::super::forwarded::strip_hop_by_hop;
use super::super::tunnel::Tunnel;
use super::super::upgrade::names_websocket;
use super::super::upstream_error::UpstreamError;
use super::super::upstreams::answer::AnswerBody;
use super::super::{ConnInfo, EdgeBody};
use super::attempt::Answered;
use super::Refusal;
use crate::routes::Route;

/// Phase 4: the upstream switched protocols. Only the WebSocket upgrade the client asked for
/// opens a tunnel (handed to the connection in `tunnel`, which runs it once the `101` is out);
/// any other `101` would turn the connection into one certgate no longer checks.
pub(super) fn open_tunnel(
    answered: Answered,
    client_upgrade: Option<hyper::upgrade::OnUpgrade>,
    grpc: bool,
    tunnel: &mut Option<Tunnel>,
) -> Result<Response<EdgeBody>, Refusal> {
    let Answered {
        mut response,
        checkin,
        ..
    } = answered;
    let Some(client_upgrade) = client_upgrade.filter(|_| names_websocket(response.headers()))
    else {
        return Err(Refusal::Upstream {
            failure: UpstreamError::UnexpectedUpgrade,
            upstream: String::new(),
            detail: String::new(),
            grpc,
        });
    };
    // The connection is the tunnel's now, never idle in the pool again: dropping its checkin
    // lets it finish the upgrade on a task of its own.
    drop(checkin);
    let upstream_upgrade = hyper::upgrade::on(&mut response);
    *tunnel = Some(Tunnel::between(client_upgrade, upstream_upgrade));
    let (parts, _) = response.into_parts();
    Ok(Response::from_parts(parts, empty_body()))
}

/// Phase 5: the answer as the client gets it (compressed when the route and the client agree).
pub(super) fn finish(
    answered: Answered,
    route: &Route,
    conn: &ConnInfo,
    negotiated: Option<Negotiated>,
    compress: &CompressPolicy,
) -> Response<EdgeBody> {
    let Answered {
        response,
        slot,
        checkin,
        ..
    } = answered;
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
    match negotiated.and_then(|n| encode::decide(&mut parts, n, compress)) {
        Some(coding) => Response::from_parts(parts, EncodedBody::new(body, coding).boxed()),
        None => Response::from_parts(parts, body),
    }
}

/// A failed gRPC call as gRPC clients understand it: `200`, no body, `grpc-status` and
/// `grpc-message` in the (trailers-only) head.
pub(super) fn grpc_error(failure: UpstreamError, detail: &str) -> Response<EdgeBody> {
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

/// Whether the answer switches protocols (phase 4 instead of 5).
pub(super) fn is_upgrade(answered: &Answered) -> bool {
    answered.response.status() == StatusCode::SWITCHING_PROTOCOLS
}
