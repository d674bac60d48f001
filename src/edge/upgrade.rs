//! Which protocol upgrades pass through: WebSocket only (RFC 6455 §4.1's handshake shape), and a
//! tunnel opens only on an upstream `101` that names the same protocol. Anything else — `h2c`
//! above all, whose tunnel would carry requests past the host checks and `X-Forwarded-*`
//! rewriting ("h2c smuggling") — is stripped from the request, and an unasked-for `101` is
//! refused.

use http::header::{CONNECTION, UPGRADE};
use http::{HeaderMap, Method, Request, Version};

/// Whether `req` is a WebSocket opening handshake: `GET` over HTTP/1.1 with
/// `Connection: upgrade`, `Upgrade: websocket`, a `Sec-WebSocket-Key` and a
/// `Sec-WebSocket-Version`.
pub fn is_websocket_handshake<B>(req: &Request<B>) -> bool {
    let headers = req.headers();
    req.method() == Method::GET
        && req.version() == Version::HTTP_11
        && has_token(headers, CONNECTION, "upgrade")
        && names_websocket(headers)
        && headers.contains_key("sec-websocket-key")
        && headers.contains_key("sec-websocket-version")
}

/// Whether the `Upgrade` header names `websocket` (and nothing else).
pub fn names_websocket(headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(UPGRADE).iter();
    match (values.next(), values.next()) {
        (Some(v), None) => v
            .to_str()
            .is_ok_and(|v| v.trim().eq_ignore_ascii_case("websocket")),
        _ => false,
    }
}

/// Whether a comma-separated header carries `token` (case-insensitive).
fn has_token(headers: &HeaderMap, name: http::header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(upgrade: &str) -> Request<()> {
        Request::get("/")
            .header("connection", "keep-alive, Upgrade")
            .header("upgrade", upgrade)
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("sec-websocket-version", "13")
            .body(())
            .unwrap()
    }

    #[test]
    fn only_a_websocket_handshake_passes() {
        assert!(is_websocket_handshake(&request("websocket")));
        assert!(is_websocket_handshake(&request("WebSocket")));
        assert!(!is_websocket_handshake(&request("h2c")));
        assert!(!is_websocket_handshake(&request("websocket, h2c")));
        let mut no_key = request("websocket");
        no_key.headers_mut().remove("sec-websocket-key");
        assert!(!is_websocket_handshake(&no_key));
        let mut post = request("websocket");
        *post.method_mut() = Method::POST;
        assert!(!is_websocket_handshake(&post));
    }
}
