//! Certificates in the form rustls serves them: chain and signing key, parsed once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::sign::CertifiedKey;
use time::OffsetDateTime;

use crate::certs::model::{CertStatus, CertificateRecord};
use crate::certs::pem::{leaf_info, PemError};
use crate::secret::Secret;

/// One servable certificate.
pub struct ServedCert {
    /// The certificate's name.
    pub cert_name: String,
    /// Names from the record (exact names and `*.` wildcards).
    pub domains: Vec<String>,
    /// The leaf's notAfter.
    pub not_after: OffsetDateTime,
    /// The chain and signing key as rustls serves them.
    pub key: Arc<CertifiedKey>,
    /// The stored record and key, kept so an instance can write them back if Redis loses them.
    pub record: CertificateRecord,
    /// The private key's PEM (for the on-disk export); redacted in `Debug`.
    pub key_pem: Secret,
    /// Logical clock of the last handshake that used it (for eviction).
    pub last_used: AtomicU64,
}

impl std::fmt::Debug for ServedCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServedCert")
            .field("cert_name", &self.cert_name)
            .field("domains", &self.domains)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl ServedCert {
    /// Builds a servable certificate from a stored record and key; `None` when the record is
    /// not active or its PEM cannot be used (logged).
    pub fn from_record(
        record: &CertificateRecord,
        key_pem: Option<&str>,
    ) -> Option<Arc<ServedCert>> {
        if record.status != CertStatus::Active && record.status != CertStatus::Expired {
            return None;
        }
        let chain_pem = record.fullchain_pem.as_deref()?;
        match build(chain_pem, key_pem?) {
            Ok((key, not_after)) => Some(Arc::new(ServedCert {
                cert_name: record.cert_name.clone(),
                domains: record.domains.clone(),
                not_after,
                key,
                record: record.clone(),
                key_pem: Secret::new(key_pem?),
                last_used: AtomicU64::new(0),
            })),
            Err(e) => {
                tracing::error!(cert_name = %record.cert_name, error = %e, "stored certificate cannot be served");
                None
            }
        }
    }

    /// Whether this certificate covers `host` (exact, or one label under a wildcard).
    pub fn covers(&self, host: &str) -> bool {
        self.domains.iter().any(|d| name_matches(d, host))
    }

    /// Notes a use at `clock` (the cache's logical time), for least-recently-used eviction.
    pub fn touch(&self, clock: u64) {
        self.last_used.store(clock, Ordering::Relaxed);
    }
}

/// `pattern` (a name or `*.suffix`) matches `host`.
pub fn name_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => pattern == host,
    }
}

/// Why a stored chain and key cannot be served. The messages never contain key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyMaterialError {
    #[error("unreadable chain: {0}")]
    /// The chain's PEM could not be parsed.
    UnreadableChain(String),
    #[error("empty chain")]
    /// The chain holds no certificate.
    EmptyChain,
    #[error("unreadable key: {0}")]
    /// The key's PEM could not be parsed.
    UnreadableKey(String),
    #[error("no private key in PEM")]
    /// The PEM holds no private key.
    NoKey,
    #[error("unusable key: {0}")]
    /// rustls cannot sign with the key.
    UnusableKey(String),
    #[error(transparent)]
    /// The leaf certificate could not be read.
    Leaf(#[from] PemError),
}

/// Parses a PEM chain and key into rustls' form.
pub fn build(
    chain_pem: &str,
    key_pem: &str,
) -> Result<(Arc<CertifiedKey>, OffsetDateTime), KeyMaterialError> {
    let chain: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut chain_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| KeyMaterialError::UnreadableChain(e.to_string()))?;
    if chain.is_empty() {
        return Err(KeyMaterialError::EmptyChain);
    }
    let key = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .map_err(|e| KeyMaterialError::UnreadableKey(e.to_string()))?
        .ok_or(KeyMaterialError::NoKey)?;
    let signing = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key)
        .map_err(|e| KeyMaterialError::UnusableKey(e.to_string()))?;
    let not_after = leaf_info(chain_pem)?.not_after;
    Ok((Arc::new(CertifiedKey::new(chain, signing)), not_after))
}

#[cfg(test)]
impl ServedCert {
    /// A self-signed certificate for `domains`, valid for `days` more days (cache tests).
    pub fn for_test(name: &str, domains: &[&str], days: i64) -> ServedCert {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(
            domains.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        )
        .unwrap();
        params.not_after = OffsetDateTime::now_utc() + time::Duration::days(days);
        let cert = params.self_signed(&key).unwrap();
        let record: CertificateRecord = serde_json::from_value(serde_json::json!({
            "cert_name": name,
            "domains": domains,
            "issuer": "self-signed",
            "key_type": "ecdsa-p256",
            "status": "active",
            "fullchain_pem": cert.pem(),
            "owner_token_hash": "sha256:00",
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
        }))
        .unwrap();
        let served = ServedCert::from_record(&record, Some(&key.serialize_pem())).unwrap();
        Arc::try_unwrap(served).unwrap_or_else(|_| unreachable!("just made"))
    }
}

#[cfg(test)]
mod tests {
    use super::name_matches;

    #[test]
    fn wildcards_cover_one_label() {
        assert!(name_matches("*.example.com", "a.example.com"));
        assert!(!name_matches("*.example.com", "a.b.example.com"));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(name_matches("example.com", "example.com"));
    }
}
