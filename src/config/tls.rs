//! The TLS policy of the HTTPS listener (`TLS_*`): which key exchange groups, in what order,
//! the oldest protocol version, and certificate compression. Plain data here; `tls::policy`
//! turns it into rustls' configuration.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The key exchange groups certgate can offer (aws-lc-rs), by their IANA names.
pub const KX_GROUP_NAMES: [&str; 7] = [
    "X25519MLKEM768",
    "SECP256R1MLKEM768",
    "X25519",
    "secp256r1",
    "secp384r1",
    "MLKEM768",
    "MLKEM1024",
];

/// A TLS protocol version a listener or route may require at least.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TlsVersion {
    /// TLS 1.2 (and 1.3).
    #[default]
    #[serde(rename = "1.2")]
    Tls12,
    /// TLS 1.3 only.
    #[serde(rename = "1.3")]
    Tls13,
}

impl TlsVersion {
    /// As settings and routes write it: `1.2` or `1.3`.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsVersion::Tls12 => "1.2",
            TlsVersion::Tls13 => "1.3",
        }
    }
}

impl FromStr for TlsVersion {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "1.2" => Ok(TlsVersion::Tls12),
            "1.3" => Ok(TlsVersion::Tls13),
            _ => Err(()),
        }
    }
}

/// `TLS_*`: what every handshake on the HTTPS listener is held to.
#[derive(Clone, Debug)]
pub struct TlsPolicy {
    /// `TLS_KEY_EXCHANGE_GROUPS`: names from [`KX_GROUP_NAMES`], most preferred first.
    pub key_exchange_groups: Vec<String>,
    /// `TLS_MIN_VERSION`.
    pub min_version: TlsVersion,
    /// `TLS_CERT_COMPRESSION`: compress the chain for clients that offer RFC 8879.
    pub cert_compression: bool,
    /// `CRL_REFRESH_SECONDS`: the longest a fetched CRL is used before it is fetched again.
    pub crl_refresh: std::time::Duration,
}
