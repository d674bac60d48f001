//! The dns-01 provider settings: RFC 2136 (`DNS_UPDATE_*`, `DNS_TSIG_*`), PowerDNS's API
//! (`PDNS_*`) and a program (`DNS_EXEC_*`), any of them side by side, with `DNS_PROVIDER` naming
//! the one certificates use unless they name another (`dns_provider`).

use std::path::PathBuf;

use super::super::settings::setting;
use super::super::{ConfigError, DnsExec, DnsPropagation, DnsProviderKind, DnsUpdate, PowerDnsApi};
use super::{decode_key, Values};
use crate::secret::Secret;

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

    /// `DNS_PROVIDER`: the provider of certificates that name none — one of `configured`;
    /// needed only when more than one is configured.
    pub(in crate::config) fn dns_default(
        &self,
        configured: &[DnsProviderKind],
    ) -> Result<Option<DnsProviderKind>, ConfigError> {
        let text = self.text("DNS_PROVIDER");
        let names: Vec<&str> = configured.iter().map(|k| k.as_str()).collect();
        let refuse = |accepts: String| ConfigError {
            variable: "DNS_PROVIDER".into(),
            accepts,
            got: text.clone(),
        };
        if text.is_empty() {
            return match configured {
                [] => Ok(None),
                [one] => Ok(Some(*one)),
                _ => Err(refuse(format!(
                    "one of the configured dns-01 providers ({}), which certificates use unless they name another",
                    names.join(", ")
                ))),
            };
        }
        match text.parse::<DnsProviderKind>() {
            Ok(kind) if configured.contains(&kind) => Ok(Some(kind)),
            _ => Err(refuse(format!(
                "one of the configured dns-01 providers ({})",
                if names.is_empty() {
                    "none is".to_owned()
                } else {
                    names.join(", ")
                }
            ))),
        }
    }

    /// `DNS_EXEC_PROGRAM` and its settings; an error when it is not an executable file.
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

    /// `PDNS_API_URL` with its key and server id; an error when the key is missing.
    pub(in crate::config) fn powerdns(&self) -> Result<Option<PowerDnsApi>, ConfigError> {
        let url = self.get("PDNS_API_URL").unwrap_or_default();
        if url.is_empty() {
            return Ok(None);
        }
        let url = self.url("PDNS_API_URL")?;
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
