//! The rustls server configurations of the HTTPS listener, built from the TLS policy
//! (`TLS_KEY_EXCHANGE_GROUPS`, `TLS_MIN_VERSION`, `TLS_CERT_COMPRESSION`).
//!
//! Two configurations share one resolver, one session cache and one ticketer (so resumption
//! works across the whole edge): the listener's, and a TLS 1.3-only one for the names whose
//! route sets `min_tls_version: "1.3"`. A route with `client_auth` gets a configuration of its
//! own, built at its first handshake and rebuilt when the route's settings change, with its own
//! session cache and ticketer: a session can never be resumed past a client-certificate check
//! it did not pass. The handshake picks the configuration after reading the ClientHello, so a
//! route's TLS settings follow route changes on every instance like its certificate does.
//!
//! Every configuration chooses the cipher suite in the server's order (AES-128-GCM first,
//! `super::cipher_order`); a client that lists ChaCha20-Poly1305 first gets a copy that follows
//! the client's order ([`TlsConfigs::in_client_order`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rustls::compress::CompressionCache;
use rustls::crypto::aws_lc_rs::{default_provider, kx_group};
use rustls::crypto::{CryptoProvider, SupportedKxGroup};
use rustls::pki_types::CertificateRevocationListDer;
use rustls::server::ServerSessionMemoryCache;
use rustls::{ServerConfig, SupportedProtocolVersion};

use super::cipher_order::server_order;
use super::client_auth::{fetched_crls, verifier};
use super::crls::CrlCache;
use super::resolver::SniResolver;
use crate::config::tls::{TlsPolicy, TlsVersion};
use crate::routes::client_auth::ClientAuth;
use crate::routes::Route;

/// Sessions kept for TLS 1.2 session-id resumption.
const SESSION_CACHE_SIZE: usize = 16_384;

/// Client-certificate routes' configurations kept at most; more are dropped and rebuilt.
const CLIENT_AUTH_CONFIGS_KEPT: usize = 1_024;

/// Sessions each client-certificate route's configuration keeps for TLS 1.2 resumption.
const CLIENT_AUTH_SESSIONS: usize = 1_024;

/// A client-certificate route's configuration and the settings it was built from.
struct ClientAuthConfig {
    auth: ClientAuth,
    min: Option<TlsVersion>,
    /// The fetched CRLs' generation it was built with (routes with `crl_urls`).
    crls: u64,
    config: Arc<ServerConfig>,
}

/// The listener's configurations.
#[derive(Clone)]
pub struct TlsConfigs {
    /// What a handshake gets unless its route asks for more.
    pub listener: Arc<ServerConfig>,
    /// TLS 1.3 only: for names whose route sets `min_tls_version: "1.3"`.
    pub tls13_only: Arc<ServerConfig>,
    /// `listener` and `tls13_only` choosing the cipher suite in the client's order.
    listener_client_order: Arc<ServerConfig>,
    tls13_only_client_order: Arc<ServerConfig>,
    resolver: Arc<SniResolver>,
    policy: TlsPolicy,
    /// Client-certificate routes' configurations, by hostname.
    client_auth: Arc<Mutex<HashMap<String, ClientAuthConfig>>>,
    /// CRLs fetched from routes' `crl_urls`.
    crl_cache: Arc<CrlCache>,
}

impl TlsConfigs {
    /// The configuration for a handshake whose route (if any) requires at least `route_min`.
    pub fn for_min_version(&self, route_min: Option<TlsVersion>) -> &Arc<ServerConfig> {
        match route_min {
            Some(TlsVersion::Tls13) => &self.tls13_only,
            _ => &self.listener,
        }
    }

    /// `config` (one of these configurations) choosing the cipher suite in the client's order:
    /// for clients that list ChaCha20-Poly1305 first. The listener's two are kept; any other
    /// (a client-certificate route's, a handshake without SNI to an address) is copied.
    pub fn in_client_order(&self, config: &Arc<ServerConfig>) -> Arc<ServerConfig> {
        if Arc::ptr_eq(config, &self.listener) {
            return self.listener_client_order.clone();
        }
        if Arc::ptr_eq(config, &self.tls13_only) {
            return self.tls13_only_client_order.clone();
        }
        client_ordered(config)
    }

    /// The configuration for a handshake for `route`'s hostname; `None` when the route's
    /// `client_auth` cannot be built (it was validated when stored, so only a record written
    /// around the API): the handshake is refused rather than served without the check.
    pub fn for_route(&self, route: Option<&Route>) -> Option<Arc<ServerConfig>> {
        let Some(route) = route else {
            return Some(self.listener.clone());
        };
        let Some(auth) = &route.client_auth else {
            return Some(self.for_min_version(route.min_tls_version).clone());
        };
        let crls = if auth.crl_urls.is_empty() {
            0
        } else {
            self.crl_cache.generation()
        };
        let mut built = self.client_auth.lock().expect("client auth configs");
        if let Some(kept) = built.get(&route.hostname) {
            if kept.auth == *auth && kept.min == route.min_tls_version && kept.crls == crls {
                return Some(kept.config.clone());
            }
        }
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let Some(fetched) = fetched_crls(auth, &self.crl_cache, now) else {
            tracing::debug!(hostname = %route.hostname, "a CRL of crl_urls is not fetched yet; handshake refused");
            return None;
        };
        let config = match self.client_auth_config(auth, route.min_tls_version, fetched) {
            Ok(config) => Arc::new(config),
            Err(e) => {
                tracing::warn!(hostname = %route.hostname, error = %e, "client_auth unusable; handshake refused");
                return None;
            }
        };
        if built.len() >= CLIENT_AUTH_CONFIGS_KEPT {
            built.clear();
        }
        built.insert(
            route.hostname.clone(),
            ClientAuthConfig {
                auth: auth.clone(),
                min: route.min_tls_version,
                crls,
                config: config.clone(),
            },
        );
        Some(config)
    }

    fn client_auth_config(
        &self,
        auth: &ClientAuth,
        route_min: Option<TlsVersion>,
        fetched: Vec<CertificateRevocationListDer<'static>>,
    ) -> Result<ServerConfig, String> {
        let provider = Arc::new(provider(&self.policy));
        let verifier = verifier(auth, provider.clone(), fetched).map_err(|e| e.to_string())?;
        let min = route_min.unwrap_or_default().max(self.policy.min_version);
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(versions(min))
            .map_err(|e| e.to_string())?
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(self.resolver.clone());
        finish(&mut config, &self.policy);
        config.session_storage = ServerSessionMemoryCache::new(CLIENT_AUTH_SESSIONS);
        config.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new().map_err(|e| e.to_string())?;
        config.cert_compression_cache = self.listener.cert_compression_cache.clone();
        Ok(config)
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

/// aws-lc-rs with the policy's key exchange groups, in its order, and the cipher suites in the
/// server's order.
pub fn provider(policy: &TlsPolicy) -> CryptoProvider {
    let default = default_provider();
    CryptoProvider {
        kx_groups: policy
            .key_exchange_groups
            .iter()
            .filter_map(|name| kx_group_named(name))
            .collect(),
        cipher_suites: server_order(default.cipher_suites.clone()),
        ..default
    }
}

/// A copy of `config` that chooses the cipher suite in the client's order.
fn client_ordered(config: &ServerConfig) -> Arc<ServerConfig> {
    let mut copy = config.clone();
    copy.ignore_client_order = false;
    Arc::new(copy)
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
    finish(&mut config, policy);
    Ok(config)
}

/// ALPN, the cipher suite in the server's order and certificate compression, as every
/// configuration has them.
fn finish(config: &mut ServerConfig, policy: &TlsPolicy) {
    config.ignore_client_order = true;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config.cert_compressors = if policy.cert_compression {
        super::cert_compression::compressors()
    } else {
        Vec::new()
    };
}

/// The listener's configurations: ALPN `h2` then `http/1.1`, the policy's groups and versions,
/// certificate compression unless turned off, one session cache and ticketer for both.
pub fn server_configs(
    resolver: Arc<SniResolver>,
    policy: &TlsPolicy,
    crl_cache: Arc<CrlCache>,
) -> Result<TlsConfigs, rustls::Error> {
    let mut listener = one_config(resolver.clone(), policy, policy.min_version)?;
    listener.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE_SIZE);
    listener.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new()?;
    // Compressed chains are kept by the compressors themselves (`super::cert_compression`).
    listener.cert_compression_cache = Arc::new(CompressionCache::Disabled);
    let mut tls13_only = one_config(resolver.clone(), policy, TlsVersion::Tls13)?;
    tls13_only.session_storage = listener.session_storage.clone();
    tls13_only.ticketer = listener.ticketer.clone();
    tls13_only.cert_compression_cache = listener.cert_compression_cache.clone();
    Ok(TlsConfigs {
        listener_client_order: client_ordered(&listener),
        tls13_only_client_order: client_ordered(&tls13_only),
        listener: Arc::new(listener),
        tls13_only: Arc::new(tls13_only),
        resolver,
        policy: policy.clone(),
        client_auth: Arc::default(),
        crl_cache,
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
            crl_refresh: std::time::Duration::from_secs(3600),
        };
        let names: Vec<String> = provider(&policy)
            .kx_groups
            .iter()
            .map(|g| format!("{:?}", g.name()))
            .collect();
        assert_eq!(names, ["X25519MLKEM768", "X25519"]);
    }
}
