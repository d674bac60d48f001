//! The settings of one instance, grouped by concern (the fields of [`super::Config`]), each
//! read from the raw values by its own `read`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

use super::values::Values;
use super::{ConfigError, DnsUpdate, Eab, LogFormat, RedisUrl};
use crate::certs::model::KeyType;
use crate::secret::Secret;

/// `ACME_*`, `ARI_*` and `DNS_*`.
#[derive(Clone, Debug)]
pub struct AcmeSettings {
    /// `ACME_DIRECTORY_URL`: the production CA's directory.
    pub directory_url: String,
    /// `ACME_STAGING_URL`: the staging CA's directory.
    pub staging_url: String,
    /// Polls of an order or authorization before giving up.
    pub poll_max_attempts: u32,
    /// `ACME_POLL_INTERVAL_SECONDS`: the longest pause between polls of an order.
    pub poll_interval: Duration,
    /// `ACME_POLL_INITIAL_WAIT`: pause before the first poll.
    pub poll_initial_wait: Duration,
    /// External Account Binding for `ACME_DIRECTORY_URL` (`ACME_EAB_KID`, `ACME_EAB_HMAC_KEY`).
    pub eab: Option<Eab>,
    /// External Account Binding for `ACME_STAGING_URL`.
    pub staging_eab: Option<Eab>,
    /// CA profile of certificates that name none (`ACME_PROFILE`; `None`: the CA's default).
    pub profile: Option<String>,
    /// Extra roots trusted for the ACME server's HTTPS (`ACME_CA_BUNDLE`).
    pub ca_bundle: Option<PathBuf>,
    /// dns-01 through RFC 2136 (`DNS_UPDATE_SERVER`, `DNS_TSIG_*`); `None` when not configured.
    pub dns_update: Option<DnsUpdate>,
    /// dns-01 through `DNS_EXEC_PROGRAM` (exclusive with the other providers).
    pub dns_exec: Option<super::DnsExec>,
    /// dns-01 through PowerDNS's API (exclusive with the other providers).
    pub powerdns: Option<super::PowerDnsApi>,
    /// `DNS_PROVIDER`: the dns-01 provider of certificates that name none (`None`: none is
    /// configured).
    pub dns_provider: Option<super::DnsProviderKind>,
    /// The check that a published record can be seen (`DNS_PROPAGATION_*`, `DNS_RESOLVER`,
    /// `DNS_AUTHORITATIVE_PORT`).
    pub dns_propagation: super::DnsPropagation,
    /// Whether the CA's renewal information is asked for and followed (`ACME_ARI`).
    pub ari: bool,
    /// Bounds on the interval between two ARI requests for one certificate
    /// (`ARI_MIN_POLL_SECONDS`, `ARI_MAX_POLL_SECONDS`); the CA's `Retry-After` is clamped to them.
    pub ari_min_poll: Duration,
    /// `ARI_MAX_POLL_SECONDS`: the longest pause between renewal-information requests.
    pub ari_max_poll: Duration,
}

/// Certificates' keys, renewal and generation (`CERT_*`, `RENEWAL_*`, `KEY_TYPE`, …).
#[derive(Clone, Debug)]
pub struct CertificateSettings {
    /// `RENEWAL_CHECK_INTERVAL`: how often the renewer looks for due certificates.
    pub renewal_check_interval: Duration,
    /// `RENEWAL_THRESHOLD_DAYS`: renew this many days before expiry (without ARI).
    pub renewal_threshold_days: u32,
    /// How long a finished generation's status stays readable.
    pub status_retention: Duration,
    /// `CERT_GEN_MAX_WORKERS`: generations at once per instance and issuer kind.
    pub gen_max_workers: usize,
    /// Most certificates the edge keeps ready in memory; others are loaded on demand
    /// (`CERT_CACHE_SIZE`, default 50000).
    pub cache_size: usize,
    /// Lifetime of the Redis lease that guards one certificate's generation; a crashed holder's
    /// work is taken over after this (`CERT_LEASE_SECONDS`, default 30).
    pub lease: Duration,
    /// `RSA_KEY_SIZE`: bits of new RSA keys.
    pub rsa_key_size: u32,
    /// `SELF_SIGNED_DAYS`: validity of self-signed certificates.
    pub self_signed_days: u32,
    /// `KEY_TYPE`: the key algorithm of certificates that do not name one.
    pub key_type: KeyType,
}

/// `REDIS_*` and the resync.
#[derive(Clone, Debug)]
pub struct RedisConfig {
    /// `REDIS_URL`; `Debug` shows it without its password.
    pub url: RedisUrl,
    /// `REDIS_KEY_PREFIX`: prepended to every key, so instances of separate clusters can share a Redis.
    pub key_prefix: String,
    /// Extra roots trusted for `rediss://` (`REDIS_CA_BUNDLE`, PEM file).
    pub ca_bundle: Option<PathBuf>,
    /// Catch-up from the change log, finding anything events missed
    /// (`RESYNC_INTERVAL_SECONDS`, default 300).
    pub resync_interval: Duration,
    /// `KEY_ENCRYPTION_KEYS`: the keys that seal private keys in Redis (`None`: stored plain).
    pub sealer: Option<std::sync::Arc<crate::sealing::Sealer>>,
    /// `REDIS_MIN_REPLICAS_ACK`: replicas that must hold an issued certificate before its
    /// generation reports completed (0: none asked).
    pub min_replicas_ack: u64,
    /// `REDIS_REPLICA_ACK_TIMEOUT_SECONDS`: how long the generation waits for them.
    pub replica_ack_timeout: Duration,
}

/// The listeners and who may reach them.
#[derive(Clone, Debug)]
pub struct ListenerSettings {
    /// `HTTP_ADDR`: the plain-HTTP listener (ACME http-01, redirects, plain routes).
    pub http_addr: SocketAddr,
    /// `HTTPS_ADDR`: the TLS listener.
    pub https_addr: SocketAddr,
    /// `ADMIN_ADDR`: the admin API and dashboard.
    pub admin_addr: SocketAddr,
    /// `HTTPS_PUBLIC_PORT`: the port redirects to HTTPS and `Alt-Svc` name.
    pub https_public_port: u16,
    /// `HTTP3`: HTTP/3 over UDP on `https_addr`'s port.
    pub http3: bool,
    /// `QUIC_0RTT`: early data accepted on HTTP/3 (safe methods only).
    pub quic_0rtt: bool,
    /// `QUIC_RETRY`: when unvalidated QUIC handshakes get a Retry.
    pub quic_retry: super::QuicRetry,
    /// `QUIC_RETRY_ABOVE`: handshakes per second above which `auto` retries.
    pub quic_retry_above: u32,
    /// Listen queue of each listener (`LISTEN_BACKLOG`).
    pub backlog: u32,
    /// `ADMIN_TOKEN`: the token with every right; redacted in `Debug`.
    pub admin_token: Option<Secret>,
    /// `TRUSTED_PROXIES`: peers whose `X-Forwarded-*` headers are believed.
    pub trusted_proxies: Vec<IpNet>,
}

/// The edge's protections.
#[derive(Clone, Debug)]
pub struct EdgeLimits {
    /// `TLS_HANDSHAKE_TIMEOUT_SECONDS`: a handshake's deadline.
    pub tls_handshake_timeout: Duration,
    /// `HEADER_READ_TIMEOUT_SECONDS`: a request head's deadline.
    pub header_read_timeout: Duration,
    /// `IDLE_TIMEOUT_SECONDS`: how long a connection may sit with no request in flight.
    pub idle_timeout: Duration,
    /// Silence both ways that closes a WebSocket tunnel (`TUNNEL_IDLE_TIMEOUT_SECONDS`).
    pub tunnel_idle_timeout: Duration,
    /// What requests and tunnels in flight get at shutdown (`DRAIN_GRACE_SECONDS`).
    pub drain_grace: Duration,
    /// Longest gap between pieces of a request body (`BODY_READ_TIMEOUT_SECONDS`).
    pub body_read_timeout: Duration,
    /// Minimum average body rate after the first `body_read_timeout` (0: off).
    pub body_min_rate: u64,
    /// `MAX_HEADER_BYTES`: the largest request head accepted.
    pub max_header_bytes: usize,
    /// `MAX_CONNECTIONS`: open edge connections at once; more wait in the listen queue.
    pub max_connections: usize,
    /// Cap on open admin connections (`ADMIN_MAX_CONNECTIONS`).
    pub admin_max_connections: usize,
    /// `WORKER_THREADS`: the runtime's worker threads.
    pub worker_threads: usize,
}

/// `UPSTREAM_*`: how the edge reaches routes' upstreams.
#[derive(Clone, Debug)]
pub struct UpstreamSettings {
    /// `UPSTREAM_CONNECT_TIMEOUT_SECONDS`: connecting to an upstream.
    pub connect_timeout: Duration,
    /// `UPSTREAM_TIMEOUT_SECONDS`: an upstream's answer head, counted from the end of the request.
    pub timeout: Duration,
    /// Idle pooled connections kept per upstream (`UPSTREAM_MAX_IDLE_PER_HOST`).
    pub max_idle_per_host: usize,
    /// Idle pooled upstream connections close after this (`UPSTREAM_IDLE_TIMEOUT_SECONDS`).
    pub idle_timeout: Duration,
    /// Requests in flight to one upstream at once, 0 for no cap (`UPSTREAM_MAX_CONNECTIONS`).
    pub max_connections: usize,
    /// How long a request waits for one of those (`UPSTREAM_QUEUE_TIMEOUT_SECONDS`).
    pub queue_timeout: Duration,
    /// Other upstreams an unconnectable idempotent request may try (`UPSTREAM_RETRIES`).
    pub retries: u32,
    /// Connect failures in a row that eject an upstream (`UPSTREAM_FAILURES_TO_EJECT`).
    pub failures_to_eject: u32,
    /// How long a passive ejection lasts at first (`UPSTREAM_EJECT_SECONDS`).
    pub eject_time: Duration,
    /// Where upstream names are resolved instead of the system resolver (`UPSTREAM_DNS_SERVER`).
    pub dns_server: Option<std::net::SocketAddr>,
}

/// Logs and metrics.
#[derive(Clone, Debug)]
pub struct LogSettings {
    /// `LOG_FORMAT`: text or JSON lines.
    pub format: LogFormat,
    /// `LOG_LEVEL`: a tracing filter (`info`, `certgate=debug`, …).
    pub level: String,
    /// Where one JSON line per request goes (`ACCESS_LOG`, default off).
    pub access_log: super::traffic::AccessLog,
    /// Per-certificate metric series up to this many certificates (0: never).
    pub metrics_per_certificate_limit: usize,
}

impl AcmeSettings {
    /// The dns-01 providers configured, by kind (maybe none).
    pub fn configured_dns_providers(&self) -> Vec<super::DnsProviderKind> {
        [
            (self.dns_update.is_some(), super::DnsProviderKind::Rfc2136),
            (self.powerdns.is_some(), super::DnsProviderKind::PowerDns),
            (self.dns_exec.is_some(), super::DnsProviderKind::Exec),
        ]
        .into_iter()
        .filter_map(|(on, kind)| on.then_some(kind))
        .collect()
    }

    pub(super) fn read(v: &Values) -> Result<AcmeSettings, ConfigError> {
        let mut settings = AcmeSettings {
            directory_url: v.url("ACME_DIRECTORY_URL")?,
            staging_url: v.url("ACME_STAGING_URL")?,
            poll_max_attempts: v.number("ACME_POLL_MAX_ATTEMPTS")? as u32,
            poll_interval: v.seconds("ACME_POLL_INTERVAL_SECONDS")?,
            poll_initial_wait: v.seconds("ACME_POLL_INITIAL_WAIT")?,
            profile: v.profile("ACME_PROFILE")?,
            eab: v.eab("ACME_EAB_KID", "ACME_EAB_HMAC_KEY")?,
            staging_eab: v.eab("ACME_STAGING_EAB_KID", "ACME_STAGING_EAB_HMAC_KEY")?,
            ca_bundle: v.file("ACME_CA_BUNDLE")?,
            dns_update: v.dns_update()?,
            dns_exec: v.dns_exec()?,
            powerdns: v.powerdns()?,
            dns_provider: None,
            dns_propagation: v.dns_propagation()?,
            ari: v.flag("ACME_ARI")?,
            ari_min_poll: v.seconds("ARI_MIN_POLL_SECONDS")?,
            ari_max_poll: v.seconds("ARI_MAX_POLL_SECONDS")?,
        };
        settings.dns_provider = v.dns_default(&settings.configured_dns_providers())?;
        Ok(settings)
    }
}

impl CertificateSettings {
    pub(super) fn read(v: &Values) -> Result<CertificateSettings, ConfigError> {
        Ok(CertificateSettings {
            renewal_check_interval: v.seconds("RENEWAL_CHECK_INTERVAL")?,
            renewal_threshold_days: v.number("RENEWAL_THRESHOLD_DAYS")? as u32,
            status_retention: v.seconds("CERT_STATUS_RETENTION_SECONDS")?,
            gen_max_workers: v.number("CERT_GEN_MAX_WORKERS")? as usize,
            lease: v.seconds("CERT_LEASE_SECONDS")?,
            cache_size: v.number("CERT_CACHE_SIZE")? as usize,
            rsa_key_size: v.choice("RSA_KEY_SIZE")?,
            self_signed_days: v.number("SELF_SIGNED_DAYS")? as u32,
            key_type: v.choice("KEY_TYPE")?,
        })
    }
}

impl RedisConfig {
    pub(super) fn read(v: &Values) -> Result<RedisConfig, ConfigError> {
        Ok(RedisConfig {
            url: v.redis_url()?,
            key_prefix: v.key_prefix()?,
            ca_bundle: v.file("REDIS_CA_BUNDLE")?,
            resync_interval: v.seconds("RESYNC_INTERVAL_SECONDS")?,
            sealer: v.sealer()?,
            min_replicas_ack: v.number("REDIS_MIN_REPLICAS_ACK")?,
            replica_ack_timeout: v.seconds("REDIS_REPLICA_ACK_TIMEOUT_SECONDS")?,
        })
    }
}

impl ListenerSettings {
    pub(super) fn read(v: &Values) -> Result<ListenerSettings, ConfigError> {
        Ok(ListenerSettings {
            http_addr: v.addr("HTTP_ADDR")?,
            https_addr: v.addr("HTTPS_ADDR")?,
            admin_addr: v.addr("ADMIN_ADDR")?,
            https_public_port: v.number("HTTPS_PUBLIC_PORT")? as u16,
            http3: v.flag("HTTP3")?,
            quic_0rtt: v.flag("QUIC_0RTT")?,
            quic_retry: v.choice("QUIC_RETRY")?,
            quic_retry_above: v.number("QUIC_RETRY_ABOVE")? as u32,
            backlog: v.number("LISTEN_BACKLOG")? as u32,
            admin_token: v.admin_token()?,
            trusted_proxies: v.cidrs("TRUSTED_PROXIES")?,
        })
    }
}

impl EdgeLimits {
    pub(super) fn read(v: &Values) -> Result<EdgeLimits, ConfigError> {
        Ok(EdgeLimits {
            tls_handshake_timeout: v.seconds("TLS_HANDSHAKE_TIMEOUT_SECONDS")?,
            header_read_timeout: v.seconds("HEADER_READ_TIMEOUT_SECONDS")?,
            idle_timeout: v.seconds("IDLE_TIMEOUT_SECONDS")?,
            tunnel_idle_timeout: v.seconds("TUNNEL_IDLE_TIMEOUT_SECONDS")?,
            drain_grace: v.seconds("DRAIN_GRACE_SECONDS")?,
            body_read_timeout: v.seconds("BODY_READ_TIMEOUT_SECONDS")?,
            body_min_rate: v.number("BODY_MIN_RATE_BYTES_PER_SECOND")?,
            max_header_bytes: v.number("MAX_HEADER_BYTES")? as usize,
            max_connections: v.number("MAX_CONNECTIONS")? as usize,
            admin_max_connections: v.number("ADMIN_MAX_CONNECTIONS")? as usize,
            worker_threads: v.number("WORKER_THREADS")? as usize,
        })
    }
}

impl UpstreamSettings {
    pub(super) fn read(v: &Values) -> Result<UpstreamSettings, ConfigError> {
        Ok(UpstreamSettings {
            connect_timeout: v.seconds("UPSTREAM_CONNECT_TIMEOUT_SECONDS")?,
            timeout: v.seconds("UPSTREAM_TIMEOUT_SECONDS")?,
            max_idle_per_host: v.number("UPSTREAM_MAX_IDLE_PER_HOST")? as usize,
            idle_timeout: v.seconds("UPSTREAM_IDLE_TIMEOUT_SECONDS")?,
            max_connections: v.number("UPSTREAM_MAX_CONNECTIONS")? as usize,
            queue_timeout: v.seconds("UPSTREAM_QUEUE_TIMEOUT_SECONDS")?,
            retries: v.number("UPSTREAM_RETRIES")? as u32,
            failures_to_eject: v.number("UPSTREAM_FAILURES_TO_EJECT")? as u32,
            eject_time: v.seconds("UPSTREAM_EJECT_SECONDS")?,
            dns_server: v.socket_addr("UPSTREAM_DNS_SERVER")?,
        })
    }
}

impl LogSettings {
    pub(super) fn read(v: &Values) -> Result<LogSettings, ConfigError> {
        Ok(LogSettings {
            format: v.choice("LOG_FORMAT")?,
            level: v.log_level()?,
            access_log: super::traffic::AccessLog::read(v)?,
            metrics_per_certificate_limit: v.number("METRICS_PER_CERTIFICATE_LIMIT")? as usize,
        })
    }
}
