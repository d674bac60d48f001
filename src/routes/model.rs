//! The route record as stored and shown.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A hostname's route to its upstream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub hostname: String,
    /// `http://host:port`, where requests for `hostname` are forwarded.
    pub upstream: String,
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
    pub owner_token_hash: String,
    pub created_at: String,
    pub updated_at: String,
}

/// `Strict-Transport-Security: max-age=…[; includeSubDomains][; preload]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hsts {
    /// Seconds browsers remember to use HTTPS only.
    pub max_age: u64,
    #[serde(default)]
    pub include_subdomains: bool,
    #[serde(default)]
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
    pub set: BTreeMap<String, String>,
    #[serde(default)]
    pub remove: Vec<String>,
}

impl HeaderRules {
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
