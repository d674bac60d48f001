//! The route record as stored and shown.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A hostname's route to its upstreams.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// The one hostname it serves (a DNS name, normalised; no wildcard).
    pub hostname: String,
    /// The first of [`Route::upstreams`] (`http://`, `https://` or `h2c://host:port`): what
    /// records written before several upstreams existed hold, and what one-upstream clients read.
    pub upstream: String,
    /// Where requests for `hostname` are forwarded, balanced by `policy`; empty in records
    /// written before several upstreams existed (then `upstream` is the only one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upstreams: Vec<UpstreamTarget>,
    /// How a request's upstream is chosen among `upstreams`.
    #[serde(default, skip_serializing_if = "Policy::is_default")]
    pub policy: Policy,
    /// Active health checks of every upstream, run by each instance (passive checks always run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    /// PEM certificates that verify `https://` upstreams instead of the system roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_ca_pem: Option<String>,
    /// The name sent as SNI to `https://` upstreams and verified in their certificates (default:
    /// the upstream's host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_sni: Option<String>,
    /// `https://` upstreams' certificates are not verified (admin only; logged on every new
    /// connection).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure_skip_verify: bool,
    /// The certificate served for this hostname, when the route names one.
    #[serde(default)]
    pub cert_name: Option<String>,
    /// `true`: plain-HTTP requests are redirected to HTTPS; `false`: also proxied over HTTP.
    pub https_redirect: bool,
    /// Forward the client's `Host`; `false` sends the upstream's authority instead.
    pub preserve_host: bool,
    /// `Strict-Transport-Security` on this host's HTTPS responses (off when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hsts: Option<Hsts>,
    /// Which client addresses may reach this route (`403` for the others).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_rules: Option<super::ip_rules::IpRules>,
    /// Compressions applied to this host's answers, most preferred first (none when empty):
    /// see `docs/edge.md`, "Compression".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub encode: Vec<super::encode::Encoding>,
    /// Requests per client, counted once for the cluster (`429` above it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<super::rate_limit::RateLimit>,
    /// Client certificates (mTLS) for this hostname's handshakes: asked for, verified against
    /// the route's CAs and CRLs, optionally forwarded upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_auth: Option<super::client_auth::ClientAuth>,
    /// The oldest TLS version a handshake for this hostname may use (`TLS_MIN_VERSION` when
    /// absent; a route can only raise it). A request for this host on a connection made with
    /// an older version gets `421`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_tls_version: Option<crate::config::tls::TlsVersion>,
    /// Written by a non-admin token: every new upstream connection checks the addresses the
    /// upstream resolves to now (loopback, link-local and unspecified are refused), so a name
    /// that later resolves inward (DNS rebinding) gets `502`, not a way in.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restricted_upstream: bool,
    /// Headers set or removed on requests before they are forwarded.
    #[serde(default, skip_serializing_if = "HeaderRules::is_empty")]
    pub request_headers: HeaderRules,
    /// Headers set or removed on responses before they reach the client.
    #[serde(default, skip_serializing_if = "HeaderRules::is_empty")]
    pub response_headers: HeaderRules,
    /// SHA-256 of the token that created it.
    pub owner_token_hash: String,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// When it last changed (RFC 3339).
    pub updated_at: String,
}

impl Route {
    /// The upstreams requests are balanced over: `upstreams`, or `upstream` alone in older
    /// records.
    pub fn targets(&self) -> std::borrow::Cow<'_, [UpstreamTarget]> {
        if self.upstreams.is_empty() {
            std::borrow::Cow::Owned(vec![UpstreamTarget {
                url: self.upstream.clone(),
                weight: 1,
            }])
        } else {
            std::borrow::Cow::Borrowed(&self.upstreams)
        }
    }
}

/// One upstream of a route and its share of the requests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTarget {
    /// `http://`, `https://` or `h2c://host:port`, normalised.
    pub url: String,
    /// Relative share under `round_robin` (1–100).
    #[serde(default = "one")]
    pub weight: u32,
}

fn one() -> u32 {
    1
}

/// How a route picks the upstream for a request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// In turn, each upstream as often as its weight says.
    #[default]
    RoundRobin,
    /// The upstream with the fewest requests in flight from this instance.
    LeastRequests,
    /// The first healthy upstream in the listed order (failover).
    First,
}

impl Policy {
    fn is_default(&self) -> bool {
        *self == Policy::RoundRobin
    }
}

/// An active health check: `GET path` on every upstream each `interval_seconds`; healthy when
/// the answer comes within `timeout_seconds` with `expect_status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    #[serde(default = "root_path")]
    /// The path checked with `GET` (default `/`).
    pub path: String,
    #[serde(default = "ten", deserialize_with = "super::whole_number::deserialize")]
    /// Seconds between checks (default 10).
    pub interval_seconds: u64,
    #[serde(default = "two", deserialize_with = "super::whole_number::deserialize")]
    /// Seconds a check may take (default 2).
    pub timeout_seconds: u64,
    #[serde(
        default = "ok_status",
        deserialize_with = "super::whole_number::deserialize"
    )]
    /// The status a healthy upstream answers (default 200).
    pub expect_status: u16,
}

fn root_path() -> String {
    "/".to_owned()
}
fn ten() -> u64 {
    10
}
fn two() -> u64 {
    2
}
fn ok_status() -> u16 {
    200
}

/// `Strict-Transport-Security: max-age=…[; includeSubDomains][; preload]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hsts {
    /// Seconds browsers remember to use HTTPS only.
    #[serde(deserialize_with = "super::whole_number::deserialize")]
    pub max_age: u64,
    #[serde(default)]
    /// Adds `includeSubDomains`.
    pub include_subdomains: bool,
    #[serde(default)]
    /// Adds `preload`.
    pub preload: bool,
}

impl Hsts {
    /// The header value.
    pub fn header_value(&self) -> String {
        let mut value = format!("max-age={}", self.max_age);
        if self.include_subdomains {
            value.push_str("; includeSubDomains");
        }
        if self.preload {
            value.push_str("; preload");
        }
        value
    }
}

/// Headers to set (replacing any the message has) and to remove; names lower-case.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderRules {
    #[serde(default)]
    /// Headers to set, by lower-case name.
    pub set: BTreeMap<String, String>,
    #[serde(default)]
    /// Lower-case names of headers to remove.
    pub remove: Vec<String>,
}

impl HeaderRules {
    /// Nothing to set or remove.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.remove.is_empty()
    }

    /// Removes, then sets (names and values were validated when the route was written).
    pub fn apply(&self, headers: &mut http::HeaderMap) {
        for name in &self.remove {
            headers.remove(name.as_str());
        }
        for (name, value) in &self.set {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_str(value),
            ) {
                headers.insert(name, value);
            }
        }
    }
}
