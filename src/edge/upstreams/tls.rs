//! TLS toward `https://` upstreams: which roots verify them (the system's, or the route's
//! `upstream_ca_pem`), and the verifier that verifies nothing for `insecure_skip_verify`.

use std::sync::{Arc, LazyLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::BuildError;
use crate::routes::Route;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The system's trust anchors, read once, the first time an upstream needs them.
static SYSTEM_ROOTS: LazyLock<Arc<RootCertStore>> = LazyLock::new(|| {
    let mut roots = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::warn!(%error, "a system trust anchor could not be read");
    }
    let (added, _) = roots.add_parsable_certificates(found.certs);
    tracing::debug!(added, "system trust anchors loaded for https:// upstreams");
    Arc::new(roots)
});

/// The client configuration for a route's `https://` upstreams (ALPN is set by the connector).
pub fn client_config(route: &Route) -> Result<ClientConfig, BuildError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(BuildError::TlsClient)?;
    if route.insecure_skip_verify {
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider())))
            .with_no_client_auth());
    }
    let roots = match &route.upstream_ca_pem {
        Some(pem) => Arc::new(roots_from_pem(pem)?),
        None => SYSTEM_ROOTS.clone(),
    };
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

fn roots_from_pem(pem: &str) -> Result<RootCertStore, BuildError> {
    let mut roots = RootCertStore::empty();
    let mut reader = pem.as_bytes();
    for cert in rustls_pemfile::certs(&mut reader) {
        let cert = cert.map_err(BuildError::UnreadableCaPem)?;
        roots.add(cert).map_err(BuildError::UnusableCaCertificate)?;
    }
    if roots.is_empty() {
        return Err(BuildError::EmptyCaPem);
    }
    Ok(roots)
}

/// Accepts any certificate (signatures on the handshake are still checked, so the peer holds
/// the key of the certificate it sent — of whatever certificate).
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        tracing::warn!(
            server_name = ?server_name,
            "insecure_skip_verify: an upstream's certificate was accepted without verification"
        );
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
