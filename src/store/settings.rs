//! How to reach Redis: the URL, TLS roots, and the fred builder with the reconnect policy and
//! timeouts an edge that rides through Redis restarts needs.

use std::time::Duration;

use fred::prelude::{Config as RedisConfig, ReconnectPolicy, TcpConfig};
use fred::types::Builder;

use super::{StoreError, StoreResult, COMMAND_TIMEOUT};
use crate::config::{redact_url, Config, ConfigError};

/// How to reach Redis: the URL (`redis://`, `rediss://` for TLS, `redis-cluster://…?node=…` for
/// a cluster) and, for TLS, extra roots to trust (`REDIS_CA_BUNDLE`).
#[derive(Clone)]
pub struct RedisSettings {
    /// `REDIS_URL`.
    pub url: String,
    /// `REDIS_CA_BUNDLE`'s PEM, for `rediss://` to a private CA.
    pub ca_bundle_pem: Option<String>,
}

impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &redact_url(&self.url))
            .field(
                "ca_bundle_pem",
                &self.ca_bundle_pem.as_ref().map(|_| "[PEM]"),
            )
            .finish()
    }
}

impl RedisSettings {
    /// The settings of `config` (`REDIS_URL`, `REDIS_CA_BUNDLE`), with the CA bundle read.
    pub fn from_config(config: &Config) -> Result<RedisSettings, ConfigError> {
        let ca_bundle_pem = match &config.redis.ca_bundle {
            Some(path) => Some(std::fs::read_to_string(path).map_err(|e| ConfigError {
                variable: "REDIS_CA_BUNDLE".into(),
                accepts: format!("a readable PEM file ({e})"),
                got: path.display().to_string(),
            })?),
            None => None,
        };
        Ok(RedisSettings {
            url: config.redis.url.expose().to_owned(),
            ca_bundle_pem,
        })
    }

    /// Settings with only a URL.
    pub fn plain(url: &str) -> RedisSettings {
        RedisSettings {
            url: url.to_owned(),
            ca_bundle_pem: None,
        }
    }

    /// A fred builder for an edge that must ride through Redis restarts: reconnect forever
    /// (100 ms doubling to 2 s), connection and command timeouts, TLS when the URL says so.
    pub fn builder(&self) -> StoreResult<Builder> {
        let mut config = RedisConfig::from_url(&crate::config::fred_url(&self.url))
            .map_err(|e| StoreError::Redis(e.to_string()))?;
        // Keep retrying a Redis that is down at start-up instead of failing the process.
        config.fail_fast = false;
        if config.tls.is_some() || self.url.starts_with("rediss") {
            config.tls = Some(self.tls()?.into());
        }
        let mut builder = Builder::from_config(config);
        builder
            .with_connection_config(|c| {
                c.connection_timeout = Duration::from_secs(2);
                c.internal_command_timeout = Duration::from_secs(2);
                c.max_command_attempts = 2;
                c.tcp = TcpConfig {
                    nodelay: Some(true),
                    ..Default::default()
                };
            })
            .with_performance_config(|p| {
                p.default_command_timeout = COMMAND_TIMEOUT;
            })
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2));
        Ok(builder)
    }

    fn tls(&self) -> StoreResult<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        if let Some(pem) = &self.ca_bundle_pem {
            for cert in rustls_pemfile::certs(&mut pem.as_bytes()) {
                let cert = cert.map_err(|e| StoreError::Redis(format!("REDIS_CA_BUNDLE: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| StoreError::Redis(format!("REDIS_CA_BUNDLE: {e}")))?;
            }
        }
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        Ok(rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| StoreError::Redis(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_password() {
        let settings = RedisSettings::plain("redis://user:hunter2@127.0.0.1:6379/0");
        let text = format!("{settings:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("127.0.0.1:6379"), "{text}");
    }
}
