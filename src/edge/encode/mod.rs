//! Response compression (a route's `encode`; `docs/edge.md`, "Compression"): which answers are
//! compressed, the headers that say so, and the streaming body ([`body`]) that does it.
//!
//! An answer is compressed when the route lists a coding the client accepts ([`negotiate`]),
//! its type is in `COMPRESS_TYPES`, it is not smaller than `COMPRESS_MIN_BYTES` (when its
//! length is known), it is not already encoded, partial, or marked `no-transform`, and the
//! request was not a `HEAD`. Every answer that could have been compressed carries
//! `Vary: Accept-Encoding`, compressed or not, so caches keep the variants apart.

pub mod body;
pub mod negotiate;

use http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE,
    ETAG, VARY,
};
use http::response::Parts;
use http::{HeaderMap, HeaderValue, StatusCode};

use crate::routes::encode::Encoding;

pub use crate::config::traffic::CompressPolicy;

/// What a request to a route with `encode` asked for, decided before it goes upstream (the
/// request's headers are the upstream's then).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// The coding the client takes (`None`: it takes none of the route's, or asked with `HEAD`).
    pub coding: Option<Encoding>,
}

impl Negotiated {
    /// For a request to `route` (`None`: the route compresses nothing).
    pub fn for_request(
        route_encode: &[Encoding],
        method: &http::Method,
        headers: &HeaderMap,
    ) -> Option<Negotiated> {
        if route_encode.is_empty() {
            return None;
        }
        let coding = if method == http::Method::HEAD {
            None
        } else {
            negotiate::choose(headers, route_encode)
        };
        Some(Negotiated { coding })
    }
}

/// For an answer to a request that `negotiated`: marks its head when it is eligible, and says
/// which coding its body takes (`None`: sent as it is).
pub fn decide(
    parts: &mut Parts,
    negotiated: Negotiated,
    policy: &CompressPolicy,
) -> Option<Encoding> {
    if eligible(policy, parts.status, &parts.headers) {
        mark(parts, negotiated.coding)
    } else {
        None
    }
}

/// Whether an answer with this head could be compressed (before asking the client).
pub fn eligible(policy: &CompressPolicy, status: StatusCode, headers: &HeaderMap) -> bool {
    let has_body = !(status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || status == StatusCode::PARTIAL_CONTENT);
    let encoded = headers
        .get(CONTENT_ENCODING)
        .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"));
    let no_transform = headers.get_all(CACHE_CONTROL).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|d| d.trim().eq_ignore_ascii_case("no-transform"))
        })
    });
    let too_small = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .is_some_and(|len| len < policy.min_bytes);
    has_body
        && !encoded
        && !no_transform
        && !too_small
        && !headers.contains_key(CONTENT_RANGE)
        && compressible(policy, headers.get(CONTENT_TYPE))
}

/// Whether the media type is in the policy's list (no type: not compressed).
fn compressible(policy: &CompressPolicy, content_type: Option<&HeaderValue>) -> bool {
    let Some(media) = content_type.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let media = media.split(';').next().unwrap_or_default().trim();
    let Some((kind, _)) = media.split_once('/') else {
        return false;
    };
    policy.types.iter().any(|t| {
        t.eq_ignore_ascii_case(media)
            || t.strip_suffix("/*")
                .is_some_and(|range| range.eq_ignore_ascii_case(kind))
    })
}

/// Marks an eligible answer's head for `coding` (when the client takes one): `Vary`,
/// `Content-Encoding`, no `Content-Length` (the length changes), no `Accept-Ranges` (ranges of
/// the compressed form are not offered), a strong `ETag` made weak (the bytes differ).
/// Returns the coding the body must be compressed with.
pub fn mark(parts: &mut Parts, coding: Option<Encoding>) -> Option<Encoding> {
    add_vary(&mut parts.headers);
    let coding = coding?;
    let headers = &mut parts.headers;
    headers.insert(CONTENT_ENCODING, HeaderValue::from_static(coding.token()));
    headers.remove(CONTENT_LENGTH);
    headers.remove(ACCEPT_RANGES);
    if let Some(etag) = headers
        .get(ETAG)
        .filter(|e| e.as_bytes().starts_with(b"\""))
    {
        let mut weak = b"W/".to_vec();
        weak.extend_from_slice(etag.as_bytes());
        if let Ok(weak) = HeaderValue::from_bytes(&weak) {
            headers.insert(ETAG, weak);
        }
    }
    Some(coding)
}

/// Adds `Accept-Encoding` to `Vary` unless it (or `*`) is there.
fn add_vary(headers: &mut HeaderMap) {
    let present = headers.get_all(VARY).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',').any(|name| {
                let name = name.trim();
                name == "*" || name.eq_ignore_ascii_case("accept-encoding")
            })
        })
    });
    if !present {
        headers.append(VARY, HeaderValue::from_static("Accept-Encoding"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> CompressPolicy {
        CompressPolicy {
            types: vec!["text/*".into(), "application/json".into()],
            min_bytes: 512,
        }
    }

    fn head(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn only_listed_types_of_sufficient_size_that_allow_transforms() {
        let policy = policy();
        let p = |status: StatusCode, headers: &HeaderMap| eligible(&policy, status, headers);
        let ok = StatusCode::OK;
        assert!(p(
            ok,
            &head(&[("content-type", "text/html; charset=utf-8")])
        ));
        assert!(p(ok, &head(&[("content-type", "Application/JSON")])));
        assert!(!p(ok, &head(&[("content-type", "image/png")])));
        assert!(!p(ok, &head(&[])));
        let small = head(&[("content-type", "text/plain"), ("content-length", "100")]);
        assert!(!p(ok, &small));
        let large = head(&[("content-type", "text/plain"), ("content-length", "600")]);
        assert!(p(ok, &large));
        let encoded = head(&[("content-type", "text/plain"), ("content-encoding", "gzip")]);
        assert!(!p(ok, &encoded));
        let kept = head(&[
            ("content-type", "text/plain"),
            ("cache-control", "public, No-Transform"),
        ]);
        assert!(!p(ok, &kept));
        let text = head(&[("content-type", "text/plain")]);
        assert!(!p(StatusCode::NOT_MODIFIED, &text));
        assert!(!p(StatusCode::PARTIAL_CONTENT, &text));
    }

    #[test]
    fn a_marked_head_says_what_changed() {
        let (mut parts, ()) = http::Response::new(()).into_parts();
        parts.headers = head(&[
            ("content-length", "2000"),
            ("etag", "\"abc\""),
            ("accept-ranges", "bytes"),
            ("vary", "Origin"),
        ]);
        assert_eq!(mark(&mut parts, Some(Encoding::Br)), Some(Encoding::Br));
        assert_eq!(parts.headers["content-encoding"], "br");
        assert_eq!(parts.headers["etag"], "W/\"abc\"");
        assert!(!parts.headers.contains_key("content-length"));
        assert!(!parts.headers.contains_key("accept-ranges"));
        let vary: Vec<_> = parts.headers.get_all("vary").iter().collect();
        assert_eq!(vary, ["Origin", "Accept-Encoding"]);
        // Not accepted by the client: only Vary, once.
        let (mut plain, ()) = http::Response::new(()).into_parts();
        plain.headers = head(&[("vary", "accept-encoding"), ("content-length", "9")]);
        assert_eq!(mark(&mut plain, None), None);
        assert_eq!(plain.headers.get_all("vary").iter().count(), 1);
        assert_eq!(plain.headers["content-length"], "9");
    }
}
