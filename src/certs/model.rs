//! The certificate record and its vocabulary (`docs/api.md`, "Certificates").
//!
//! [`CertificateRecord`] is what Redis holds (without the private key, which lives beside it in
//! the same hash); [`CertificateView`] is what the API shows, with the PEM fields and owner hash
//! filled in only for callers allowed to see them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

pub use super::challenge::{ChallengeKind, DnsProviderKind};

/// The kind of private key a certificate gets (`KEY_TYPE` / `key_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyType {
    /// RSA of `RSA_KEY_SIZE` bits.
    #[serde(rename = "rsa")]
    Rsa,
    /// ECDSA on P-256 with SHA-256.
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
}

impl FromStr for KeyType {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "rsa" => Ok(KeyType::Rsa),
            "ecdsa-p256" => Ok(KeyType::EcdsaP256),
            _ => Err(()),
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyType::Rsa => "rsa",
            KeyType::EcdsaP256 => "ecdsa-p256",
        })
    }
}

/// Who signs the certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IssuerKind {
    /// An ACME CA over HTTP-01 (Let's Encrypt, Pebble, …).
    #[serde(rename = "acme")]
    Acme,
    /// Signed locally, for internal hosts and trying certgate out.
    #[serde(rename = "self-signed")]
    SelfSigned,
}

impl fmt::Display for IssuerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IssuerKind::Acme => "acme",
            IssuerKind::SelfSigned => "self-signed",
        })
    }
}

/// Whether the certificate can be served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CertStatus {
    /// Created; no certificate issued yet.
    Pending,
    /// Issued and within its validity.
    Active,
    /// The first issuance failed: no PEM, no key.
    Failed,
    /// Past `expires_at` without a successful renewal.
    Expired,
}

/// The state of one generation (issuance or renewal) as `/status` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GenerationState {
    /// Queued: no worker has taken it yet.
    Pending,
    /// A worker is ordering or generating it.
    Generating,
    /// Ended with a stored certificate.
    Completed,
    /// Ended without one; `message` says why.
    Failed,
}

impl GenerationState {
    /// Still waiting or running: a renew request joins it instead of starting another.
    pub fn is_running(self) -> bool {
        matches!(self, GenerationState::Pending | GenerationState::Generating)
    }

    /// The lower-case name the API shows.
    pub fn as_str(self) -> &'static str {
        match self {
            GenerationState::Pending => "pending",
            GenerationState::Generating => "generating",
            GenerationState::Completed => "completed",
            GenerationState::Failed => "failed",
        }
    }
}

impl FromStr for GenerationState {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "pending" => Ok(GenerationState::Pending),
            "generating" => Ok(GenerationState::Generating),
            "completed" => Ok(GenerationState::Completed),
            "failed" => Ok(GenerationState::Failed),
            _ => Err(()),
        }
    }
}

/// A certificate as stored in Redis, private key excepted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CertificateRecord {
    /// The certificate's unique name (the API's key).
    pub cert_name: String,
    /// The names it covers (SANs), first one the subject.
    pub domains: Vec<String>,
    #[serde(default)]
    /// Contact e-mail of the ACME account it is ordered with.
    pub email: Option<String>,
    /// The directory this certificate is issued from (ACME only), fixed at creation.
    #[serde(default)]
    pub acme_directory_url: Option<String>,
    #[serde(default)]
    /// Ordered from `ACME_STAGING_URL` instead of `ACME_DIRECTORY_URL`.
    pub staging: bool,
    /// The CA profile every order for it names (ACME only; `None`: the CA's default).
    #[serde(default)]
    pub profile: Option<String>,
    /// How the CA validates its names (ACME only; kept by renewals).
    #[serde(default)]
    pub challenge: ChallengeKind,
    /// The dns-01 provider publishing its records (`None`: `DNS_PROVIDER`); kept by renewals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_provider: Option<DnsProviderKind>,
    /// Who issues it: an ACME CA or certgate itself (self-signed).
    pub issuer: IssuerKind,
    /// The key algorithm of its private key.
    pub key_type: KeyType,
    /// Where it is in its life: pending, active, failed, expired.
    pub status: CertStatus,
    #[serde(default)]
    /// The current certificate's notAfter (RFC 3339).
    pub expires_at: Option<String>,
    #[serde(default)]
    /// The current certificate's notBefore (RFC 3339).
    pub not_before: Option<String>,
    #[serde(default)]
    /// The served chain, leaf first (PEM); `None` until the first issuance.
    pub fullchain_pem: Option<String>,
    /// SHA-256 of the token that created it (its owner); `admin` tokens own everything.
    pub owner_token_hash: String,
    /// When the record was created (RFC 3339).
    pub created_at: String,
    /// When the record last changed (RFC 3339).
    pub updated_at: String,
    #[serde(default)]
    /// Why the last generation failed, until one succeeds.
    pub last_error: Option<String>,
    #[serde(default)]
    /// When the renewer next renews it (RFC 3339).
    pub next_renewal_at: Option<String>,
    /// Failed renewal attempts in a row, for the back-off.
    #[serde(default)]
    pub renewal_failures: u32,
    /// When the current certificate was revoked (`POST /certificates/{name}/revoke`); cleared
    /// by the next issuance.
    #[serde(default)]
    pub revoked_at: Option<String>,
    #[serde(default)]
    /// The reason given at revocation (RFC 5280 name).
    pub revocation_reason: Option<String>,
    /// What the CA said about when to renew (ARI); empty for self-signed certificates and CAs
    /// without ARI. Its fields sit at the top level of the stored JSON.
    #[serde(flatten)]
    pub ari: AriState,
}

/// A renewal window suggested by the CA, RFC 3339 times.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewalWindow {
    /// Start of the window (RFC 3339).
    pub start: String,
    /// End of the window (RFC 3339).
    pub end: String,
}

/// The ACME Renewal Information (RFC 9773) known for the current certificate.
///
/// `next_poll_at` doubles as the cluster-wide claim on the next fetch: an instance fetches only
/// after moving it forward with a compare-and-set (see `store::ari`), so one instance asks per
/// interval.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AriState {
    /// The window of the last successful answer.
    #[serde(default)]
    pub renewal_window: Option<RenewalWindow>,
    /// The moment picked inside that window; `next_renewal_at` follows it unless a failed
    /// renewal is backing off.
    #[serde(default)]
    pub renewal_at: Option<String>,
    #[serde(default)]
    /// A page the CA links to explain an early window (incident notices).
    pub ari_explanation_url: Option<String>,
    /// When the CA last answered.
    #[serde(default)]
    pub ari_checked_at: Option<String>,
    /// When to ask next (the CA's `Retry-After`, clamped; back-off after failures).
    #[serde(default)]
    pub ari_next_poll_at: Option<String>,
    /// Failed ARI requests in a row.
    #[serde(default)]
    pub ari_failures: u32,
    /// This certificate's ARI id (`base64url(AKI).base64url(serial)`).
    #[serde(default)]
    pub ari_cert_id: Option<String>,
    /// The ARI id of the certificate this one replaced (named in its order).
    #[serde(default)]
    pub replaces: Option<String>,
}

/// What the API shows of a certificate.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CertificateView {
    /// The certificate's unique name.
    pub cert_name: String,
    /// The names it covers.
    pub domains: Vec<String>,
    /// Contact e-mail of its ACME account.
    pub email: Option<String>,
    /// The directory it is issued from (ACME only).
    pub acme_directory_url: Option<String>,
    /// Ordered from the staging CA.
    pub staging: bool,
    /// The CA profile its orders name.
    pub profile: Option<String>,
    /// How the CA validates its names.
    pub challenge: ChallengeKind,
    /// The dns-01 provider that publishes its records, when it names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_provider: Option<DnsProviderKind>,
    /// ACME or self-signed.
    pub issuer: IssuerKind,
    /// The key algorithm.
    pub key_type: KeyType,
    /// pending, active, failed or expired.
    pub status: CertStatus,
    /// notAfter of the current certificate.
    pub expires_at: Option<String>,
    /// notBefore of the current certificate.
    pub not_before: Option<String>,
    /// When it was created.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
    /// Why the last generation failed.
    pub last_error: Option<String>,
    /// When it is next renewed.
    pub next_renewal_at: Option<String>,
    /// When the current certificate was revoked.
    pub revoked_at: Option<String>,
    /// The reason given at revocation.
    pub revocation_reason: Option<String>,
    /// The CA's suggested renewal window (ARI), when it has one.
    pub renewal_window: Option<RenewalWindow>,
    /// The moment chosen inside `renewal_window`.
    pub renewal_at: Option<String>,
    /// When the CA last answered a renewal-information request.
    pub ari_checked_at: Option<String>,
    /// The CA's explanation page for its window.
    pub ari_explanation_url: Option<String>,
    /// This certificate's ARI id.
    pub ari_cert_id: Option<String>,
    /// The ARI id of the certificate this one replaced.
    pub replaces: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// SHA-256 of the owning token (shown to its owner and the admin).
    pub owner_token_hash: Option<String>,
    /// Who owns it by name (`admin`, a token's name, `on-demand`), shown with
    /// `owner_token_hash`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The served chain, leaf first (`?chain=true`): subject, issuer, validity, serial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<Vec<crate::certs::pem::ChainEntry>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The served chain, leaf first (`?pem=true`).
    pub fullchain_pem: Option<String>,
    /// The private key, for its owner and the admin only (`?pem=true`); redacted in `Debug`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::secret::expose_option"
    )]
    pub private_key_pem: Option<Secret>,
}

impl CertificateRecord {
    /// A new record waiting for its first issuance, with nothing optional set (callers fill in
    /// the ACME fields with struct-update syntax). `now` is its creation time.
    pub fn pending(
        cert_name: &str,
        domains: Vec<String>,
        issuer: IssuerKind,
        key_type: KeyType,
        owner_token_hash: &str,
        now: &str,
    ) -> CertificateRecord {
        CertificateRecord {
            cert_name: cert_name.to_owned(),
            domains,
            email: None,
            acme_directory_url: None,
            staging: false,
            profile: None,
            challenge: ChallengeKind::default(),
            dns_provider: None,
            issuer,
            key_type,
            status: CertStatus::Pending,
            expires_at: None,
            not_before: None,
            fullchain_pem: None,
            owner_token_hash: owner_token_hash.to_owned(),
            created_at: now.to_owned(),
            updated_at: now.to_owned(),
            last_error: None,
            next_renewal_at: None,
            renewal_failures: 0,
            revoked_at: None,
            revocation_reason: None,
            ari: AriState::default(),
        }
    }

    /// The API view; `show_owner` for the owner and the admin. PEM fields are added by the caller.
    pub fn view(&self, show_owner: bool) -> CertificateView {
        CertificateView {
            cert_name: self.cert_name.clone(),
            domains: self.domains.clone(),
            email: self.email.clone(),
            acme_directory_url: self.acme_directory_url.clone(),
            staging: self.staging,
            issuer: self.issuer,
            key_type: self.key_type,
            status: self.status,
            expires_at: self.expires_at.clone(),
            not_before: self.not_before.clone(),
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
            last_error: self.last_error.clone(),
            next_renewal_at: self.next_renewal_at.clone(),
            profile: self.profile.clone(),
            challenge: self.challenge,
            dns_provider: self.dns_provider,
            revoked_at: self.revoked_at.clone(),
            revocation_reason: self.revocation_reason.clone(),
            renewal_window: self.ari.renewal_window.clone(),
            renewal_at: self.ari.renewal_at.clone(),
            ari_checked_at: self.ari.ari_checked_at.clone(),
            ari_explanation_url: self.ari.ari_explanation_url.clone(),
            ari_cert_id: self.ari.ari_cert_id.clone(),
            replaces: self.ari.replaces.clone(),
            owner_token_hash: show_owner.then(|| self.owner_token_hash.clone()),
            owner: None,
            chain: None,
            fullchain_pem: None,
            private_key_pem: None,
        }
    }
}

/// One generation's status record (`GET /certificates/{name}/status`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenerationStatus {
    /// Where the generation is.
    pub status: GenerationState,
    /// What happened, in words (the error when it failed).
    pub message: String,
    /// When the generation was requested.
    pub created_at: String,
    /// When its status last changed.
    pub updated_at: String,
    /// When a worker began this generation (absent while pending).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When it completed or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}
