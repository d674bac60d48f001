//! The TLS-ALPN-01 challenge certificate (RFC 8737 §3): self-signed, for exactly the identifier
//! being validated, with the critical `acmeIdentifier` extension holding the SHA-256 digest of
//! the key authorization. The CA's validation handshake (ALPN `acme-tls/1`) is answered with it.

use rcgen::{CertificateParams, CustomExtension, DistinguishedName, KeyPair};
use time::{Duration, OffsetDateTime};

use crate::secret::Secret;

/// The ALPN protocol of a TLS-ALPN-01 validation handshake.
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// The challenge certificate for `identifier` (a DNS name or an IP address) and the SHA-256
/// digest of its key authorization: certificate PEM followed by the key PEM, one text.
pub fn challenge_certificate(identifier: &str, digest: &[u8]) -> Result<Secret, String> {
    if digest.len() != 32 {
        return Err(format!(
            "a SHA-256 digest has 32 bytes, got {}",
            digest.len()
        ));
    }
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| format!("key generation: {e}"))?;
    let mut params = CertificateParams::new(vec![identifier.to_owned()])
        .map_err(|e| format!("{identifier:?} cannot be a certificate name: {e}"))?;
    params.distinguished_name = DistinguishedName::new();
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(7);
    params.custom_extensions = vec![CustomExtension::new_acme_identifier(digest)];
    let cert = params
        .self_signed(&key)
        .map_err(|e| format!("signing: {e}"))?;
    Ok(Secret::new(format!(
        "{}{}",
        cert.pem(),
        key.serialize_pem()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carries_the_identifier_and_the_critical_digest() {
        let digest = [7u8; 32];
        for identifier in ["a.example.com", "127.0.0.1"] {
            let pem = challenge_certificate(identifier, &digest).unwrap();
            let info = crate::certs::pem::leaf_info(pem.expose()).unwrap();
            assert_eq!(info.names, vec![identifier.to_owned()]);
            let der = x509_parser::pem::Pem::iter_from_buffer(pem.expose().as_bytes())
                .next()
                .unwrap()
                .unwrap()
                .contents;
            let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
            let ext = cert
                .extensions()
                .iter()
                .find(|e| e.oid.to_id_string() == "1.3.6.1.5.5.7.1.31")
                .expect("acmeIdentifier extension");
            assert!(ext.critical);
            // An OCTET STRING (0x04, length 32) holding the digest.
            assert_eq!(&ext.value[..2], &[0x04, 32]);
            assert_eq!(&ext.value[2..], &digest);
        }
        assert!(challenge_certificate("a.test", &[1, 2]).is_err());
    }
}
