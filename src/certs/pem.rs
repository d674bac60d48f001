//! Reading certificates back: validity and names from the leaf of a PEM chain (or a DER
//! certificate).

use time::OffsetDateTime;
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;

/// Why a certificate could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PemError {
    #[error("no certificate in PEM")]
    /// The PEM holds no certificate.
    NoCertificate,
    #[error("unreadable PEM: {0}")]
    /// The text is not PEM.
    UnreadablePem(String),
    #[error("unreadable certificate: {0}")]
    /// A certificate in it is not valid DER X.509.
    UnreadableCertificate(String),
}

/// What certgate needs to know of an issued leaf certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafInfo {
    /// notBefore.
    pub not_before: OffsetDateTime,
    /// notAfter.
    pub not_after: OffsetDateTime,
    /// DNS names and IP addresses of the subjectAltName extension, as written.
    pub names: Vec<String>,
    /// Serial number, hex.
    pub serial: String,
}

/// Parses the first certificate of a PEM chain.
pub fn leaf_info(chain_pem: &str) -> Result<LeafInfo, PemError> {
    let pem = Pem::iter_from_buffer(chain_pem.as_bytes())
        .next()
        .ok_or(PemError::NoCertificate)?
        .map_err(|e| PemError::UnreadablePem(e.to_string()))?;
    leaf_info_der(&pem.contents)
}

/// Parses one DER certificate (as a TLS peer presents it).
pub fn leaf_info_der(der: &[u8]) -> Result<LeafInfo, PemError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| PemError::UnreadableCertificate(e.to_string()))?;
    let validity = cert.validity();
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => names.push(dns.to_string()),
                GeneralName::IPAddress(bytes) => {
                    if let Some(ip) = ip_from_bytes(bytes) {
                        names.push(ip.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    Ok(LeafInfo {
        not_before: validity.not_before.to_datetime(),
        not_after: validity.not_after.to_datetime(),
        names,
        serial: cert.raw_serial_as_string().replace(':', ""),
    })
}

/// One certificate of a chain as the dashboard shows it (public parts only).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChainEntry {
    /// The subject's distinguished name.
    pub subject: String,
    /// The issuer's distinguished name.
    pub issuer: String,
    /// notBefore (RFC 3339).
    pub not_before: String,
    /// notAfter (RFC 3339).
    pub not_after: String,
    /// Serial number, hex.
    pub serial: String,
}

/// Every certificate of a PEM chain, leaf first.
pub fn chain_entries(chain_pem: &str) -> Result<Vec<ChainEntry>, PemError> {
    let mut out = Vec::new();
    for pem in Pem::iter_from_buffer(chain_pem.as_bytes()) {
        let pem = pem.map_err(|e| PemError::UnreadablePem(e.to_string()))?;
        let (_, cert) = x509_parser::parse_x509_certificate(&pem.contents)
            .map_err(|e| PemError::UnreadableCertificate(e.to_string()))?;
        let validity = cert.validity();
        out.push(ChainEntry {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            not_before: crate::timefmt::format(validity.not_before.to_datetime()),
            not_after: crate::timefmt::format(validity.not_after.to_datetime()),
            serial: cert.raw_serial_as_string().replace(':', ""),
        });
    }
    if out.is_empty() {
        return Err(PemError::NoCertificate);
    }
    Ok(out)
}

fn ip_from_bytes(bytes: &[u8]) -> Option<std::net::IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(std::net::IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(std::net::IpAddr::from),
        _ => None,
    }
}
