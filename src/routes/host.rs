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
    // ASCII whitespace only: a `Host` value, a URI authority and an SNI name are ASCII (any
    // other byte fails the label check below anyway).
    let raw = raw.trim_ascii();
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
    // A byte search: `rsplit_once(':')`'s generic char searcher cost ≈ 160 instructions here.
    let host = match raw.bytes().rposition(|b| b == b':') {
        Some(colon) if !valid_port(&raw[colon + 1..]) => return None,
        Some(colon) => &raw[..colon],
        None => raw,
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() || host.len() > 253 {
        return None;
    }
    match scan_labels(host.as_bytes())? {
        Case::Lower => Some(Cow::Borrowed(host)),
        Case::Mixed => Some(Cow::Owned(host.to_ascii_lowercase())),
    }
}

/// Whether a valid name needs lower-casing.
enum Case {
    Lower,
    Mixed,
}

/// What each byte is to a host name: part of a label (lower case, or upper case to fold), the
/// dot between labels, or not allowed.
#[derive(Clone, Copy, PartialEq)]
enum Class {
    Invalid,
    Label,
    Upper,
    Dot,
}

static CLASSES: [Class; 256] = {
    let mut classes = [Class::Invalid; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        classes[b] = match byte {
            b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => Class::Label,
            b'A'..=b'Z' => Class::Upper,
            b'.' => Class::Dot,
            _ => Class::Invalid,
        };
        b += 1;
    }
    classes
};

/// Every dot-separated label is 1–63 letters, digits, `-` or `_` (`None` otherwise), and
/// whether any is upper case: one pass over the bytes with a table (this runs for every
/// request).
fn scan_labels(host: &[u8]) -> Option<Case> {
    let mut label_len = 0usize;
    let mut upper = false;
    for &b in host {
        match CLASSES[usize::from(b)] {
            Class::Label => label_len += 1,
            Class::Upper => {
                label_len += 1;
                upper = true;
            }
            Class::Dot if label_len > 0 && label_len <= 63 => label_len = 0,
            Class::Dot | Class::Invalid => return None,
        }
    }
    if label_len == 0 || label_len > 63 {
        return None;
    }
    Some(if upper { Case::Mixed } else { Case::Lower })
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
        assert_eq!(normalize(&format!("a.{}", "x".repeat(64))), None);
        assert_eq!(normalize(" A-b_c.TEST:443 ").as_deref(), Some("a-b_c.test"));
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
            "a:b:443",
            "é.test",
            "a.test\0",
        ] {
            assert_eq!(normalize(bad), None, "{bad}");
        }
    }
}
