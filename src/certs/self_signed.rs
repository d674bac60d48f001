//! The self-signed issuer: a new key, every domain as a SAN (wildcards, single labels and IP
//! addresses allowed), valid `SELF_SIGNED_DAYS`. No CA is involved.

use async_trait::async_trait;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

use crate::certs::issuer::{IssueError, IssueRequest, IssuedCertificate, Issuer};
use crate::certs::keys;
use crate::certs::model::IssuerKind;
use crate::secret::Secret;

/// Signs certificates with their own key.
#[derive(Clone, Debug)]
pub struct SelfSignedIssuer {
    /// Validity of the certificates it signs (`SELF_SIGNED_DAYS`).
    pub validity_days: u32,
}

#[async_trait]
impl Issuer for SelfSignedIssuer {
    fn kind(&self) -> IssuerKind {
        IssuerKind::SelfSigned
    }

    async fn issue(&self, request: &IssueRequest) -> Result<IssuedCertificate, IssueError> {
        let request = request.clone();
        let days = self.validity_days;
        tokio::task::spawn_blocking(move || sign(&request, days))
            .await
            .map_err(|e| IssueError::Internal(format!("signing task failed: {e}")))?
    }
}

/// Generates the key and signs (synchronous: RSA key generation is CPU-bound).
pub fn sign(request: &IssueRequest, validity_days: u32) -> Result<IssuedCertificate, IssueError> {
    let key = keys::generate(request.key_type, request.rsa_key_size)?;
    let mut params = CertificateParams::new(request.domains.clone())
        .map_err(|e| IssueError::Rejected(format!("invalid name for a certificate: {e}")))?;
    let mut dn = DistinguishedName::new();
    if let Some(first) = request.domains.first() {
        dn.push(DnType::CommonName, first.as_str());
    }
    dn.push(DnType::OrganizationName, "certgate self-signed");
    params.distinguished_name = dn;
    // Back-date by an hour so clients with a slightly slow clock accept it at once.
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(OffsetDateTime::now_utc());
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(i64::from(validity_days));
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.serial_number = Some(random_serial().into());
    let cert = params
        .self_signed(&key)
        .map_err(|e| IssueError::Internal(format!("signing failed: {e}")))?;
    Ok(IssuedCertificate {
        fullchain_pem: cert.pem(),
        private_key_pem: Secret::new(key.serialize_pem()),
        replaced: None,
        notes: Vec::new(),
    })
}

/// A positive 16-byte serial from the system RNG.
fn random_serial() -> Vec<u8> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).expect("system RNG available");
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    bytes.to_vec()
}
