//! Host names as the edge compares them: port stripped, lower-cased, trailing dot dropped; an
//! IPv6 literal unbracketed in canonical form.

use std::borrow::Cow;

/// Normalises a `Host` header or URI authority; `None` when it is not a valid host.
pub fn normalize(raw: &str) -> Option<String> {
    normalized(raw).map(Cow::into_owned)
}

/// [`normalize`] without a copy when `raw` is already in normal form (a lower-case name
/// without port or trailing dot, what nearly every client sends): this runs for every request.
pub fn normalized(raw: &str) -> Option<Cow<'_, str>> {
    let raw = raw.trim();
    // (An `@` — userinfo — fails both branches below.)
    if raw.is_empty() || raw.len() > 260 {
        return None;
    }
    // [v6]:port or [v6]
    if let Some(rest) = raw.strip_prefix('[') {
        let (addr, after) = rest.split_once(']')?;
        let addr = addr.parse::<std::net::Ipv6Addr>().ok()?;
        if !after.is_empty() && !valid_port(after.strip_prefix(':')?) {
            return None;
        }
        // Canonical and unbracketed, as routes and certificates store an IPv6 address.
        return Some(Cow::Owned(addr.to_string()));
    }
    let (host, port) = match raw.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (raw, None),
    };
    if let Some(port) = port {
        if !valid_port(port) {
            return None;
        }
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() || host.len() > 253 || !labels_valid(host.as_bytes()) {
        return None;
    }
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Some(Cow::Owned(host.to_ascii_lowercase()))
    } else {
        Some(Cow::Borrowed(host))
    }
}

/// Every dot-separated label is 1–63 letters, digits, `-` or `_`: one pass over the bytes (this
/// runs for every request).
fn labels_valid(host: &[u8]) -> bool {
    let mut label_len = 0usize;
    for &b in host {
        if b == b'.' {
            if label_len == 0 {
                return false;
            }
            label_len = 0;
        } else if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            label_len += 1;
            if label_len > 63 {
                return false;
            }
        } else {
            return false;
        }
    }
    label_len > 0
}

fn valid_port(port: &str) -> bool {
    !port.is_empty()
        && port.len() <= 5
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u16>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::{normalize, normalized};
    use std::borrow::Cow;

    #[test]
    fn normalises() {
        assert_eq!(
            normalize("Example.COM.:8443").as_deref(),
            Some("example.com")
        );
        assert_eq!(normalize("a.test").as_deref(), Some("a.test"));
        assert_eq!(normalize("127.0.0.1:80").as_deref(), Some("127.0.0.1"));
        assert_eq!(normalize("[::1]:443").as_deref(), Some("::1"));
        assert_eq!(normalize("[2001:DB8:0::1]").as_deref(), Some("2001:db8::1"));
        let longest = format!("{}.test", "x".repeat(63));
        assert_eq!(normalize(&longest).as_deref(), Some(longest.as_str()));
        assert_eq!(normalize(&format!("{}.test", "x".repeat(64))), None);
    }

    #[test]
    fn a_host_already_in_normal_form_is_not_copied() {
        for (raw, borrowed) in [
            ("a.test", true),
            ("A.test", false),
            ("a.test:443", true),
            ("a.test.", true),
            ("[::1]", false),
        ] {
            let got = normalized(raw).unwrap();
            assert_eq!(matches!(got, Cow::Borrowed(_)), borrowed, "{raw}");
            assert_eq!(got, normalize(raw).unwrap());
        }
    }

    #[test]
    fn refuses() {
        for bad in [
            "",
            "a..b",
            "a b",
            "a.test:99999",
            "a.test:x",
            "user@a.test",
            "[zz]",
            "a/b",
            ".",
            "a.test..",
            ".a.test",
            "a@b.test",
            "[::1]@x",
            "a.test:",
        ] {
            assert_eq!(normalize(bad), None, "{bad}");
        }
    }
}
