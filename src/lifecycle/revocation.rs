//! Revoking a certificate at its CA, then replacing it at once.

use super::Lifecycle;
use crate::certs::issuer::{IssueError, IssuedRef, RevocationReason};
use crate::certs::model::{CertificateRecord, IssuerKind};
use crate::store::status::Begin;
use crate::store::StoreError;
use crate::timefmt;

/// Why a certificate could not be revoked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RevokeError {
    /// Self-signed, or never issued: no CA holds it.
    #[error("{0}")]
    NothingToRevoke(String),
    /// The CA refused or could not be reached; nothing changed.
    #[error("{0}")]
    Ca(IssueError),
    #[error(transparent)]
    /// Redis failed.
    Storage(#[from] StoreError),
}

impl Lifecycle {
    /// Revokes the current certificate of `record` at its CA, marks it revoked, and starts a
    /// renewal (always with a new key). A renewal already under way is joined.
    pub async fn revoke_certificate(
        &self,
        record: &CertificateRecord,
        reason: RevocationReason,
    ) -> Result<Begin, RevokeError> {
        let name = record.cert_name.as_str();
        if record.issuer != IssuerKind::Acme {
            return Err(RevokeError::NothingToRevoke(format!(
                "{name:?} is self-signed: no CA issued it, so there is nothing to revoke"
            )));
        }
        let Some(chain) = record.fullchain_pem.as_deref() else {
            return Err(RevokeError::NothingToRevoke(format!(
                "{name:?} has no issued certificate yet: nothing to revoke"
            )));
        };
        if record.revoked_at.is_some() {
            return Err(RevokeError::NothingToRevoke(format!(
                "the current certificate of {name:?} is already revoked; its replacement is under way"
            )));
        }
        let issuer = self.inner.issuers.get(record.issuer).ok_or_else(|| {
            RevokeError::Ca(IssueError::Rejected(
                "the ACME issuer is not available on this instance".into(),
            ))
        })?;
        let cert = IssuedRef {
            cert_name: name,
            directory_url: record.acme_directory_url.as_deref(),
            email: record.email.as_deref(),
            fullchain_pem: chain,
        };
        issuer.revoke(&cert, reason).await.map_err(|e| match e {
            IssueError::Storage(e) => RevokeError::Storage(e),
            other => RevokeError::Ca(other),
        })?;
        let now = timefmt::now_string();
        tracing::warn!(
            cert_name = name,
            reason = reason.as_str(),
            "certificate revoked at the CA; renewing"
        );
        let expect = serde_json::Map::from_iter([(
            "expires_at".to_owned(),
            serde_json::json!(record.expires_at),
        )]);
        let patch = serde_json::Map::from_iter([
            ("revoked_at".to_owned(), serde_json::json!(now)),
            (
                "revocation_reason".to_owned(),
                serde_json::json!(reason.as_str()),
            ),
        ]);
        self.inner
            .store
            .patch_certificate_if(name, &expect, &patch)
            .await?;
        self.announce(crate::events::Change::Certificate(name.to_owned()))
            .await;
        let begin = self
            .renew(
                name,
                &format!("certificate revoked ({}); renewing", reason.as_str()),
            )
            .await?;
        Ok(begin)
    }
}
