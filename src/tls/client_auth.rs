//! The verifier of a route's `client_auth` (rustls' `WebPkiClientVerifier`): client
//! certificates must chain to the route's CA certificates; with CRLs, a listed end-entity
//! certificate is refused, and a CRL past its `nextUpdate` refuses everything (fails closed)
//! until the route carries a fresh one. A certificate whose issuer has no CRL among them is
//! not judged on revocation.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;

use crate::certs::validate::FieldError;
use crate::routes::client_auth::{self, ClientAuth, ClientAuthMode};

/// The verifier for `auth`, with `provider`'s signature algorithms; an error naming the field
/// at fault (for the API's `400`).
pub fn verifier(
    auth: &ClientAuth,
    provider: Arc<CryptoProvider>,
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
    let mut builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    if let Some(crl) = &auth.crl_pem {
        builder = builder
            .with_crls(client_auth::crls("client_auth.crl_pem", crl)?)
            .only_check_end_entity_revocation()
            .allow_unknown_revocation_status()
            .enforce_revocation_expiration();
    }
    if auth.mode == ClientAuthMode::Request {
        builder = builder.allow_unauthenticated();
    }
    builder
        .build()
        .map_err(|e| FieldError::new("client_auth", format!("unusable: {e}")))
}
