//! Why forwarding failed, by which side failed — read from the error's types, never its text —
//! and what the client is told.

use http::StatusCode;

use super::body_timeout::BodyTimedOut;

/// Which side failed when a request could not be forwarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamError {
    /// The upstream refused the connection (or it could not be made).
    Connect,
    /// Connecting took longer than `UPSTREAM_CONNECT_TIMEOUT_SECONDS`.
    ConnectTimeout,
    /// The upstream did not answer within `UPSTREAM_TIMEOUT_SECONDS`.
    Timeout,
    /// The upstream closed or broke the connection before its answer was complete.
    Reset,
    /// The client's request body failed (malformed, or the client went away) while it was
    /// being forwarded.
    ClientBody,
    /// The client sent its request body too slowly (`BODY_READ_TIMEOUT_SECONDS`,
    /// `BODY_MIN_RATE_BYTES_PER_SECOND`); the upstream request was aborted.
    ClientBodyTimeout,
    /// The upstream switched protocols without being asked to, or to another protocol than the
    /// one asked for.
    UnexpectedUpgrade,
}

impl UpstreamError {
    /// Classifies an error of the pooled upstream client.
    pub fn classify(e: &hyper_util::client::legacy::Error) -> UpstreamError {
        if e.is_connect() {
            if source_chain(e).any(|s| {
                s.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
            }) {
                return UpstreamError::ConnectTimeout;
            }
            return UpstreamError::Connect;
        }
        if source_chain(e).any(|s| s.is::<BodyTimedOut>()) {
            return UpstreamError::ClientBodyTimeout;
        }
        let hyper_error = source_chain(e).find_map(|s| s.downcast_ref::<hyper::Error>());
        match hyper_error {
            // A user error while sending: the request body we were streaming failed.
            Some(h) if h.is_user() || h.is_body_write_aborted() => UpstreamError::ClientBody,
            _ => UpstreamError::Reset,
        }
    }

    /// The metrics label.
    pub fn label(&self) -> &'static str {
        match self {
            UpstreamError::Connect => "upstream_connect",
            UpstreamError::ConnectTimeout => "upstream_connect_timeout",
            UpstreamError::Timeout => "upstream_timeout",
            UpstreamError::Reset => "upstream_reset",
            UpstreamError::ClientBody => "client_body",
            UpstreamError::ClientBodyTimeout => "client_body_timeout",
            UpstreamError::UnexpectedUpgrade => "upstream_bad_upgrade",
        }
    }

    /// The status and text the client gets.
    pub fn answer(&self) -> (StatusCode, &'static str) {
        match self {
            UpstreamError::Connect => (StatusCode::BAD_GATEWAY, "upstream unreachable"),
            UpstreamError::ConnectTimeout => (
                StatusCode::GATEWAY_TIMEOUT,
                "upstream did not accept the connection in time",
            ),
            UpstreamError::Timeout => (
                StatusCode::GATEWAY_TIMEOUT,
                "upstream did not answer in time",
            ),
            UpstreamError::Reset => (
                StatusCode::BAD_GATEWAY,
                "upstream closed the connection before answering",
            ),
            UpstreamError::ClientBody => (StatusCode::BAD_REQUEST, "unreadable request body"),
            UpstreamError::ClientBodyTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                "request body arrived too slowly",
            ),
            UpstreamError::UnexpectedUpgrade => (
                StatusCode::BAD_GATEWAY,
                "upstream switched protocols without being asked to",
            ),
        }
    }
}

/// `e` and every error below it.
fn source_chain<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(e), |s| s.source())
}
