//! The route record as stored and shown.

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
    pub owner_token_hash: String,
    pub created_at: String,
    pub updated_at: String,
}
