//! ACME Renewal Information (RFC 9773): asking the CA when to renew one certificate, and
//! revoking one.

use instant_acme::{Error, RevocationRequest};

use super::problem::to_issue_error;
use super::retry::with_retry;
use super::{cert_id, AcmeIssuer};
use crate::certs::issuer::{IssueError, IssuedRef, RenewalAdvice, RevocationReason};

impl AcmeIssuer {
    /// The CA's window for `cert`; `None` when its directory has no `renewalInfo`.
    pub(super) async fn fetch_renewal_info(
        &self,
        cert: &IssuedRef<'_>,
    ) -> Result<Option<RenewalAdvice>, IssueError> {
        let account = self.account_for(cert).await?;
        let id = cert_id::of_chain(cert.fullchain_pem)
            .map_err(|e| IssueError::Rejected(format!("no ARI id for the certificate: {e}")))?;
        let (info, retry_after) = match account.renewal_info(&id).await {
            Ok(answer) => answer,
            Err(Error::Unsupported(_)) => return Ok(None),
            Err(e) => return Err(to_issue_error("fetching renewal information", e)),
        };
        let window = info.suggested_window;
        if window.end <= window.start {
            return Err(IssueError::Rejected(format!(
                "the CA's renewal window is invalid: it ends ({}) before it starts ({})",
                window.end, window.start
            )));
        }
        Ok(Some(RenewalAdvice {
            cert_id: id.to_string(),
            window_start: window.start,
            window_end: window.end,
            explanation_url: info.explanation_url,
            retry_after,
        }))
    }

    /// Revokes `cert` with the account that ordered it.
    pub(super) async fn revoke_certificate(
        &self,
        cert: &IssuedRef<'_>,
        reason: RevocationReason,
    ) -> Result<(), IssueError> {
        let account = self.account_for(cert).await?;
        let der = cert_id::leaf_der(cert.fullchain_pem)
            .map_err(|e| IssueError::Internal(format!("the stored certificate: {e}")))?;
        let request = RevocationRequest {
            certificate: &der,
            reason: Some(match reason {
                RevocationReason::Unspecified => instant_acme::RevocationReason::Unspecified,
                RevocationReason::KeyCompromise => instant_acme::RevocationReason::KeyCompromise,
                RevocationReason::Superseded => instant_acme::RevocationReason::Superseded,
                RevocationReason::CessationOfOperation => {
                    instant_acme::RevocationReason::CessationOfOperation
                }
            }),
        };
        with_retry!("revoking the certificate", account.revoke(&request).await)
    }
}
