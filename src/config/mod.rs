//! Configuration: built-in defaults < optional TOML file < environment (`docs/settings.md`).
//!
//! Every setting's name, default, range and doc line is in [`settings::SETTINGS`], once.
//!
//! Every setting is named by its environment variable; in the TOML file the key is the same name
//! in lower case, flat. A bad value is reported as a [`ConfigError`] naming the variable and what
//! it accepts; `main` turns it into exit code 2.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;

use crate::certs::model::KeyType;
use crate::secret::Secret;

/// Let's Encrypt production directory, the seed's default for `ACME_DIRECTORY_URL`.
pub const LETS_ENCRYPT_PRODUCTION: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Let's Encrypt staging directory, the seed's default for `ACME_STAGING_URL`.
pub const LETS_ENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

/// Log output format (`LOG_FORMAT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
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

/// The validated configuration of one certgate instance.
#[derive(Clone, Debug)]
pub struct Config {
    pub acme_directory_url: String,
    pub acme_staging_url: String,
    /// Polls of an order or authorization before giving up.
    pub acme_poll_max_attempts: u32,
    pub acme_poll_interval: Duration,
    pub acme_poll_initial_wait: Duration,
    /// External Account Binding for `ACME_DIRECTORY_URL` (`ACME_EAB_KID`, `ACME_EAB_HMAC_KEY`).
    pub acme_eab: Option<Eab>,
    /// External Account Binding for `ACME_STAGING_URL`.
    pub acme_staging_eab: Option<Eab>,
    /// CA profile of certificates that name none (`ACME_PROFILE`; `None`: the CA's default).
    pub acme_profile: Option<String>,
    /// Extra roots trusted for the ACME server's HTTPS (`ACME_CA_BUNDLE`).
    pub acme_ca_bundle: Option<PathBuf>,
    /// dns-01 through RFC 2136 (`DNS_UPDATE_SERVER`, `DNS_TSIG_*`); `None` when not configured.
    pub dns_update: Option<DnsUpdate>,
    pub renewal_check_interval: Duration,
    pub renewal_threshold_days: u32,
    /// Bounds on the interval between two ARI requests for one certificate
    /// (`ARI_MIN_POLL_SECONDS`, `ARI_MAX_POLL_SECONDS`); the CA's `Retry-After` is clamped to them.
    /// On-demand issuance at the handshake (`ON_DEMAND=true`); `None` when off.
    pub on_demand: Option<OnDemand>,
    /// Whether the CA's renewal information is asked for and followed (`ACME_ARI`).
    pub acme_ari: bool,
    pub ari_min_poll: Duration,
    pub ari_max_poll: Duration,
    /// How long a finished generation's status stays readable.
    pub cert_status_retention: Duration,
    pub cert_gen_max_workers: usize,
    /// Most certificates the edge keeps ready in memory; others are loaded on demand
    /// (`CERT_CACHE_SIZE`, default 50000).
    pub cert_cache_size: usize,
    /// Lifetime of the Redis lease that guards one certificate's generation; a crashed holder's
    /// work is taken over after this (`CERT_LEASE_SECONDS`, default 30).
    pub cert_lease: Duration,
    pub rsa_key_size: u32,
    pub self_signed_days: u32,
    pub key_type: KeyType,
    /// `REDIS_URL`; `Debug` shows it without its password.
    pub redis_url: RedisUrl,
    pub redis_key_prefix: String,
    /// Extra roots trusted for `rediss://` (`REDIS_CA_BUNDLE`, PEM file).
    pub redis_ca_bundle: Option<PathBuf>,
    /// Full reload of routes and certificates from Redis, catching anything events missed
    /// (`RESYNC_INTERVAL_SECONDS`, default 300).
    pub resync_interval: Duration,
    pub http_addr: SocketAddr,
    pub https_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub https_public_port: u16,
    /// Listen queue of each listener (`LISTEN_BACKLOG`).
    pub listen_backlog: u32,
    pub admin_token: Option<Secret>,
    pub trusted_proxies: Vec<IpNet>,
    pub tls_handshake_timeout: Duration,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    /// Silence both ways that closes a WebSocket tunnel (`TUNNEL_IDLE_TIMEOUT_SECONDS`).
    pub tunnel_idle_timeout: Duration,
    /// What requests and tunnels in flight get at shutdown (`DRAIN_GRACE_SECONDS`).
    pub drain_grace: Duration,
    /// Longest gap between pieces of a request body (`BODY_READ_TIMEOUT_SECONDS`).
    pub body_read_timeout: Duration,
    /// Minimum average body rate after the first `body_read_timeout` (0: off).
    pub body_min_rate: u64,
    pub upstream_connect_timeout: Duration,
    pub upstream_timeout: Duration,
    /// Idle pooled connections kept per upstream host (`UPSTREAM_MAX_IDLE_PER_HOST`).
    pub upstream_max_idle_per_host: usize,
    /// Idle pooled upstream connections close after this (`UPSTREAM_IDLE_TIMEOUT_SECONDS`).
    pub upstream_idle_timeout: Duration,
    /// Requests in flight to one upstream at once, 0 for no cap (`UPSTREAM_MAX_CONNECTIONS`).
    pub upstream_max_connections: usize,
    /// How long a request waits for one of those (`UPSTREAM_QUEUE_TIMEOUT_SECONDS`).
    pub upstream_queue_timeout: Duration,
    /// Other upstreams an unconnectable idempotent request may try (`UPSTREAM_RETRIES`).
    pub upstream_retries: u32,
    /// Connect failures in a row that eject an upstream (`UPSTREAM_FAILURES_TO_EJECT`).
    pub upstream_failures_to_eject: u32,
    /// How long a passive ejection lasts at first (`UPSTREAM_EJECT_SECONDS`).
    pub upstream_eject_time: Duration,
    /// Where upstream names are resolved instead of the system resolver (`UPSTREAM_DNS_SERVER`).
    pub upstream_dns_server: Option<std::net::SocketAddr>,
    pub max_header_bytes: usize,
    pub max_connections: usize,
    /// Cap on open admin connections (`ADMIN_MAX_CONNECTIONS`).
    pub admin_max_connections: usize,
    pub worker_threads: usize,
    pub log_format: LogFormat,
    pub log_level: String,
    /// One log line per request at `info` (`ACCESS_LOG`, default false).
    pub access_log: bool,
    /// Per-certificate metric series up to this many certificates (0: never).
    pub metrics_per_certificate_limit: usize,
}

/// An External Account Binding (RFC 8555 §7.3.4): the key id the CA gave and its MAC key.
#[derive(Clone, Debug)]
pub struct Eab {
    pub kid: String,
    pub hmac_key: SecretBytes,
}

/// RFC 2136 dynamic updates for dns-01 (`DNS_*`).
#[derive(Clone, Debug)]
pub struct DnsUpdate {
    /// `host:port` of the authoritative server.
    pub server: String,
    /// The zone to update; `None`: found by an SOA lookup.
    pub zone: Option<String>,
    pub tsig_key_name: String,
    pub tsig_secret: SecretBytes,
    pub tsig_algorithm: TsigAlgorithm,
    /// How long to wait for the server to answer a new record.
    pub propagation_timeout: Duration,
}

/// On-demand issuance (`ON_DEMAND_*`).
#[derive(Clone, Debug)]
pub struct OnDemand {
    pub ask_url: Option<String>,
    pub ask_allow_ttl: Duration,
    pub ask_deny_ttl: Duration,
    pub handshake_wait: Duration,
    /// New orders per minute across the cluster.
    pub rate_per_minute: u64,
    pub max_concurrent: usize,
    /// `http://host:port` for hosts with no route.
    pub upstream: Option<String>,
}

/// The TSIG algorithms certgate signs updates with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TsigAlgorithm {
    HmacSha256,
    HmacSha384,
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

/// Key bytes that never print (`Debug` shows `[redacted]`).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(pub Vec<u8>);

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// One invalid setting: which variable, what it accepts, what it was given.
#[derive(Debug, thiserror::Error)]
#[error("invalid {variable}: {accepts} (got {got:?})")]
pub struct ConfigError {
    pub variable: String,
    pub accepts: String,
    pub got: String,
}

/// Where raw values come from; tests pass their own environment.
pub type RawValues = BTreeMap<String, String>;

#[cfg(test)]
mod generated;
mod redis_url;
pub mod settings;
mod values;

pub use values::is_profile_name;

pub use redis_url::{redact_url, RedisUrl};

use values::{read_toml, Values};

impl Config {
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
            acme_directory_url: v.url("ACME_DIRECTORY_URL")?,
            acme_staging_url: v.url("ACME_STAGING_URL")?,
            acme_poll_max_attempts: v.number("ACME_POLL_MAX_ATTEMPTS")? as u32,
            acme_poll_interval: v.seconds("ACME_POLL_INTERVAL_SECONDS")?,
            acme_poll_initial_wait: v.seconds("ACME_POLL_INITIAL_WAIT")?,
            acme_profile: v.profile("ACME_PROFILE")?,
            acme_eab: v.eab("ACME_EAB_KID", "ACME_EAB_HMAC_KEY")?,
            acme_staging_eab: v.eab("ACME_STAGING_EAB_KID", "ACME_STAGING_EAB_HMAC_KEY")?,
            acme_ca_bundle: v.file("ACME_CA_BUNDLE")?,
            dns_update: v.dns_update()?,
            renewal_check_interval: v.seconds("RENEWAL_CHECK_INTERVAL")?,
            renewal_threshold_days: v.number("RENEWAL_THRESHOLD_DAYS")? as u32,
            acme_ari: v.flag("ACME_ARI")?,
            on_demand: v.on_demand()?,
            ari_min_poll: v.seconds("ARI_MIN_POLL_SECONDS")?,
            ari_max_poll: v.seconds("ARI_MAX_POLL_SECONDS")?,
            cert_status_retention: v.seconds("CERT_STATUS_RETENTION_SECONDS")?,
            cert_gen_max_workers: v.number("CERT_GEN_MAX_WORKERS")? as usize,
            cert_lease: v.seconds("CERT_LEASE_SECONDS")?,
            cert_cache_size: v.number("CERT_CACHE_SIZE")? as usize,
            rsa_key_size: v.choice("RSA_KEY_SIZE")?,
            self_signed_days: v.number("SELF_SIGNED_DAYS")? as u32,
            key_type: v.choice("KEY_TYPE")?,
            redis_url: v.redis_url()?,
            redis_key_prefix: v.key_prefix()?,
            redis_ca_bundle: v.file("REDIS_CA_BUNDLE")?,
            resync_interval: v.seconds("RESYNC_INTERVAL_SECONDS")?,
            http_addr: v.addr("HTTP_ADDR")?,
            https_addr: v.addr("HTTPS_ADDR")?,
            admin_addr: v.addr("ADMIN_ADDR")?,
            https_public_port: v.number("HTTPS_PUBLIC_PORT")? as u16,
            listen_backlog: v.number("LISTEN_BACKLOG")? as u32,
            admin_token: v.admin_token()?,
            trusted_proxies: v.cidrs("TRUSTED_PROXIES")?,
            tls_handshake_timeout: v.seconds("TLS_HANDSHAKE_TIMEOUT_SECONDS")?,
            header_read_timeout: v.seconds("HEADER_READ_TIMEOUT_SECONDS")?,
            idle_timeout: v.seconds("IDLE_TIMEOUT_SECONDS")?,
            tunnel_idle_timeout: v.seconds("TUNNEL_IDLE_TIMEOUT_SECONDS")?,
            drain_grace: v.seconds("DRAIN_GRACE_SECONDS")?,
            body_read_timeout: v.seconds("BODY_READ_TIMEOUT_SECONDS")?,
            body_min_rate: v.number("BODY_MIN_RATE_BYTES_PER_SECOND")?,
            upstream_connect_timeout: v.seconds("UPSTREAM_CONNECT_TIMEOUT_SECONDS")?,
            upstream_timeout: v.seconds("UPSTREAM_TIMEOUT_SECONDS")?,
            upstream_max_idle_per_host: v.number("UPSTREAM_MAX_IDLE_PER_HOST")? as usize,
            upstream_idle_timeout: v.seconds("UPSTREAM_IDLE_TIMEOUT_SECONDS")?,
            upstream_max_connections: v.number("UPSTREAM_MAX_CONNECTIONS")? as usize,
            upstream_queue_timeout: v.seconds("UPSTREAM_QUEUE_TIMEOUT_SECONDS")?,
            upstream_retries: v.number("UPSTREAM_RETRIES")? as u32,
            upstream_failures_to_eject: v.number("UPSTREAM_FAILURES_TO_EJECT")? as u32,
            upstream_eject_time: v.seconds("UPSTREAM_EJECT_SECONDS")?,
            upstream_dns_server: v.socket_addr("UPSTREAM_DNS_SERVER")?,
            max_header_bytes: v.number("MAX_HEADER_BYTES")? as usize,
            max_connections: v.number("MAX_CONNECTIONS")? as usize,
            admin_max_connections: v.number("ADMIN_MAX_CONNECTIONS")? as usize,
            worker_threads: v.number("WORKER_THREADS")? as usize,
            log_format: v.choice("LOG_FORMAT")?,
            log_level: v.log_level()?,
            access_log: v.flag("ACCESS_LOG")?,
            metrics_per_certificate_limit: v.number("METRICS_PER_CERTIFICATE_LIMIT")? as usize,
        };
        if config.ari_max_poll < config.ari_min_poll {
            return Err(ConfigError {
                variable: "ARI_MAX_POLL_SECONDS".into(),
                accepts: format!(
                    "at least ARI_MIN_POLL_SECONDS ({})",
                    config.ari_min_poll.as_secs()
                ),
                got: config.ari_max_poll.as_secs().to_string(),
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
        assert_eq!(c.acme_poll_max_attempts, 60);
        assert_eq!(c.acme_poll_interval, Duration::from_secs(2));
        assert_eq!(c.renewal_check_interval, Duration::from_secs(86_400));
        assert_eq!(c.renewal_threshold_days, 30);
        assert_eq!(c.cert_status_retention, Duration::from_secs(300));
        assert_eq!(c.cert_gen_max_workers, 5);
        assert_eq!(c.rsa_key_size, 2048);
        assert_eq!(c.self_signed_days, 365);
        assert_eq!(c.redis_key_prefix, "certgate:");
        assert_eq!(c.admin_addr.to_string(), "127.0.0.1:8081");
        assert_eq!(c.max_header_bytes, 32_768);
        assert_eq!(c.acme_directory_url, LETS_ENCRYPT_PRODUCTION);
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
        ];
        for (name, value) in cases {
            let err = Config::from_raw(&raw(&[(name, value)])).unwrap_err();
            assert_eq!(err.variable, name);
        }
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
        assert_eq!(c.acme_eab.as_ref().unwrap().kid, "kid-1");
        assert!(!format!("{c:?}").contains("secret-mac"));
        let err = Config::from_raw(&raw(&[("ACME_EAB_KID", "k"), ("ACME_EAB_HMAC_KEY", "!!")]))
            .unwrap_err();
        assert_eq!(err.variable, "ACME_EAB_HMAC_KEY");
        assert!(!err.to_string().contains("!!"));
    }

    #[test]
    fn dns_update_needs_server_key_and_secret() {
        assert!(Config::defaults().dns_update.is_none());
        let err = Config::from_raw(&raw(&[("DNS_UPDATE_SERVER", "127.0.0.1:53")])).unwrap_err();
        assert!(err.variable.contains("DNS_TSIG_SECRET"), "{err}");
        let secret = "c2VjcmV0L3NlY3JldCtzZWNyZXQ=";
        let full = [
            ("DNS_UPDATE_SERVER", "ns1.example.net:5353"),
            ("DNS_TSIG_KEY_NAME", "certgate."),
            ("DNS_TSIG_SECRET", secret),
        ];
        let c = Config::from_raw(&raw(&full)).unwrap();
        let dns = c.dns_update.as_ref().unwrap();
        assert_eq!(dns.tsig_key_name, "certgate");
        assert_eq!(dns.tsig_secret.0, b"secret/secret+secret");
        assert_eq!(dns.propagation_timeout, Duration::from_secs(120));
        assert!(!format!("{c:?}").contains(secret));
        let mut bad = full.to_vec();
        bad[0] = ("DNS_UPDATE_SERVER", "ns1.example.net");
        let err = Config::from_raw(&raw(&bad)).unwrap_err();
        assert_eq!(err.variable, "DNS_UPDATE_SERVER");
    }

    #[test]
    fn ari_poll_bounds_must_be_ordered() {
        let c = Config::defaults();
        assert_eq!(c.ari_min_poll, Duration::from_secs(3600));
        assert_eq!(c.ari_max_poll, Duration::from_secs(86_400));
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
        assert_eq!(c.rsa_key_size, 4096);
        assert_eq!(c.cert_gen_max_workers, 7);
        std::fs::write(&file, "no_such_key = 1\n").unwrap();
        assert_eq!(read_toml(&file).unwrap_err().variable, "no_such_key");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
