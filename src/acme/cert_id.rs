//! A certificate's ARI identifier (RFC 9773 §4.1): `base64url(AKI keyIdentifier)` `.`
//! `base64url(serial)`, the name under which the CA answers renewal information and which a
//! replacing order names in `replaces`.

use instant_acme::CertificateIdentifier;
use rustls::pki_types::CertificateDer;

/// The ARI id of the leaf (first certificate) of a PEM chain.
pub fn of_chain(chain_pem: &str) -> Result<CertificateIdentifier<'static>, String> {
    let der = leaf_der(chain_pem)?;
    CertificateIdentifier::try_from(&der).map(CertificateIdentifier::into_owned)
}

/// The leaf of a PEM chain, DER.
pub fn leaf_der(chain_pem: &str) -> Result<CertificateDer<'static>, String> {
    let pem = x509_parser::pem::Pem::iter_from_buffer(chain_pem.as_bytes())
        .next()
        .ok_or("no certificate in PEM")?
        .map_err(|e| format!("unreadable PEM: {e}"))?;
    Ok(CertificateDer::from(pem.contents))
}
