//! How the CA validates a certificate's names: the challenge kind (`challenge`) and, for the DNS
//! kinds, the dns-01 provider that publishes the records (`dns_provider`). Stored with the
//! certificate and kept by renewals.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The kinds of dns-01 provider, which name them (`DNS_PROVIDER`, a certificate's
/// `dns_provider`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DnsProviderKind {
    /// RFC 2136 updates (`DNS_UPDATE_SERVER`).
    #[serde(rename = "rfc2136")]
    Rfc2136,
    /// PowerDNS's HTTP API (`PDNS_API_URL`).
    #[serde(rename = "powerdns")]
    PowerDns,
    /// A program (`DNS_EXEC_PROGRAM`).
    #[serde(rename = "exec")]
    Exec,
}

impl DnsProviderKind {
    /// Every kind, in the order errors list them.
    pub const ALL: [DnsProviderKind; 3] = [
        DnsProviderKind::Rfc2136,
        DnsProviderKind::PowerDns,
        DnsProviderKind::Exec,
    ];

    /// Its name: `rfc2136`, `powerdns`, `exec`.
    pub fn as_str(self) -> &'static str {
        match self {
            DnsProviderKind::Rfc2136 => "rfc2136",
            DnsProviderKind::PowerDns => "powerdns",
            DnsProviderKind::Exec => "exec",
        }
    }
}

impl std::str::FromStr for DnsProviderKind {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        DnsProviderKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or(())
    }
}

/// How the ACME CA validates control of each name (`challenge`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChallengeKind {
    /// A token under `/.well-known/acme-challenge/` on port 80 (RFC 8555 §8.3).
    #[default]
    #[serde(rename = "http-01")]
    Http01,
    /// A self-signed certificate answered to ALPN `acme-tls/1` on port 443 (RFC 8737).
    #[serde(rename = "tls-alpn-01")]
    TlsAlpn01,
    /// A TXT record at `_acme-challenge.<name>`, placed by RFC 2136 dynamic update; the only
    /// one that proves wildcards.
    #[serde(rename = "dns-01")]
    Dns01,
    /// One persistent TXT record at `_validation-persist.<name>` naming the CA and the ACME
    /// account (draft-ietf-acme-dns-persist-01), published once; renewals touch no DNS.
    #[serde(rename = "dns-persist-01")]
    DnsPersist01,
}

impl ChallengeKind {
    /// Every challenge type, in the order the API lists them.
    pub const ALL: [ChallengeKind; 4] = [
        ChallengeKind::Http01,
        ChallengeKind::TlsAlpn01,
        ChallengeKind::Dns01,
        ChallengeKind::DnsPersist01,
    ];

    /// Whether the CA looks in DNS (dns-01, dns-persist-01): the only kinds that prove
    /// wildcards, and that cannot prove IP addresses.
    pub fn is_dns(self) -> bool {
        matches!(self, ChallengeKind::Dns01 | ChallengeKind::DnsPersist01)
    }

    /// The name the API and the ACME protocol use (`http-01`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeKind::Http01 => "http-01",
            ChallengeKind::TlsAlpn01 => "tls-alpn-01",
            ChallengeKind::Dns01 => "dns-01",
            ChallengeKind::DnsPersist01 => "dns-persist-01",
        }
    }
}

impl fmt::Display for ChallengeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ChallengeKind {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        ChallengeKind::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or(())
    }
}
