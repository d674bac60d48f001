//! `X-Request-Id`: every proxied request carries one to its upstream and into the access log —
//! the client's own when it sent a usable one, else one made here. Made ids are this
//! instance's random prefix and a counter: unique across the cluster without a random draw or
//! a Redis round trip per request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;

use http::{HeaderMap, HeaderName, HeaderValue};

/// The header.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest id kept from a client.
const LONGEST: usize = 200;

static PREFIX: LazyLock<String> = LazyLock::new(|| crate::ids::random_hex(8));
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A client's id is kept when it is 1 to 200 visible ASCII characters.
fn usable(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty() && bytes.len() <= LONGEST && bytes.iter().all(|b| (0x21..=0x7e).contains(b))
}

/// A new id: `<instance prefix>-<counter>`.
pub fn generate() -> HeaderValue {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    HeaderValue::try_from(format!("{}-{n:x}", *PREFIX)).expect("hex is a valid header value")
}

/// Makes sure `headers` carry exactly one usable `X-Request-Id` and returns it.
pub fn ensure(headers: &mut HeaderMap) -> HeaderValue {
    let mut given = headers.get_all(&X_REQUEST_ID).iter();
    if let (Some(only), None) = (given.next(), given.next()) {
        if usable(only) {
            return only.clone();
        }
    }
    let id = generate();
    headers.insert(&X_REQUEST_ID, id.clone());
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_usable_id_is_kept_and_anything_else_replaced() {
        let mut headers = HeaderMap::new();
        headers.insert(&X_REQUEST_ID, HeaderValue::from_static("abc-123"));
        assert_eq!(ensure(&mut headers), "abc-123");
        for bad in ["", "with space", &"x".repeat(201)] {
            let mut headers = HeaderMap::new();
            headers.insert(&X_REQUEST_ID, HeaderValue::from_str(bad).unwrap());
            let id = ensure(&mut headers);
            assert_ne!(id, bad);
            assert_eq!(headers.get_all(&X_REQUEST_ID).iter().count(), 1);
        }
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
    }
}
