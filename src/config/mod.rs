//! Configuration: built-in defaults < optional TOML file < environment (`docs/settings.md`).
//!
//! Every setting's name, default, range and doc line is in [`settings::SETTINGS`], once.
//!
//! Every setting is named by its environment variable; in the TOML file the key is the same name
//! in lower case, flat. A bad value is reported as a [`ConfigError`] naming the variable and what
//! it accepts; `main` turns it into exit code 2.

use crate::secret::Secret;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Let's Encrypt production directory, the seed's default for `ACME_DIRECTORY_URL`.
pub const LETS_ENCRYPT_PRODUCTION: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Let's Encrypt staging directory, the seed's default for `ACME_STAGING_URL`.
pub const LETS_ENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

/// Log output format (`LOG_FORMAT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(()),
        }
    }
}

/// The validated configuration of one certgate instance, by concern.
#[derive(Clone, Debug)]
pub struct Config {
    /// The CA: directories, polling, EAB, profiles, ARI, dns-01.
    pub acme: AcmeSettings,
    /// Certificates: keys, renewal, generation workers, the edge's cache.
    pub certificates: CertificateSettings,
    /// On-demand issuance at the handshake (`ON_DEMAND=true`); `None` when off.
    pub on_demand: Option<OnDemand>,
    /// `REDIS_*`: where the shared state lives.
    pub redis: RedisConfig,
    /// The three listeners' addresses, backlog and trusted proxies.
    pub listeners: ListenerSettings,
    /// `TLS_*`: key exchange groups, oldest version, certificate compression.
    pub tls: tls::TlsPolicy,
    /// The edge's protections: client deadlines, sizes, connection caps.
    pub limits: EdgeLimits,
    /// `UPSTREAM_*`: timeouts, pooling, retries and ejection.
    pub upstreams: UpstreamSettings,
    /// `LOG_*`, `ACCESS_LOG` and metrics limits.
    pub logs: LogSettings,
    /// Compression and the PROXY protocol.
    pub traffic: traffic::TrafficSettings,
}

/// An External Account Binding (RFC 8555 §7.3.4): the key id the CA gave and its MAC key.
#[derive(Clone, Debug)]
pub struct Eab {
    /// The key id the CA gave (`ACME_EAB_KID`).
    pub kid: String,
    /// The MAC key, base64url-decoded (`ACME_EAB_HMAC_KEY`).
    pub hmac_key: Secret<Vec<u8>>,
}

/// `QUIC_RETRY`: when a QUIC handshake from an unvalidated address gets a Retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuicRetry {
    /// Once handshakes pass `QUIC_RETRY_ABOVE` per second.
    Auto,
    /// Every time.
    Always,
    /// Never.
    Never,
}

impl std::str::FromStr for QuicRetry {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "auto" => Ok(QuicRetry::Auto),
            "always" => Ok(QuicRetry::Always),
            "never" => Ok(QuicRetry::Never),
            _ => Err(()),
        }
    }
}

/// On-demand issuance (`ON_DEMAND_*`).
#[derive(Clone, Debug)]
pub struct OnDemand {
    /// `ON_DEMAND_ASK_URL`: asked whether a name may be issued; `None`: only allow-listed names.
    pub ask_url: Option<String>,
    /// How long the ask endpoint's yes is remembered.
    pub ask_allow_ttl: Duration,
    /// How long its no is remembered.
    pub ask_deny_ttl: Duration,
    /// How long a handshake waits for its name's certificate before the default is served.
    pub handshake_wait: Duration,
    /// New orders per minute across the cluster.
    pub rate_per_minute: u64,
    /// Orders in flight at once per instance.
    pub max_concurrent: usize,
    /// `http://host:port` for hosts with no route.
    pub upstream: Option<String>,
    /// `ON_DEMAND_CHALLENGE`: how the CA validates on-demand names (http-01 or tls-alpn-01).
    pub challenge: crate::certs::model::ChallengeKind,
}

/// One invalid setting: which variable, what it accepts, what it was given.
#[derive(Debug, thiserror::Error)]
#[error("invalid {variable}: {accepts} (got {got:?})")]
pub struct ConfigError {
    /// The variable's name.
    pub variable: String,
    /// What it accepts, in words.
    pub accepts: String,
    /// The value it was given.
    pub got: String,
}

/// Where raw values come from; tests pass their own environment.
pub type RawValues = BTreeMap<String, String>;

pub mod dns;
#[cfg(test)]
mod generated;
mod groups;
mod redis_url;
pub mod settings;
pub mod tls;
pub mod traffic;
mod values;

pub use dns::{
    DnsExec, DnsPropagation, DnsProviderKind, DnsUpdate, PowerDnsApi, PropagationCheck,
    TsigAlgorithm,
};
pub use values::is_profile_name;

pub use groups::{
    AcmeSettings, CertificateSettings, EdgeLimits, ListenerSettings, LogSettings, RedisConfig,
    UpstreamSettings,
};
pub use redis_url::{fred_url, redact_url, RedisUrl};

use values::{read_toml, Values};

impl Config {
    /// The trusted proxies, for the client address the access log names; `None` when the
    /// access log is off (nothing then needs the client behind a proxy at a request's start).
    pub fn access_log_trusted_proxies(&self) -> Option<&[ipnet::IpNet]> {
        (self.logs.access_log != traffic::AccessLog::Off)
            .then_some(&self.listeners.trusted_proxies[..])
    }

    /// Loads the configuration from an optional TOML file and the process environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let env: RawValues = std::env::vars()
            .filter(|(k, _)| settings::is_known(k))
            .collect();
        let mut raw = match file {
            Some(path) => read_toml(path)?,
            None => RawValues::new(),
        };
        raw.extend(env);
        Config::from_raw(&raw)
    }

    /// Builds and validates a configuration from raw `NAME → value` pairs.
    pub fn from_raw(raw: &RawValues) -> Result<Config, ConfigError> {
        let v = Values(raw);
        let config = Config {
            acme: AcmeSettings::read(&v)?,
            certificates: CertificateSettings::read(&v)?,
            on_demand: v.on_demand()?,
            redis: RedisConfig::read(&v)?,
            listeners: ListenerSettings::read(&v)?,
            tls: v.tls_policy()?,
            limits: EdgeLimits::read(&v)?,
            upstreams: UpstreamSettings::read(&v)?,
            logs: LogSettings::read(&v)?,
            traffic: traffic::TrafficSettings::read(&v)?,
        };
        if config.acme.ari_max_poll < config.acme.ari_min_poll {
            return Err(ConfigError {
                variable: "ARI_MAX_POLL_SECONDS".into(),
                accepts: format!(
                    "at least ARI_MIN_POLL_SECONDS ({})",
                    config.acme.ari_min_poll.as_secs()
                ),
                got: config.acme.ari_max_poll.as_secs().to_string(),
            });
        }
        Ok(config)
    }

    /// A configuration with every default, for tests and tools; `ADMIN_TOKEN` unset.
    pub fn defaults() -> Config {
        Config::from_raw(&RawValues::new()).expect("built-in defaults are valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> RawValues {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_match_the_spec() {
        let c = Config::defaults();
        assert_eq!(c.acme.poll_max_attempts, 60);
        assert_eq!(c.acme.poll_interval, Duration::from_secs(2));
        assert_eq!(
            c.certificates.renewal_check_interval,
            Duration::from_secs(86_400)
        );
        assert_eq!(c.certificates.renewal_threshold_days, 30);
        assert_eq!(c.certificates.status_retention, Duration::from_secs(300));
        assert_eq!(c.certificates.gen_max_workers, 5);
        assert_eq!(c.certificates.rsa_key_size, 2048);
        assert_eq!(c.certificates.self_signed_days, 365);
        assert_eq!(c.redis.key_prefix, "certgate:");
        assert_eq!(c.listeners.admin_addr.to_string(), "127.0.0.1:8081");
        assert_eq!(c.limits.max_header_bytes, 32_768);
        assert_eq!(c.acme.directory_url, LETS_ENCRYPT_PRODUCTION);
        assert_eq!(
            c.tls.key_exchange_groups,
            ["X25519MLKEM768", "X25519", "secp256r1", "secp384r1"]
        );
        assert_eq!(c.tls.min_version, tls::TlsVersion::Tls12);
        assert!(c.tls.cert_compression);
    }

    #[test]
    fn bad_values_name_their_variable() {
        let cases = [
            ("RSA_KEY_SIZE", "1000"),
            ("ADMIN_TOKEN", "short"),
            ("KEY_TYPE", "dsa"),
            ("HTTP_ADDR", "nowhere"),
            ("CERT_GEN_MAX_WORKERS", "0"),
            ("TRUSTED_PROXIES", "10.0.0.0/33"),
            ("REDIS_URL", "http://x"),
            ("LOG_FORMAT", "xml"),
            ("TLS_KEY_EXCHANGE_GROUPS", "X25519,ffdhe2048"),
            ("TLS_KEY_EXCHANGE_GROUPS", "X25519,X25519"),
            ("TLS_MIN_VERSION", "1.1"),
            ("TLS_CERT_COMPRESSION", "maybe"),
        ];
        for (name, value) in cases {
            let err = Config::from_raw(&raw(&[(name, value)])).unwrap_err();
            assert_eq!(err.variable, name);
        }
    }

    #[test]
    fn on_demand_validates_by_http_01_or_tls_alpn_01_only() {
        let on = |challenge: &str| {
            Config::from_raw(&raw(&[
                ("ON_DEMAND", "true"),
                ("ON_DEMAND_CHALLENGE", challenge),
            ]))
        };
        let chosen = on("tls-alpn-01").unwrap().on_demand.unwrap().challenge;
        assert_eq!(chosen, crate::certs::model::ChallengeKind::TlsAlpn01);
        let err = on("dns-01").unwrap_err();
        assert_eq!(err.variable, "ON_DEMAND_CHALLENGE");
    }

    #[test]
    fn debug_shows_no_secret() {
        let c = Config::from_raw(&raw(&[
            ("REDIS_URL", "redis://app:hunter2hunter2@127.0.0.1:6379"),
            ("ADMIN_TOKEN", "admin-token-admin-token-12345"),
        ]))
        .unwrap();
        let text = format!("{c:?}");
        assert!(
            !text.contains("hunter2") && !text.contains("admin-token-admin"),
            "{text}"
        );
        assert!(text.contains("127.0.0.1:6379"), "{text}");
    }

    #[test]
    fn eab_needs_both_variables_and_hides_its_key() {
        let err = Config::from_raw(&raw(&[("ACME_EAB_KID", "kid-1")])).unwrap_err();
        assert!(
            err.variable.contains("ACME_EAB_KID") && err.variable.contains("ACME_EAB_HMAC_KEY")
        );
        let c = Config::from_raw(&raw(&[
            ("ACME_EAB_KID", "kid-1"),
            (
                "ACME_EAB_HMAC_KEY",
                "c2VjcmV0LW1hYy1rZXktYnl0ZXMtMDEyMzQ1Njc4OQ",
            ),
        ]))
        .unwrap();
        assert_eq!(c.acme.eab.as_ref().unwrap().kid, "kid-1");
        assert!(!format!("{c:?}").contains("secret-mac"));
        let err = Config::from_raw(&raw(&[("ACME_EAB_KID", "k"), ("ACME_EAB_HMAC_KEY", "!!")]))
            .unwrap_err();
        assert_eq!(err.variable, "ACME_EAB_HMAC_KEY");
        assert!(!err.to_string().contains("!!"));
    }

    #[test]
    fn one_dns_provider_at_a_time() {
        let both = [
            ("DNS_EXEC_PROGRAM", "/bin/sh"),
            ("PDNS_API_URL", "http://127.0.0.1:8081"),
            ("PDNS_API_KEY", "pdns-secret-value"),
        ];
        let raw: RawValues = both
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let err = Config::from_raw(&raw).unwrap_err();
        assert_eq!(err.variable, "DNS_PROVIDER");
        assert!(err.accepts.contains("powerdns, exec"), "{err}");
        let mut chosen = raw.clone();
        chosen.insert("DNS_PROVIDER".into(), "exec".into());
        let c = Config::from_raw(&chosen).unwrap();
        assert_eq!(c.acme.dns_provider, Some(DnsProviderKind::Exec));
        chosen.insert("DNS_PROVIDER".into(), "rfc2136".into());
        let err = Config::from_raw(&chosen).unwrap_err();
        assert_eq!(err.variable, "DNS_PROVIDER", "rfc2136 is not configured");
        let alone: RawValues = both[1..]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let c = Config::from_raw(&alone).unwrap();
        assert_eq!(c.acme.dns_provider, Some(DnsProviderKind::PowerDns));
        let pdns = Config::from_raw(&alone).unwrap().acme.powerdns.unwrap();
        assert_eq!(pdns.server_id, "localhost");
        assert!(
            !format!("{pdns:?}").contains("pdns-secret-value"),
            "{pdns:?}"
        );
    }

    #[test]
    fn dns_update_needs_server_key_and_secret() {
        assert!(Config::defaults().acme.dns_update.is_none());
        let err = Config::from_raw(&raw(&[("DNS_UPDATE_SERVER", "127.0.0.1:53")])).unwrap_err();
        assert!(err.variable.contains("DNS_TSIG_SECRET"), "{err}");
        let secret = "c2VjcmV0L3NlY3JldCtzZWNyZXQ=";
        let full = [
            ("DNS_UPDATE_SERVER", "ns1.example.net:5353"),
            ("DNS_TSIG_KEY_NAME", "certgate."),
            ("DNS_TSIG_SECRET", secret),
        ];
        let c = Config::from_raw(&raw(&full)).unwrap();
        let dns = c.acme.dns_update.as_ref().unwrap();
        assert_eq!(dns.tsig_key_name, "certgate");
        assert_eq!(dns.tsig_secret.expose(), b"secret/secret+secret");
        let propagation = &c.acme.dns_propagation;
        assert_eq!(propagation.timeout, Duration::from_secs(120));
        assert_eq!(propagation.check, PropagationCheck::Authoritative);
        assert_eq!(propagation.port, 53);
        assert!(!format!("{c:?}").contains(secret));
        let mut bad = full.to_vec();
        bad[0] = ("DNS_UPDATE_SERVER", "ns1.example.net");
        let err = Config::from_raw(&raw(&bad)).unwrap_err();
        assert_eq!(err.variable, "DNS_UPDATE_SERVER");
    }

    #[test]
    fn ari_poll_bounds_must_be_ordered() {
        let c = Config::defaults();
        assert_eq!(c.acme.ari_min_poll, Duration::from_secs(3600));
        assert_eq!(c.acme.ari_max_poll, Duration::from_secs(86_400));
        let err = Config::from_raw(&raw(&[
            ("ARI_MIN_POLL_SECONDS", "600"),
            ("ARI_MAX_POLL_SECONDS", "60"),
        ]))
        .unwrap_err();
        assert_eq!(err.variable, "ARI_MAX_POLL_SECONDS");
        assert!(err.to_string().contains("600"), "{err}");
    }

    #[test]
    fn admin_token_is_never_echoed() {
        let err = Config::from_raw(&raw(&[("ADMIN_TOKEN", "secret-but-short")])).unwrap_err();
        assert!(!err.to_string().contains("secret-but-short"));
    }

    #[test]
    fn environment_overrides_file() {
        let dir = std::env::temp_dir().join(format!("certgate-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, "rsa_key_size = 4096\ncert_gen_max_workers = 3\n").unwrap();
        let mut values = read_toml(&file).unwrap();
        values.insert("CERT_GEN_MAX_WORKERS".into(), "7".into());
        let c = Config::from_raw(&values).unwrap();
        assert_eq!(c.certificates.rsa_key_size, 4096);
        assert_eq!(c.certificates.gen_max_workers, 7);
        std::fs::write(&file, "no_such_key = 1\n").unwrap();
        assert_eq!(read_toml(&file).unwrap_err().variable, "no_such_key");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
