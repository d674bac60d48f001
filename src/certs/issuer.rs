//! The issuer trait: what signs a certificate. The lifecycle and the API know only this trait, so
//! the ACME issuer and the self-signed issuer plug in side by side.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::certs::model::{ChallengeKind, DnsProviderKind, IssuerKind, KeyType};
use crate::secret::Secret;
use crate::store_error::StoreError;

/// Everything an issuer needs for one issuance.
#[derive(Clone, Debug)]
pub struct IssueRequest {
    /// The certificate's name (for logs and the ACME account's cache).
    pub cert_name: String,
    /// Normalised, de-duplicated names; the first is the subject's common name.
    pub domains: Vec<String>,
    /// The algorithm of the new key.
    pub key_type: KeyType,
    /// Bits, for `KeyType::Rsa`.
    pub rsa_key_size: u32,
    /// Contact e-mail of the ACME account to order with.
    pub email: Option<String>,
    /// ACME only: the directory to order from.
    pub directory_url: Option<String>,
    /// ACME only: the CA profile to name in the order.
    pub profile: Option<String>,
    /// ACME only: how the CA validates the names.
    pub challenge: ChallengeKind,
    /// dns-01 and dns-persist-01: the provider publishing the records (`None`: the default).
    pub dns_provider: Option<DnsProviderKind>,
    /// ACME only: the chain of the certificate this issuance replaces (a renewal), so the order
    /// can name it (RFC 9773 `replaces`).
    pub replacing_pem: Option<String>,
}

/// A signed certificate with its new private key.
#[derive(Clone, Debug)]
pub struct IssuedCertificate {
    /// Leaf first, then the chain, PEM.
    pub fullchain_pem: String,
    /// The new private key (PEM); redacted in `Debug`.
    pub private_key_pem: Secret,
    /// The ARI id of the certificate the accepted order named as replaced, if any.
    pub replaced: Option<String>,
    /// What the operator should know about how it went (e.g. the CA refused `replaces`).
    pub notes: Vec<String>,
}

/// An issued certificate, as an issuer needs it to ask about or revoke it.
#[derive(Clone, Debug)]
pub struct IssuedRef<'a> {
    /// The certificate's name.
    pub cert_name: &'a str,
    /// The directory it was issued from (ACME only).
    pub directory_url: Option<&'a str>,
    /// Contact e-mail of its ACME account.
    pub email: Option<&'a str>,
    /// Leaf first, PEM.
    pub fullchain_pem: &'a str,
}

/// A DNS record the operator publishes once so that the CA validates the certificate's names
/// (dns-persist-01).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DnsRecord {
    /// The certificate's names it authorises (`example.com`, `*.example.com`).
    pub domains: Vec<String>,
    /// Its owner name (no trailing dot).
    pub name: String,
    /// The record type, `TXT`.
    #[serde(rename = "type")]
    pub record_type: &'static str,
    /// Its text.
    pub value: String,
}

impl std::fmt::Display for DnsRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} \"{}\"", self.name, self.record_type, self.value)
    }
}

/// The CA's advice on when to renew one certificate (ACME Renewal Information, RFC 9773).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenewalAdvice {
    /// The certificate's ARI id (`base64url(AKI).base64url(serial)`).
    pub cert_id: String,
    /// Start of the suggested window.
    pub window_start: OffsetDateTime,
    /// End of the suggested window.
    pub window_end: OffsetDateTime,
    /// A page explaining the window, when the CA gives one.
    pub explanation_url: Option<String>,
    /// When the CA wants to be asked again (its `Retry-After`).
    pub retry_after: Duration,
}

/// Why a certificate is revoked (RFC 5280 reason codes an ACME client may send).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RevocationReason {
    /// No reason given (code 0).
    Unspecified,
    /// The private key is known or suspected to be compromised (code 1).
    KeyCompromise,
    /// Replaced by another certificate (code 4).
    Superseded,
    /// The names are no longer served (code 5).
    CessationOfOperation,
}

impl RevocationReason {
    /// Every reason, in the order the API lists them.
    pub const ALL: [RevocationReason; 4] = [
        RevocationReason::Unspecified,
        RevocationReason::KeyCompromise,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
    ];

    /// The camelCase name the API takes.
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationReason::Unspecified => "unspecified",
            RevocationReason::KeyCompromise => "keyCompromise",
            RevocationReason::Superseded => "superseded",
            RevocationReason::CessationOfOperation => "cessationOfOperation",
        }
    }
}

impl FromStr for RevocationReason {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        RevocationReason::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or(())
    }
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

    /// The CA's suggested renewal window for `cert`; `Ok(None)` when the CA offers none (no
    /// ARI in its directory, or an issuer that is no CA).
    async fn renewal_info(
        &self,
        _cert: &IssuedRef<'_>,
    ) -> Result<Option<RenewalAdvice>, IssueError> {
        Ok(None)
    }

    /// The DNS records to publish once for `request` to be validated (dns-persist-01); `None`
    /// while the ACME account they name is not registered yet (the first order registers it);
    /// an error for an issuer that validates nothing by DNS.
    async fn dns_records(
        &self,
        _request: &IssueRequest,
    ) -> Result<Option<Vec<DnsRecord>>, IssueError> {
        Err(IssueError::Rejected(format!(
            "the {} issuer validates nothing through DNS records",
            self.kind()
        )))
    }

    /// Removes what crashed generations left published outside Redis (dns-01 records); called
    /// by the recovery loop.
    async fn sweep_leftovers(&self) -> Result<(), IssueError> {
        Ok(())
    }

    /// Revokes `cert` at its CA.
    async fn revoke(
        &self,
        _cert: &IssuedRef<'_>,
        _reason: RevocationReason,
    ) -> Result<(), IssueError> {
        Err(IssueError::Rejected(format!(
            "the {} issuer has nothing to revoke",
            self.kind()
        )))
    }
}
