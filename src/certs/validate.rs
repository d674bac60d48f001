//! Validation of certificate names, domain names and e-mail addresses (`docs/api.md`, "Certificates").
//!
//! Each failure is a [`FieldError`] naming the request field at fault, so the API can answer
//! `400 {"error":"invalid_request","field":…,"detail":…}` and the CLI can say the same.

use std::net::IpAddr;

use crate::certs::model::{ChallengeKind, IssuerKind};

/// What names a certificate may hold depends on who signs it and, for ACME, on how the CA
/// validates them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameRules {
    /// Who signs the certificate.
    pub issuer: IssuerKind,
    /// How an ACME CA validates its names (ignored for self-signed).
    pub challenge: ChallengeKind,
}

impl NameRules {
    /// Anything a certificate can name: DNS names, wildcards, single labels, IP addresses.
    pub const SELF_SIGNED: NameRules = NameRules {
        issuer: IssuerKind::SelfSigned,
        challenge: ChallengeKind::Http01,
    };

    /// The rules for an ACME certificate validated by `challenge`.
    pub fn acme(challenge: ChallengeKind) -> NameRules {
        NameRules {
            issuer: IssuerKind::Acme,
            challenge,
        }
    }

    /// The rules for `issuer` and `challenge`.
    pub fn new(issuer: IssuerKind, challenge: ChallengeKind) -> NameRules {
        NameRules { issuer, challenge }
    }
}

/// Most names one certificate may carry (Let's Encrypt's limit too).
pub const MAX_DOMAINS: usize = 100;

/// A request field and why its value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {detail}")]
pub struct FieldError {
    /// The field refused (JSON path).
    pub field: String,
    /// Why, in words.
    pub detail: String,
}

impl FieldError {
    /// A refusal of `field`.
    pub fn new(field: &str, detail: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            detail: detail.into(),
        }
    }
}

/// `cert_name` matches `^[a-z0-9][a-z0-9._-]{0,62}$` and is not `multi-domain`.
pub fn cert_name(name: &str) -> Result<(), FieldError> {
    identifier("cert_name", name)?;
    if name == "multi-domain" {
        return Err(FieldError::new(
            "cert_name",
            "'multi-domain' is reserved by the API",
        ));
    }
    Ok(())
}

/// A name for a certificate or token: `^[a-z0-9][a-z0-9._-]{0,62}$`.
pub fn identifier(field: &str, name: &str) -> Result<(), FieldError> {
    let bytes = name.as_bytes();
    let first_ok = bytes
        .first()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let rest_ok = bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'));
    if !first_ok || !rest_ok || bytes.len() > 63 {
        return Err(FieldError::new(
            field,
            "must be 1 to 63 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit",
        ));
    }
    Ok(())
}

/// Normalises and checks a list of domains under `rules`: lower-cased, trailing dot dropped, IP
/// addresses in canonical form, duplicates merged (first occurrence kept), 1 to 100 names.
pub fn domains(field: &str, raw: &[String], rules: NameRules) -> Result<Vec<String>, FieldError> {
    // Counted as sent, before duplicates merge: the schema's `maxItems` says the same.
    if raw.len() > MAX_DOMAINS {
        return Err(FieldError::new(
            field,
            format!(
                "at most {MAX_DOMAINS} domains per certificate, got {}",
                raw.len()
            ),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for name in raw {
        let name = domain(field, name, rules)?;
        if !out.contains(&name) {
            out.push(name);
        }
    }
    if out.is_empty() {
        return Err(FieldError::new(field, "at least one domain is required"));
    }
    if out.len() > MAX_DOMAINS {
        return Err(FieldError::new(
            field,
            format!(
                "at most {MAX_DOMAINS} domains per certificate, got {}",
                out.len()
            ),
        ));
    }
    Ok(out)
}

/// Normalises and checks one name: a DNS name, a wildcard `*.name`, or an IP address (RFC 8738
/// for ACME), each where `rules` allow it.
pub fn domain(field: &str, raw: &str, rules: NameRules) -> Result<String, FieldError> {
    let name = raw.trim().to_ascii_lowercase();
    let name = name.strip_suffix('.').unwrap_or(&name).to_owned();
    let bad = |why: &str| Err(FieldError::new(field, format!("{raw:?} {why}")));
    let acme = rules.issuer == IssuerKind::Acme;
    if name.is_empty() {
        return bad("is empty");
    }
    if name.len() > 253 {
        return bad("is longer than 253 characters");
    }
    if name.contains('%') {
        return bad("has an IPv6 zone id ('%…'): a certificate cannot name one");
    }
    if let Ok(ip) = name.trim_matches(['[', ']']).parse::<IpAddr>() {
        if acme && rules.challenge.is_dns() {
            return bad(&format!(
                "is an IP address: {} cannot validate IP addresses; use http-01 or tls-alpn-01",
                rules.challenge
            ));
        }
        return Ok(ip.to_string());
    }
    if name.contains(':') {
        return bad("is neither a DNS name nor an IP address");
    }
    let host = match name.strip_prefix("*.") {
        Some(rest) => {
            if acme && !rules.challenge.is_dns() {
                return bad(&format!(
                    "is a wildcard: only dns-01 and dns-persist-01 can validate wildcards, not {}; send \"challenge\": \"dns-01\"",
                    rules.challenge
                ));
            }
            rest
        }
        None if name == "*" => return bad("is '*' alone, which names nothing"),
        None => name.as_str(),
    };
    if host.contains('*') {
        return bad("has a '*' that is not the whole first label (only '*.name' wildcards exist)");
    }
    for label in host.split('.') {
        if label.is_empty() || label.len() > 63 {
            return bad("has an empty label or one longer than 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return bad(
                "may contain only letters, digits, '-' and '.' (and a leading '*.' for wildcards)",
            );
        }
        if label.starts_with('-') || label.ends_with('-') {
            return bad("has a label that starts or ends with '-'");
        }
    }
    Ok(name)
}

/// A plausible e-mail address for the ACME account (`local@domain`, no spaces).
pub fn email(raw: &str) -> Result<String, FieldError> {
    let email = raw.trim();
    let ok = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, host)| {
            !local.is_empty()
                && host.contains('.')
                && !host.starts_with('.')
                && !host.ends_with('.')
        })
        && !email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ',');
    if ok {
        Ok(email.to_owned())
    } else {
        Err(FieldError::new(
            "email",
            format!("{raw:?} is not an e-mail address"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cert_names() {
        assert!(cert_name("a").is_ok());
        assert!(cert_name("web-1.prod_x").is_ok());
        assert!(cert_name(&"a".repeat(63)).is_ok());
        assert!(cert_name(&"a".repeat(64)).is_err());
        for bad in ["", "-a", "A", "a b", "a/b", "multi-domain", "é"] {
            assert!(cert_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn domains_are_normalised_and_merged() {
        let raw = vec![
            "Example.COM.".to_string(),
            "example.com".to_string(),
            "a.example.com".to_string(),
        ];
        let got = domains("domains", &raw, NameRules::acme(ChallengeKind::Http01)).unwrap();
        assert_eq!(got, vec!["example.com", "a.example.com"]);
    }

    #[test]
    fn wildcards_need_dns_01_and_ips_need_another_challenge() {
        let http = NameRules::acme(ChallengeKind::Http01);
        let alpn = NameRules::acme(ChallengeKind::TlsAlpn01);
        let dns = NameRules::acme(ChallengeKind::Dns01);
        let e = domain("domain", "*.example.com", http).unwrap_err();
        assert!(e.detail.contains("dns-01"), "{e}");
        assert!(domain("domain", "*.example.com", alpn).is_err());
        assert_eq!(
            domain("domain", "*.Example.com", dns).unwrap(),
            "*.example.com"
        );
        assert_eq!(domain("domain", "127.0.0.1", http).unwrap(), "127.0.0.1");
        assert_eq!(
            domain("domain", "[2001:DB8::1]", alpn).unwrap(),
            "2001:db8::1"
        );
        let e = domain("domain", "127.0.0.1", dns).unwrap_err();
        assert!(e.detail.contains("IP address"), "{e}");
        for bad in ["*.a.*.test", "*", "a.*.test", "fe80::1%eth0", "::1::2"] {
            let e = domain("domains", bad, dns).unwrap_err();
            assert!(e.detail.contains(bad), "{bad}: {e}");
        }
        assert!(domain("domain", "*.example.com", NameRules::SELF_SIGNED).is_ok());
        assert!(domain("domain", "localhost", NameRules::SELF_SIGNED).is_ok());
    }

    #[test]
    fn bad_labels() {
        for bad in [
            "a..b",
            "-a.com",
            "a-.com",
            "a_b.com",
            "a b",
            &format!("{}.com", "a".repeat(64)),
        ] {
            assert!(
                domain("domain", bad, NameRules::SELF_SIGNED).is_err(),
                "{bad}"
            );
        }
        let many: Vec<String> = (0..101).map(|i| format!("h{i}.example.com")).collect();
        let rules = NameRules::acme(ChallengeKind::Http01);
        assert!(domains("domains", &many, rules).is_err());
        assert!(domains("domains", &many[..100], rules).is_ok());
    }

    #[test]
    fn emails() {
        assert!(email("ops@example.com").is_ok());
        for bad in ["", "ops", "@x.com", "a@b", "a b@c.com"] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }
}
