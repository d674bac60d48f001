//! What the edge does to traffic beside forwarding it: compression (`COMPRESS_*`), the PROXY
//! protocol on the listeners (`PROXY_PROTOCOL*`) and where access logs go (`ACCESS_LOG`).

use std::path::PathBuf;

use ipnet::IpNet;

use super::values::Values;
use super::ConfigError;

/// Which answers are worth compressing (`COMPRESS_TYPES`, `COMPRESS_MIN_BYTES`).
#[derive(Clone, Debug)]
pub struct CompressPolicy {
    /// Media types (`type/subtype`) or ranges (`type/*`), lower case.
    pub types: Vec<String>,
    /// Answers declaring a smaller `Content-Length` are sent as they are.
    pub min_bytes: u64,
}

/// Whether the HTTP and HTTPS listeners expect a PROXY protocol header (v1 or v2) first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProxyProtocol {
    /// Never: a connection's first bytes are HTTP or TLS.
    #[default]
    Off,
    /// A trusted source may send one; a connection without it is served as it is.
    Optional,
    /// Every connection must start with one, from a trusted source.
    Required,
}

impl std::str::FromStr for ProxyProtocol {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "off" => Ok(ProxyProtocol::Off),
            "optional" => Ok(ProxyProtocol::Optional),
            "required" => Ok(ProxyProtocol::Required),
            _ => Err(()),
        }
    }
}

/// The PROXY protocol settings.
#[derive(Clone, Debug, Default)]
pub struct ProxyProtocolSettings {
    /// `PROXY_PROTOCOL`.
    pub mode: ProxyProtocol,
    /// `PROXY_PROTOCOL_TRUSTED`: the load balancers whose headers are believed; a header from
    /// anyone else closes the connection.
    pub trusted: Vec<IpNet>,
}

/// Where the access log goes (`ACCESS_LOG`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AccessLog {
    /// No access log.
    #[default]
    Off,
    /// JSON lines on standard output.
    Stdout,
    /// JSON lines appended to this file, reopened on SIGHUP.
    File(PathBuf),
}

/// The traffic settings.
#[derive(Clone, Debug)]
pub struct TrafficSettings {
    /// Compression of answers on routes with `encode`.
    pub compress: CompressPolicy,
    /// PROXY protocol on the HTTP and HTTPS listeners.
    pub proxy_protocol: ProxyProtocolSettings,
}

impl TrafficSettings {
    pub(super) fn read(v: &Values) -> Result<TrafficSettings, ConfigError> {
        let proxy_protocol = ProxyProtocolSettings {
            mode: v.choice("PROXY_PROTOCOL")?,
            trusted: v.cidrs("PROXY_PROTOCOL_TRUSTED")?,
        };
        if proxy_protocol.mode != ProxyProtocol::Off && proxy_protocol.trusted.is_empty() {
            return Err(ConfigError {
                variable: "PROXY_PROTOCOL_TRUSTED".into(),
                accepts: "the load balancers' CIDRs when PROXY_PROTOCOL is optional or required"
                    .into(),
                got: String::new(),
            });
        }
        Ok(TrafficSettings {
            compress: CompressPolicy {
                types: v.media_types("COMPRESS_TYPES")?,
                min_bytes: v.number("COMPRESS_MIN_BYTES")?,
            },
            proxy_protocol,
        })
    }
}

impl AccessLog {
    /// `off` (or `false`), `stdout` (or `true`, as before the file option), or a path.
    pub(super) fn read(v: &Values) -> Result<AccessLog, ConfigError> {
        let text = v.text("ACCESS_LOG");
        Ok(match text.as_str() {
            "" | "off" | "false" | "0" | "no" => AccessLog::Off,
            "stdout" | "true" | "1" | "yes" => AccessLog::Stdout,
            path => AccessLog::File(PathBuf::from(path)),
        })
    }
}
