//! The dns-01 settings: the providers (RFC 2136, PowerDNS's API, a program) and the check that a
//! published record can be seen before the CA is told to look.

use std::time::Duration;

use crate::secret::Secret;

pub use crate::certs::model::DnsProviderKind;

/// RFC 2136 dynamic updates for dns-01 (`DNS_*`).
#[derive(Clone, Debug)]
pub struct DnsUpdate {
    /// `host:port` of the authoritative server.
    pub server: String,
    /// The zone to update; `None`: found by an SOA lookup.
    pub zone: Option<String>,
    /// The TSIG key's name (`DNS_TSIG_KEY_NAME`).
    pub tsig_key_name: String,
    /// The TSIG secret, base64-decoded (`DNS_TSIG_SECRET`).
    pub tsig_secret: Secret<Vec<u8>>,
    /// The TSIG algorithm (`DNS_TSIG_ALGORITHM`).
    pub tsig_algorithm: TsigAlgorithm,
    /// `DNS_RESOLVER`: where `_acme-challenge` CNAMEs (delegation) are looked up; `None`: at
    /// `server`.
    pub resolver: Option<String>,
}

/// How certgate makes sure a published TXT record can be seen before telling the CA to look.
#[derive(Clone, Debug)]
pub struct DnsPropagation {
    /// `DNS_PROPAGATION_CHECK`: whether every authoritative server must answer it first.
    pub check: PropagationCheck,
    /// `DNS_PROPAGATION_TIMEOUT`.
    pub timeout: Duration,
    /// `DNS_RESOLVER`: where a zone's NS records and their addresses are looked up; `None`: the
    /// RFC 2136 server, else the system's resolver.
    pub resolver: Option<String>,
    /// `DNS_AUTHORITATIVE_PORT`: the port the authoritative servers are asked on.
    pub port: u16,
}

/// `DNS_PROPAGATION_CHECK`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PropagationCheck {
    /// Every authoritative server of the record's zone answers it.
    Authoritative,
    /// No check.
    Off,
}

impl std::str::FromStr for PropagationCheck {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "authoritative" => Ok(PropagationCheck::Authoritative),
            "off" => Ok(PropagationCheck::Off),
            _ => Err(()),
        }
    }
}

/// dns-01 through a program (`DNS_EXEC_*`), lego's `exec` protocol.
#[derive(Clone, Debug)]
pub struct DnsExec {
    /// `DNS_EXEC_PROGRAM`.
    pub program: std::path::PathBuf,
    /// `DNS_EXEC_ENV`: the environment variables passed through, by name.
    pub env: Vec<String>,
    /// `DNS_EXEC_TIMEOUT_SECONDS`.
    pub timeout: Duration,
}

/// dns-01 through PowerDNS Authoritative's HTTP API (`PDNS_*`).
#[derive(Clone, Debug)]
pub struct PowerDnsApi {
    /// `PDNS_API_URL`: the webserver's base URL (`http://127.0.0.1:8081`).
    pub url: String,
    /// `PDNS_API_KEY`; redacted in `Debug`.
    pub api_key: Secret,
    /// `PDNS_SERVER_ID` (`localhost` unless the server says otherwise).
    pub server_id: String,
}

/// The TSIG algorithms certgate signs updates with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TsigAlgorithm {
    /// HMAC-SHA256 (`hmac-sha256`).
    HmacSha256,
    /// HMAC-SHA384 (`hmac-sha384`).
    HmacSha384,
    /// HMAC-SHA512 (`hmac-sha512`).
    HmacSha512,
}

impl std::str::FromStr for TsigAlgorithm {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "hmac-sha256" => Ok(TsigAlgorithm::HmacSha256),
            "hmac-sha384" => Ok(TsigAlgorithm::HmacSha384),
            "hmac-sha512" => Ok(TsigAlgorithm::HmacSha512),
            _ => Err(()),
        }
    }
}
