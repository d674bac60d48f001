//! Header rules of forwarding: hop-by-hop headers removed, `X-Forwarded-*` set (`docs/edge.md`, "Forwarding").

use std::net::IpAddr;

use http::header::{
    HeaderMap, HeaderName, HeaderValue, CONNECTION, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, TE,
    TRAILER, TRANSFER_ENCODING, UPGRADE,
};
use ipnet::IpNet;

/// Headers meaningful for one connection only (RFC 9110 §7.6.1), plus the legacy ones.
/// Parsed once here: removing by `&str` would parse (and hash) each name on every request.
static HOP_BY_HOP: [HeaderName; 10] = [
    CONNECTION,
    TE,
    TRAILER,
    TRANSFER_ENCODING,
    UPGRADE,
    PROXY_AUTHENTICATE,
    PROXY_AUTHORIZATION,
    HeaderName::from_static("http2-settings"),
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
];

/// Whether `name` is one of [`HOP_BY_HOP`]: one `match` on the name's text (a length, then a
/// compare or two), where `HOP_BY_HOP.contains` compared each name with all ten (≈ 300
/// instructions a message of ten headers, twice a proxied request).
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "http2-settings"
            | "keep-alive"
            | "proxy-connection"
    )
}

/// Removes hop-by-hop headers, including those the `Connection` header names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none of them, and one pass over their few names finds that out
    // without the ten hashed removals (a `Connection`-named header only counts when
    // `Connection` itself is there).
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Whether `peer` may set `X-Forwarded-*` for us.
pub fn is_trusted(peer: IpAddr, trusted: &[IpNet]) -> bool {
    let peer = match peer {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    trusted.iter().any(|net| net.contains(&peer))
}

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Sets `X-Forwarded-For` (to `peer`), `-Proto` and `-Host`: a trusted proxy's values are kept
/// (its client list extended with its own address); anyone else's are replaced. `peer` comes
/// formatted (once per connection) and `host` as the client sent it, so a request without
/// prior values formats nothing.
pub fn set_forwarded(
    headers: &mut HeaderMap,
    peer: &HeaderValue,
    https: bool,
    host: HeaderValue,
    trusted: bool,
) {
    let chain = if trusted && headers.contains_key(&X_FORWARDED_FOR) {
        let mut chain: Vec<u8> = Vec::new();
        for prior in headers.get_all(&X_FORWARDED_FOR) {
            chain.extend_from_slice(prior.as_bytes());
            chain.extend_from_slice(b", ");
        }
        chain.extend_from_slice(peer.as_bytes());
        HeaderValue::from_bytes(&chain).unwrap_or_else(|_| peer.clone())
    } else {
        peer.clone()
    };
    // `insert` replaces every value the client sent.
    headers.insert(&X_FORWARDED_FOR, chain);
    if !(trusted && headers.contains_key(&X_FORWARDED_PROTO)) {
        headers.insert(
            &X_FORWARDED_PROTO,
            HeaderValue::from_static(if https { "https" } else { "http" }),
        );
    }
    if !(trusted && headers.contains_key(&X_FORWARDED_HOST)) {
        headers.insert(&X_FORWARDED_HOST, host);
    }
}

/// The client's address as IP rules judge it: the peer's, unless the peer is a trusted proxy —
/// then the rightmost `X-Forwarded-For` entry that is not itself a trusted proxy (each proxy
/// appends the address it saw, so entries further left are the client's own claims).
pub fn client_address(headers: &HeaderMap, peer: IpAddr, trusted: &[IpNet]) -> IpAddr {
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let mut chain: Vec<IpAddr> = Vec::new();
    for value in headers.get_all(&X_FORWARDED_FOR) {
        let Ok(text) = value.to_str() else {
            return peer;
        };
        for item in text.split(',') {
            match item.trim().parse::<IpAddr>() {
                Ok(addr) => chain.push(addr),
                Err(_) => return peer,
            }
        }
    }
    chain
        .into_iter()
        .rev()
        .find(|addr| !is_trusted(*addr, trusted))
        .unwrap_or(peer)
}

static CLIENT_CERT: HeaderName = HeaderName::from_static("client-cert");
static CLIENT_CERT_CHAIN: HeaderName = HeaderName::from_static("client-cert-chain");

/// RFC 9440: removes any `Client-Cert` and `Client-Cert-Chain` the client sent (on every route,
/// so an upstream can trust them), then, when `chain` is given (a verified client certificate
/// on a route that forwards it), sets `Client-Cert` to the leaf and `Client-Cert-Chain` to the
/// rest, each certificate as a structured-field byte sequence (`:base64(DER):`).
pub fn set_client_cert(
    headers: &mut HeaderMap,
    chain: Option<&[rustls::pki_types::CertificateDer<'static>]>,
) {
    headers.remove(&CLIENT_CERT);
    headers.remove(&CLIENT_CERT_CHAIN);
    let Some((leaf, rest)) = chain.and_then(|c| c.split_first()) else {
        return;
    };
    let item = |der: &rustls::pki_types::CertificateDer<'_>| {
        use base64::Engine;
        format!(
            ":{}:",
            base64::engine::general_purpose::STANDARD.encode(der.as_ref())
        )
    };
    if let Ok(value) = HeaderValue::from_str(&item(leaf)) {
        headers.insert(&CLIENT_CERT, value);
    }
    if !rest.is_empty() {
        let list: Vec<String> = rest.iter().map(item).collect();
        if let Ok(value) = HeaderValue::from_str(&list.join(", ")) {
            headers.insert(&CLIENT_CERT_CHAIN, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quick_check_knows_exactly_the_hop_by_hop_names() {
        for name in &HOP_BY_HOP {
            assert!(is_hop_by_hop(name), "{name}");
        }
        for other in [
            "host",
            "x-forwarded-for",
            "content-length",
            "accept",
            "tes",
            "upgrades",
        ] {
            assert!(!is_hop_by_hop(&HeaderName::from_static(other)), "{other}");
        }
    }

    #[test]
    fn strips_named_and_standard_hop_headers() {
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, HeaderValue::from_static("close, x-secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert!(
            h.get("x-secret").is_none()
                && h.get("keep-alive").is_none()
                && h.get(CONNECTION).is_none()
        );
        assert!(h.get("x-kept").is_some());
    }

    #[test]
    fn every_hop_header_is_stripped_alone_and_others_are_left() {
        for name in HOP_BY_HOP
            .iter()
            .map(HeaderName::as_str)
            .chain(["Keep-Alive"])
        {
            let mut h = HeaderMap::new();
            h.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_static("1"),
            );
            h.insert("x-kept", HeaderValue::from_static("1"));
            strip_hop_by_hop(&mut h);
            assert_eq!(h.len(), 1, "{name} kept");
            assert!(h.contains_key("x-kept"));
        }
        let mut h = HeaderMap::new();
        h.insert("x-only", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn spoofed_forwarded_headers_are_replaced() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
        h.insert("x-forwarded-host", HeaderValue::from_static("evil.test"));
        h.append("x-forwarded-for", HeaderValue::from_static("6.6.6.7"));
        let peer = HeaderValue::from_static("192.0.2.7");
        let host = HeaderValue::from_static("site.test");
        set_forwarded(&mut h, &peer, true, host.clone(), false);
        assert_eq!(h.get_all("x-forwarded-for").iter().count(), 1);
        assert_eq!(h["x-forwarded-for"], "192.0.2.7");
        assert_eq!(h["x-forwarded-host"], "site.test");
        assert_eq!(h["x-forwarded-proto"], "https");
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("198.51.100.1"));
        h.append("x-forwarded-for", HeaderValue::from_static("198.51.100.2"));
        h.insert("x-forwarded-proto", HeaderValue::from_static("http"));
        set_forwarded(&mut h, &peer, true, host, true);
        assert_eq!(
            h["x-forwarded-for"],
            "198.51.100.1, 198.51.100.2, 192.0.2.7"
        );
        assert_eq!(
            h["x-forwarded-proto"], "http",
            "a trusted proxy's value is kept"
        );
        assert_eq!(
            h["x-forwarded-host"], "site.test",
            "none was sent: ours is set"
        );
    }
}
