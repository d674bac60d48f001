//! The verifier of a route's `client_auth` (rustls' `WebPkiClientVerifier`): client
//! certificates must chain to the route's CA certificates; with CRLs, a listed end-entity
//! certificate is refused, and a CRL past its `nextUpdate` refuses everything (fails closed)
//! until the route carries a fresh one. A certificate whose issuer has no CRL among them is
//! not judged on revocation.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateRevocationListDer;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;

use super::crls::CrlCache;

use crate::certs::validate::FieldError;
use crate::routes::client_auth::{self, ClientAuth, ClientAuthMode, CrlStale};

/// The verifier for `auth`, with `provider`'s signature algorithms and the CRLs fetched from
/// its `crl_urls` (`fetched`); an error naming the field at fault (for the API's `400`).
pub fn verifier(
    auth: &ClientAuth,
    provider: Arc<CryptoProvider>,
    fetched: Vec<CertificateRevocationListDer<'static>>,
) -> Result<Arc<dyn ClientCertVerifier>, FieldError> {
    let mut roots = RootCertStore::empty();
    for cert in client_auth::certificates("client_auth.ca_pem", &auth.ca_pem)? {
        roots.add(cert).map_err(|e| {
            FieldError::new(
                "client_auth.ca_pem",
                format!("unusable CA certificate: {e}"),
            )
        })?;
    }
    let mut crls = fetched;
    if let Some(crl) = &auth.crl_pem {
        crls.extend(client_auth::crls("client_auth.crl_pem", crl)?);
    }
    let mut builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    if !crls.is_empty() {
        builder = builder
            .with_crls(crls)
            .only_check_end_entity_revocation()
            .allow_unknown_revocation_status();
        if auth.crl_stale == CrlStale::Deny {
            builder = builder.enforce_revocation_expiration();
        }
    }
    if auth.mode == ClientAuthMode::Request {
        builder = builder.allow_unauthenticated();
    }
    builder
        .build()
        .map_err(|e| FieldError::new("client_auth", format!("unusable: {e}")))
}

/// The CRLs `auth.crl_urls` contribute at `now` (Unix seconds): `None` when one was never
/// fetched and the route fails closed (`crl_stale: deny`); with `allow`, missing and stale ones
/// are left out.
pub fn fetched_crls(
    auth: &ClientAuth,
    cache: &CrlCache,
    now: i64,
) -> Option<Vec<CertificateRevocationListDer<'static>>> {
    let mut crls = Vec::new();
    for url in &auth.crl_urls {
        match (cache.get(url), auth.crl_stale) {
            (None, CrlStale::Deny) => return None,
            (Some(crl), CrlStale::Allow) if crl.is_stale(now) => {}
            (None, CrlStale::Allow) => {}
            (Some(crl), _) => crls.push(crl.der.clone()),
        }
    }
    Some(crls)
}
