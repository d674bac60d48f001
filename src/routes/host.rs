//! Host names as the edge compares them: port stripped, lower-cased, trailing dot dropped; an
//! IPv6 literal unbracketed in canonical form.

/// Normalises a `Host` header or URI authority; `None` when it is not a valid host.
pub fn normalize(raw: &str) -> Option<String> {
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
        return Some(addr.to_string());
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
    Some(host.to_ascii_lowercase())
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
    use super::normalize;

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
