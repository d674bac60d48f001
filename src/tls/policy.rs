//! The rustls server configurations of the HTTPS listener, built from the TLS policy
//! (`TLS_KEY_EXCHANGE_GROUPS`, `TLS_MIN_VERSION`, `TLS_CERT_COMPRESSION`).
//!
//! Two configurations share one resolver, one session cache and one ticketer (so resumption
//! works across the whole edge): the listener's, and a TLS 1.3-only one for the names whose
//! route sets `min_tls_version: "1.3"`. The handshake picks between them after reading the
//! ClientHello, so a route's TLS settings follow route changes on every instance like its
//! certificate does.

use std::sync::Arc;

use rustls::compress::CompressionCache;
use rustls::crypto::aws_lc_rs::{default_provider, kx_group};
use rustls::crypto::{CryptoProvider, SupportedKxGroup};
use rustls::server::ServerSessionMemoryCache;
use rustls::{ServerConfig, SupportedProtocolVersion};

use super::resolver::SniResolver;
use crate::config::tls::{TlsPolicy, TlsVersion};

/// Sessions kept for TLS 1.2 session-id resumption.
const SESSION_CACHE_SIZE: usize = 16_384;

/// Compressed chains kept (RFC 8879): compressing at the highest level happens once per
/// certificate, not per handshake, for this many certificates in turn.
const COMPRESSED_CHAINS_KEPT: usize = 1_024;

/// The listener's configurations.
#[derive(Clone)]
pub struct TlsConfigs {
    /// What a handshake gets unless its route asks for more.
    pub listener: Arc<ServerConfig>,
    /// TLS 1.3 only: for names whose route sets `min_tls_version: "1.3"`.
    pub tls13_only: Arc<ServerConfig>,
}

impl TlsConfigs {
    /// The configuration for a handshake whose route (if any) requires at least `route_min`.
    pub fn for_min_version(&self, route_min: Option<TlsVersion>) -> &Arc<ServerConfig> {
        match route_min {
            Some(TlsVersion::Tls13) => &self.tls13_only,
            _ => &self.listener,
        }
    }
}

/// The aws-lc-rs group of an IANA name from [`crate::config::tls::KX_GROUP_NAMES`].
fn kx_group_named(name: &str) -> Option<&'static dyn SupportedKxGroup> {
    Some(match name {
        "X25519MLKEM768" => kx_group::X25519MLKEM768,
        "SECP256R1MLKEM768" => kx_group::SECP256R1MLKEM768,
        "X25519" => kx_group::X25519,
        "secp256r1" => kx_group::SECP256R1,
        "secp384r1" => kx_group::SECP384R1,
        "MLKEM768" => kx_group::MLKEM768,
        "MLKEM1024" => kx_group::MLKEM1024,
        _ => return None,
    })
}

/// aws-lc-rs with the policy's key exchange groups, in its order.
pub fn provider(policy: &TlsPolicy) -> CryptoProvider {
    CryptoProvider {
        kx_groups: policy
            .key_exchange_groups
            .iter()
            .filter_map(|name| kx_group_named(name))
            .collect(),
        ..default_provider()
    }
}

static TLS13_ONLY: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];

fn versions(min: TlsVersion) -> &'static [&'static SupportedProtocolVersion] {
    match min {
        TlsVersion::Tls12 => rustls::ALL_VERSIONS,
        TlsVersion::Tls13 => TLS13_ONLY,
    }
}

fn one_config(
    resolver: Arc<SniResolver>,
    policy: &TlsPolicy,
    min: TlsVersion,
) -> Result<ServerConfig, rustls::Error> {
    let mut config = ServerConfig::builder_with_provider(Arc::new(provider(policy)))
        .with_protocol_versions(versions(min))?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    if !policy.cert_compression {
        config.cert_compressors.clear();
    }
    Ok(config)
}

/// The listener's configurations: ALPN `h2` then `http/1.1`, the policy's groups and versions,
/// certificate compression unless turned off, one session cache and ticketer for both.
pub fn server_configs(
    resolver: Arc<SniResolver>,
    policy: &TlsPolicy,
) -> Result<TlsConfigs, rustls::Error> {
    let mut listener = one_config(resolver.clone(), policy, policy.min_version)?;
    listener.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE_SIZE);
    listener.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new()?;
    listener.cert_compression_cache = Arc::new(CompressionCache::new(COMPRESSED_CHAINS_KEPT));
    let mut tls13_only = one_config(resolver, policy, TlsVersion::Tls13)?;
    tls13_only.session_storage = listener.session_storage.clone();
    tls13_only.ticketer = listener.ticketer.clone();
    tls13_only.cert_compression_cache = listener.cert_compression_cache.clone();
    Ok(TlsConfigs {
        listener: Arc::new(listener),
        tls13_only: Arc::new(tls13_only),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tls::KX_GROUP_NAMES;

    #[test]
    fn every_group_name_the_settings_accept_is_a_group() {
        for name in KX_GROUP_NAMES {
            assert!(kx_group_named(name).is_some(), "{name}");
        }
    }

    #[test]
    fn the_provider_offers_the_groups_in_the_policy_order() {
        let policy = TlsPolicy {
            key_exchange_groups: vec!["X25519MLKEM768".into(), "X25519".into()],
            min_version: TlsVersion::Tls12,
            cert_compression: true,
        };
        let names: Vec<String> = provider(&policy)
            .kx_groups
            .iter()
            .map(|g| format!("{:?}", g.name()))
            .collect();
        assert_eq!(names, ["X25519MLKEM768", "X25519"]);
    }
}
