//! Validation of a route's upstream fields (`docs/api.md`, "Routes"): the list and its weights,
//! the active health check, and how `https://` upstreams are verified.

use serde::Deserialize;

use super::model::{HealthCheck, UpstreamTarget};
use super::validate::{upstream_at, Upstream};
use crate::certs::validate::FieldError;

/// Most upstreams one route balances over.
pub const MAX_UPSTREAMS: usize = 16;
/// Largest `weight`.
pub const MAX_WEIGHT: u32 = 100;
/// Largest `upstream_ca_pem`, in bytes: a handful of CA certificates, and small enough that any
/// route body stays inside the API's 64 KiB.
const MAX_CA_PEM_BYTES: usize = 16 * 1024;

/// One element of `upstreams` in a route body: a URL, or `{url, weight}`.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum UpstreamEntry {
    /// A bare URL (weight 1).
    Url(String),
    /// A URL with a weight (an object: derived, it would also take `["url", 1]`).
    #[serde(deserialize_with = "super::json_object::required")]
    Weighted(WeightedEntry),
}

/// `{url, weight}` in `upstreams`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightedEntry {
    /// The upstream's URL.
    pub url: String,
    #[serde(default = "one", deserialize_with = "super::whole_number::deserialize")]
    /// Its share of requests (default 1).
    pub weight: u32,
}

fn one() -> u32 {
    1
}

/// The upstreams a route body names: `upstream` (one) or `upstreams` (a list), not both; each
/// URL parsed and normalised; one listed twice is one, its weights added (at most
/// [`MAX_WEIGHT`]).
pub fn targets(
    upstream: Option<&str>,
    upstreams: Option<&[UpstreamEntry]>,
) -> Result<Vec<(Upstream, u32)>, FieldError> {
    let entries: Vec<(String, String, u32)> = match (upstream, upstreams) {
        (Some(_), Some(_)) => {
            return Err(FieldError::new(
                "upstreams",
                "give `upstream` (one) or `upstreams` (a list), not both",
            ))
        }
        (None, None) => {
            return Err(FieldError::new(
                "upstream",
                "missing field `upstream` (or `upstreams`)",
            ))
        }
        (Some(one), None) => vec![("upstream".to_owned(), one.to_owned(), 1)],
        (None, Some(list)) => list
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                let field = format!("upstreams[{i}]");
                match entry {
                    UpstreamEntry::Url(url) => (field, url.clone(), 1),
                    UpstreamEntry::Weighted(w) => (field, w.url.clone(), w.weight),
                }
            })
            .collect(),
    };
    if entries.is_empty() {
        return Err(FieldError::new("upstreams", "needs at least one upstream"));
    }
    if entries.len() > MAX_UPSTREAMS {
        return Err(FieldError::new(
            "upstreams",
            format!("at most {MAX_UPSTREAMS} upstreams per route"),
        ));
    }
    let mut out: Vec<(Upstream, u32)> = Vec::with_capacity(entries.len());
    for (field, url, weight) in entries {
        let parsed = upstream_at(&field, &url)?;
        if !(1..=MAX_WEIGHT).contains(&weight) {
            return Err(FieldError::new(
                &format!("{field}.weight"),
                format!("must be 1 to {MAX_WEIGHT}"),
            ));
        }
        // The same upstream twice (`http://a` and `http://a:80` are one) is one upstream with
        // the weights added, as nginx counts a server listed twice: a larger share.
        if let Some((_, held)) = out.iter_mut().find(|(u, _)| u.url == parsed.url) {
            *held = (*held + weight).min(MAX_WEIGHT);
            continue;
        }
        out.push((parsed, weight));
    }
    Ok(out)
}

/// The stored form of [`targets`].
pub fn stored(targets: &[(Upstream, u32)]) -> Vec<UpstreamTarget> {
    targets
        .iter()
        .map(|(u, weight)| UpstreamTarget {
            url: u.url.clone(),
            weight: *weight,
        })
        .collect()
}

/// Checks `health_check`: an absolute path, an interval of 1 s to 1 h, a timeout of at least
/// 1 s to 1 h (a check longer than the interval delays the next one: they never overlap), a
/// status code.
pub fn health_check(check: &HealthCheck) -> Result<(), FieldError> {
    if !check.path.starts_with('/')
        || check.path.len() > 256
        || check.path.parse::<http::uri::PathAndQuery>().is_err()
    {
        return Err(FieldError::new(
            "health_check.path",
            "must be a path starting with `/` (at most 256 characters)",
        ));
    }
    if !(1..=3600).contains(&check.interval_seconds) {
        return Err(FieldError::new(
            "health_check.interval_seconds",
            "must be 1 to 3600",
        ));
    }
    if !(1..=3600).contains(&check.timeout_seconds) {
        return Err(FieldError::new(
            "health_check.timeout_seconds",
            "must be 1 to 3600",
        ));
    }
    if !(100..=599).contains(&check.expect_status) {
        return Err(FieldError::new(
            "health_check.expect_status",
            "must be an HTTP status code (100 to 599)",
        ));
    }
    Ok(())
}

/// Checks `upstream_ca_pem`: one or more PEM certificates, nothing else, at most 16 KiB.
pub fn upstream_ca_pem(pem: &str) -> Result<(), FieldError> {
    let bad = |why: &str| Err(FieldError::new("upstream_ca_pem", why));
    if pem.len() > MAX_CA_PEM_BYTES {
        return bad("at most 16 KiB of PEM certificates");
    }
    let mut reader = pem.as_bytes();
    let mut count = 0;
    for item in rustls_pemfile::read_all(&mut reader) {
        match item {
            Ok(rustls_pemfile::Item::X509Certificate(der)) => {
                if x509_parser::parse_x509_certificate(&der).is_err() {
                    return bad("holds a certificate that does not parse");
                }
                count += 1;
            }
            Ok(_) => return bad("may hold certificates only (never a key)"),
            Err(_) => return bad("is not PEM"),
        }
    }
    if count == 0 {
        return bad("holds no PEM certificate");
    }
    Ok(())
}

/// Checks `upstream_sni`: a DNS name or an IP address.
pub fn upstream_sni(name: &str) -> Result<String, FieldError> {
    let normalised = name.trim_end_matches('.').to_ascii_lowercase();
    if normalised.is_empty()
        || name.len() > 253
        || rustls::pki_types::ServerName::try_from(normalised.as_str()).is_err()
    {
        return Err(FieldError::new(
            "upstream_sni",
            format!("{name:?} is not a DNS name or IP address"),
        ));
    }
    Ok(normalised)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_of_upstreams() {
        let list = [
            UpstreamEntry::Url("http://a:1".into()),
            UpstreamEntry::Weighted(WeightedEntry {
                url: "https://b".into(),
                weight: 3,
            }),
        ];
        let got = targets(None, Some(&list)).unwrap();
        assert_eq!(got[1].0.url, "https://b:443");
        assert_eq!(got[1].1, 3);
        assert_eq!(targets(Some("http://a"), None).unwrap().len(), 1);
        assert!(targets(Some("http://a"), Some(&list)).is_err());
        assert!(targets(None, None).is_err());
        assert!(targets(None, Some(&[])).is_err());
        let twice = [
            UpstreamEntry::Url("http://a:80".into()),
            UpstreamEntry::Url("http://A".into()),
            UpstreamEntry::Weighted(WeightedEntry {
                url: "http://a/".into(),
                weight: 99,
            }),
        ];
        let merged = targets(None, Some(&twice)).unwrap();
        assert_eq!(merged.len(), 1, "one upstream listed three times is one");
        assert_eq!(merged[0].1, MAX_WEIGHT, "1 + 1 + 99, at most {MAX_WEIGHT}");
        let heavy = [UpstreamEntry::Weighted(WeightedEntry {
            url: "http://a".into(),
            weight: 0,
        })];
        assert_eq!(
            targets(None, Some(&heavy)).unwrap_err().field,
            "upstreams[0].weight"
        );
    }

    #[test]
    fn health_checks() {
        let good = HealthCheck {
            path: "/healthz".into(),
            interval_seconds: 5,
            timeout_seconds: 2,
            expect_status: 200,
        };
        assert!(health_check(&good).is_ok());
        for (bad, field) in [
            (
                HealthCheck {
                    path: "healthz".into(),
                    ..good.clone()
                },
                "health_check.path",
            ),
            (
                HealthCheck {
                    interval_seconds: 0,
                    ..good.clone()
                },
                "health_check.interval_seconds",
            ),
            (
                HealthCheck {
                    timeout_seconds: 0,
                    ..good.clone()
                },
                "health_check.timeout_seconds",
            ),
            (
                HealthCheck {
                    expect_status: 42,
                    ..good.clone()
                },
                "health_check.expect_status",
            ),
        ] {
            assert_eq!(health_check(&bad).unwrap_err().field, field);
        }
        // A check may take longer than the interval: the next one waits for it.
        let slow = HealthCheck {
            timeout_seconds: 60,
            ..good.clone()
        };
        assert!(health_check(&slow).is_ok());
    }

    #[test]
    fn sni_and_ca() {
        assert_eq!(upstream_sni("Api.Internal.").unwrap(), "api.internal");
        assert!(upstream_sni("10.0.0.1").is_ok());
        assert!(upstream_sni("not a name").is_err());
        assert!(upstream_ca_pem("nothing").is_err());
        assert!(
            upstream_ca_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
                .is_err()
        );
    }
}
