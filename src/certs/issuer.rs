//! The issuer trait: what signs a certificate. The lifecycle and the API know only this trait, so
//! the ACME issuer and the self-signed issuer plug in side by side.

use async_trait::async_trait;

use crate::certs::model::{IssuerKind, KeyType};
use crate::secret::Secret;
use crate::store_error::StoreError;

/// Everything an issuer needs for one issuance.
#[derive(Clone, Debug)]
pub struct IssueRequest {
    pub cert_name: String,
    /// Normalised, de-duplicated names; the first is the subject's common name.
    pub domains: Vec<String>,
    pub key_type: KeyType,
    /// Bits, for `KeyType::Rsa`.
    pub rsa_key_size: u32,
    pub email: Option<String>,
    /// ACME only: the directory to order from.
    pub directory_url: Option<String>,
    /// ACME only: the CA profile to name in the order.
    pub profile: Option<String>,
}

/// A signed certificate with its new private key.
#[derive(Clone, Debug)]
pub struct IssuedCertificate {
    /// Leaf first, then the chain, PEM.
    pub fullchain_pem: String,
    pub private_key_pem: Secret,
}

/// Why an issuance failed, in words an operator can act on.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    /// The CA refused or validation failed: retrying the same request will fail again.
    #[error("{0}")]
    Rejected(String),
    /// A network error, a CA outage, a rate limit: worth retrying later.
    #[error("{0}")]
    Transient(String),
    /// Storage failed mid-issuance (unavailable, or a corrupt record: the error says which).
    #[error(transparent)]
    Storage(#[from] StoreError),
    /// A bug or an impossible state.
    #[error("internal error: {0}")]
    Internal(String),
}

impl IssueError {
    /// A short reason for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            IssueError::Rejected(_) => "rejected",
            IssueError::Transient(_) => "transient",
            IssueError::Storage(_) => "storage",
            IssueError::Internal(_) => "internal",
        }
    }
}

/// Signs certificates.
#[async_trait]
pub trait Issuer: Send + Sync {
    /// Which kind of issuer this is.
    fn kind(&self) -> IssuerKind;

    /// Makes a new private key and has a certificate for `request.domains` signed.
    async fn issue(&self, request: &IssueRequest) -> Result<IssuedCertificate, IssueError>;
}
