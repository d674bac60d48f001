//! The dns-01 provider settings: RFC 2136 (`DNS_UPDATE_*`, `DNS_TSIG_*`), PowerDNS's API
//! (`PDNS_*`) or a program (`DNS_EXEC_*`) — one at a time.

use std::path::PathBuf;

use super::super::settings::setting;
use super::super::{ConfigError, DnsExec, DnsPropagation, DnsUpdate, PowerDnsApi};
use super::{decode_key, Values};
use crate::secret::Secret;

/// The variable that turns each dns-01 provider on; one of them may be set.
const PROVIDERS: [&str; 3] = ["DNS_UPDATE_SERVER", "PDNS_API_URL", "DNS_EXEC_PROGRAM"];

impl Values<'_> {
    /// The dns-01 settings: server, TSIG key name and secret all set, or none of them.
    pub(in crate::config) fn dns_update(&self) -> Result<Option<DnsUpdate>, ConfigError> {
        const TRIO: [&str; 3] = ["DNS_UPDATE_SERVER", "DNS_TSIG_KEY_NAME", "DNS_TSIG_SECRET"];
        let [server, key_name, secret] = TRIO.map(|n| self.get(n).unwrap_or_default().trim());
        let set = [server, key_name, secret]
            .iter()
            .filter(|v| !v.is_empty())
            .count();
        if set == 0 {
            return Ok(None);
        }
        if set < 3 {
            return Err(ConfigError {
                variable: TRIO.join(", "),
                accepts: "all three set, or none".into(),
                got: TRIO
                    .iter()
                    .zip([server, key_name, secret])
                    .map(|(n, v)| format!("{n} {}", if v.is_empty() { "empty" } else { "set" }))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        let port_ok = server.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
        });
        if !port_ok {
            return Err(ConfigError {
                variable: "DNS_UPDATE_SERVER".into(),
                accepts: "host:port (e.g. ns1.example.com:53 or 192.0.2.1:53)".into(),
                got: server.into(),
            });
        }
        let Some(secret) = decode_key(secret) else {
            return Err(ConfigError {
                variable: "DNS_TSIG_SECRET".into(),
                accepts: setting("DNS_TSIG_SECRET").accepts(),
                got: "[redacted]".into(),
            });
        };
        let zone = self.get("DNS_UPDATE_ZONE").unwrap_or_default().trim();
        Ok(Some(DnsUpdate {
            server: server.to_owned(),
            zone: (!zone.is_empty()).then(|| zone.trim_end_matches('.').to_ascii_lowercase()),
            tsig_key_name: key_name.trim_end_matches('.').to_owned(),
            tsig_secret: Secret::bytes(secret),
            tsig_algorithm: self.choice("DNS_TSIG_ALGORITHM")?,
            resolver: self.socket_addr("DNS_RESOLVER")?.map(|a| a.to_string()),
        }))
    }

    /// How a published record is checked before the CA is told to look.
    pub(in crate::config) fn dns_propagation(&self) -> Result<DnsPropagation, ConfigError> {
        Ok(DnsPropagation {
            check: self.choice("DNS_PROPAGATION_CHECK")?,
            timeout: self.seconds("DNS_PROPAGATION_TIMEOUT")?,
            resolver: self.socket_addr("DNS_RESOLVER")?.map(|a| a.to_string()),
            port: self.number("DNS_AUTHORITATIVE_PORT")? as u16,
        })
    }

    /// Refuses `name` (one of [`PROVIDERS`]) when another provider is configured too.
    fn alone(&self, name: &str) -> Result<(), ConfigError> {
        let set = |p: &str| !self.get(p).unwrap_or_default().is_empty();
        match PROVIDERS.iter().find(|p| **p != name && set(p)) {
            None => Ok(()),
            Some(other) => Err(ConfigError {
                variable: name.into(),
                accepts: format!("unset while {other} is set (one dns-01 provider at a time)"),
                got: self.get(name).unwrap_or_default().into(),
            }),
        }
    }

    /// `DNS_EXEC_PROGRAM` and its settings; an error when it is not an executable file or when
    /// another provider is configured too.
    pub(in crate::config) fn dns_exec(&self) -> Result<Option<DnsExec>, ConfigError> {
        let program = self.get("DNS_EXEC_PROGRAM").unwrap_or_default();
        if program.is_empty() {
            return Ok(None);
        }
        let refuse = |accepts: &str| ConfigError {
            variable: "DNS_EXEC_PROGRAM".into(),
            accepts: accepts.into(),
            got: program.into(),
        };
        self.alone("DNS_EXEC_PROGRAM")?;
        use std::os::unix::fs::PermissionsExt;
        let executable = std::fs::metadata(program)
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
        if !executable {
            return Err(refuse("the path of an executable file"));
        }
        let env = self
            .get("DNS_EXEC_ENV")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(Some(DnsExec {
            program: PathBuf::from(program),
            env,
            timeout: self.seconds("DNS_EXEC_TIMEOUT_SECONDS")?,
        }))
    }

    /// `PDNS_API_URL` with its key and server id; an error when the key is missing or another
    /// provider is configured too.
    pub(in crate::config) fn powerdns(&self) -> Result<Option<PowerDnsApi>, ConfigError> {
        let url = self.get("PDNS_API_URL").unwrap_or_default();
        if url.is_empty() {
            return Ok(None);
        }
        let url = self.url("PDNS_API_URL")?;
        self.alone("PDNS_API_URL")?;
        let key = self.get("PDNS_API_KEY").unwrap_or_default();
        if key.is_empty() {
            return Err(ConfigError {
                variable: "PDNS_API_KEY".into(),
                accepts: "the API key of the PowerDNS webserver, when PDNS_API_URL is set".into(),
                got: String::new(),
            });
        }
        let server_id = self.text("PDNS_SERVER_ID");
        Ok(Some(PowerDnsApi {
            url,
            api_key: Secret::new(key),
            server_id: if server_id.is_empty() {
                "localhost".into()
            } else {
                server_id
            },
        }))
    }
}
