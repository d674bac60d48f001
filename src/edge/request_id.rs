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

/// A new id: `<instance prefix>-<counter in hex>`, written into a stack buffer: this runs for
/// every request without an id of its own, and `format!` cost 0.7–2.8 % of a proxied
/// request's instructions (callgrind, two A/B runs).
pub fn generate() -> HeaderValue {
    id_of(PREFIX.as_bytes(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// `<prefix>-<n in hex>` (a prefix of at most 40 bytes).
fn id_of(prefix: &[u8], n: u64) -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = [0u8; 64];
    id[..prefix.len()].copy_from_slice(prefix);
    id[prefix.len()] = b'-';
    let digits = (64 - n.leading_zeros()).div_ceil(4).max(1) as usize;
    let start = prefix.len() + 1;
    for i in 0..digits {
        let nibble = (n >> (4 * (digits - 1 - i))) & 0xf;
        id[start + i] = HEX[nibble as usize];
    }
    // In shared bytes: the id is cloned into the access log's context and into the copy of
    // the request head kept for a retry.
    let mut value = super::shared_values::header_value(&id[..start + digits])
        .expect("hex is a valid header value");
    value.set_sensitive(true);
    value
}

/// Makes sure `headers` carry exactly one usable `X-Request-Id` and returns it.
///
/// The id is marked sensitive, which an HTTP/2 upstream connection's HPACK encoder sends as a
/// never-indexed literal. Indexed, a value new with every request was added to the connection's
/// header table each time: compared first with every earlier id still there (≈ 60), then
/// inserted, evicting the oldest entries — so the headers that repeat were pushed out and sent
/// in full again once every ≈ 60 requests. Not indexed: 5 % fewer instructions per request to
/// an HTTP/2 upstream (callgrind, `benches/ab.py` with `AB_UPSTREAM=h2c`), ≈ 10 bytes more per
/// request (its name as a literal). HTTP/1.1 ignores the mark; the access log reads the value
/// as before.
pub fn ensure(headers: &mut HeaderMap) -> HeaderValue {
    use http::header::Entry;
    match headers.entry(&X_REQUEST_ID) {
        Entry::Occupied(mut given) => {
            let mut values = given.iter();
            if let (Some(only), None) = (values.next(), values.next()) {
                if usable(only) {
                    given.get_mut().set_sensitive(true);
                    return given.get().clone();
                }
            }
            let id = generate();
            given.insert(id.clone());
            id
        }
        Entry::Vacant(absent) => absent.insert(generate()).clone(),
    }
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

    #[test]
    fn ids_kept_and_made_are_never_indexed_by_hpack() {
        let mut given = HeaderMap::new();
        given.insert(&X_REQUEST_ID, HeaderValue::from_static("abc-123"));
        let mut absent = HeaderMap::new();
        for headers in [&mut given, &mut absent] {
            let id = ensure(headers);
            assert!(id.is_sensitive());
            assert!(headers.get(&X_REQUEST_ID).unwrap().is_sensitive());
        }
    }

    #[test]
    fn made_ids_are_the_prefix_and_the_counter_in_hex() {
        for n in [0u64, 1, 15, 16, 0xabc, u64::MAX] {
            let id = id_of(b"0123abcd", n);
            assert_eq!(id.to_str().unwrap(), format!("0123abcd-{n:x}"));
        }
    }
}
