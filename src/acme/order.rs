//! One ACME order, from new-order to the downloaded chain.
//!
//! The challenges are answered as `challenges.rs` describes (published before they are
//! signalled ready, removed whatever the outcome). Polling follows `ACME_POLL_INITIAL_WAIT`, `ACME_POLL_INTERVAL_SECONDS` and
//! `ACME_POLL_MAX_ATTEMPTS`; single requests are retried on badNonce, 5xx, network errors and
//! short rate limits (see [`super::problem`]).

use std::time::Duration;

use instant_acme::{
    Account, AuthorizationStatus, CertificateIdentifier, Identifier, NewOrder, Order, OrderStatus,
};
use rcgen::{CertificateParams, DistinguishedName};

use super::challenges::Published;
use super::problem::{describe, problem_kind, to_issue_error};
use super::retry::{retry_raw, with_retry};
use super::{cert_id, AcmeIssuer};
use crate::certs::issuer::{IssueError, IssueRequest, IssuedCertificate};
use crate::certs::keys;
use crate::secret::Secret;

impl AcmeIssuer {
    /// Runs a whole order for `request` with `account`.
    pub(super) async fn run_order(
        &self,
        account: &Account,
        request: &IssueRequest,
    ) -> Result<IssuedCertificate, IssueError> {
        let mut notes = Vec::new();
        let replaces = match request.replacing_pem.as_deref().map(cert_id::of_chain) {
            Some(Ok(id)) => Some(id),
            Some(Err(e)) => {
                notes.push(format!("the order names no replaced certificate ({e})"));
                None
            }
            None => None,
        };
        let (mut order, replaced) = self
            .place_order(account, request, replaces, &mut notes)
            .await?;
        tracing::info!(cert_name = %request.cert_name, order = order.url(), replaces = replaced.as_deref(), "ACME order created");
        let mut published = Vec::new();
        let result = self.complete(&mut order, request, &mut published).await;
        self.unpublish(request, &published).await;
        result.map(|issued| IssuedCertificate {
            replaced,
            notes,
            ..issued
        })
    }

    /// Creates the order, naming the certificate it replaces (RFC 9773 §5) when there is one.
    /// A CA that refuses `replaces` (the certificate was already replaced, or it does not know
    /// it) gets the order once more without it; `notes` says so. Returns the order and the id
    /// it named.
    async fn place_order(
        &self,
        account: &Account,
        request: &IssueRequest,
        replaces: Option<CertificateIdentifier<'static>>,
        notes: &mut Vec<String>,
    ) -> Result<(Order, Option<String>), IssueError> {
        // IP addresses are IP identifiers (RFC 8738); a wildcard is the DNS identifier `*.name`.
        let identifiers: Vec<Identifier> = request
            .domains
            .iter()
            .map(|d| match d.parse::<std::net::IpAddr>() {
                Ok(ip) => Identifier::Ip(ip),
                Err(_) => Identifier::Dns(d.clone()),
            })
            .collect();
        let new_order = || {
            let new_order = NewOrder::new(&identifiers);
            match request.profile.as_deref() {
                Some(profile) => new_order.profile(profile),
                None => new_order,
            }
        };
        if let Some(id) = replaces {
            let named = id.to_string();
            let attempt = retry_raw!(
                "creating the order",
                account.new_order(&new_order().replaces(id.clone())).await
            );
            match attempt {
                Ok(order) => return Ok((order, Some(named))),
                // A CA without ARI has no `replaces` either: a plain order, nothing to report.
                Err(instant_acme::Error::Unsupported(_)) => {}
                Err(e) if refuses_replaces(&e) => {
                    let why = to_issue_error("naming the replaced certificate", e);
                    tracing::warn!(cert_name = %request.cert_name, replaces = %named, error = %why, "CA refused `replaces`; ordering without it");
                    notes.push(format!("{why}; ordered again without `replaces`"));
                }
                Err(e) => return Err(to_issue_error("creating the order", e)),
            }
        }
        let order = with_retry!("creating the order", account.new_order(&new_order()).await)?;
        Ok((order, None))
    }

    async fn complete(
        &self,
        order: &mut Order,
        request: &IssueRequest,
        published: &mut Vec<Published>,
    ) -> Result<IssuedCertificate, IssueError> {
        self.prepare_challenges(order, request, published).await?;
        tokio::time::sleep(self.polling.initial_wait).await;
        self.wait_ready(order, request).await?;
        let key = keys::generate_blocking(request.key_type, request.rsa_key_size).await?;
        let mut params = CertificateParams::new(request.domains.clone())
            .map_err(|e| IssueError::Rejected(format!("invalid name for a CSR: {e}")))?;
        params.distinguished_name = DistinguishedName::new();
        let csr = params
            .serialize_request(&key)
            .map_err(|e| IssueError::Internal(format!("cannot build the CSR: {e}")))?;
        with_retry!("finalizing the order", order.finalize_csr(csr.der()).await)?;
        tracing::info!(cert_name = %request.cert_name, "ACME order finalized");
        let chain = self.wait_certificate(order).await?;
        Ok(IssuedCertificate {
            fullchain_pem: chain,
            private_key_pem: Secret::new(key.serialize_pem()),
            replaced: None,
            notes: Vec::new(),
        })
    }

    /// Polls the order until it is ready (validated) or invalid.
    async fn wait_ready(
        &self,
        order: &mut Order,
        request: &IssueRequest,
    ) -> Result<(), IssueError> {
        for attempt in 0..self.polling.max_attempts {
            let (status, error) = with_retry!(
                "polling the order",
                order.refresh().await.map(|s| (s.status, s.error.clone()))
            )?;
            match status {
                OrderStatus::Ready | OrderStatus::Valid | OrderStatus::Processing => return Ok(()),
                OrderStatus::Invalid => return Err(self.explain_invalid(order, error).await),
                OrderStatus::Pending => tokio::time::sleep(self.polling.delay(attempt)).await,
            }
        }
        Err(IssueError::Transient(format!(
            "validation of {} did not finish after {} polls",
            request.domains.join(", "),
            self.polling.max_attempts
        )))
    }

    /// Polls until the certificate can be downloaded.
    ///
    /// A processing order is first given a pause before each poll, the first included: the CA
    /// is signing, and a poll that meets the end of the signing can hang Pebble for good (its
    /// order handler takes the order's read lock twice while the signer waits for the write
    /// lock; letsencrypt/pebble v2.10.1 `wfe.Order`, `ca.CompleteOrder`).
    async fn wait_certificate(&self, order: &mut Order) -> Result<String, IssueError> {
        for attempt in 0..self.polling.max_attempts {
            if order.state().status != OrderStatus::Valid {
                tokio::time::sleep(self.polling.delay(attempt)).await;
            }
            if let Some(chain) =
                with_retry!("downloading the certificate", order.certificate().await)?
            {
                return Ok(chain);
            }
        }
        Err(IssueError::Transient(format!(
            "the CA did not issue the certificate after {} polls",
            self.polling.max_attempts
        )))
    }

    /// Names the domain whose validation failed and the CA's problem.
    async fn explain_invalid(
        &self,
        order: &mut Order,
        order_error: Option<instant_acme::Problem>,
    ) -> IssueError {
        let mut failures = Vec::new();
        let mut authorizations = order.authorizations();
        while let Some(Ok(mut auth)) = authorizations.next().await {
            let domain = auth.identifier().to_string();
            if let Ok(state) = auth.refresh().await {
                if state.status == AuthorizationStatus::Invalid {
                    let problem = state.challenges.iter().find_map(|c| c.error.as_ref());
                    let why = problem.map_or_else(|| "authorization invalid".to_owned(), describe);
                    failures.push(format!("validation of {domain} failed: {why}"));
                }
            }
        }
        if failures.is_empty() {
            let why = order_error
                .as_ref()
                .map_or_else(|| "the order became invalid".to_owned(), describe);
            return IssueError::Rejected(why);
        }
        IssueError::Rejected(failures.join("; "))
    }
}

/// Whether the CA's answer to an order naming `replaces` is about that field: the certificate
/// was already replaced, the CA does not know it or will not let this account replace it.
fn refuses_replaces(error: &instant_acme::Error) -> bool {
    let instant_acme::Error::Api(problem) = error else {
        return false;
    };
    let about_replaces = problem
        .detail
        .as_deref()
        .is_some_and(|d| d.to_ascii_lowercase().contains("replace") || d.contains("ARI"));
    matches!(
        problem_kind(problem),
        Some("alreadyReplaced") | Some("malformed") | Some("unauthorized")
    ) || about_replaces
        || problem.status.is_some_and(|s| s >= 500)
            && problem
                .detail
                .as_deref()
                .is_some_and(|d| d.contains("certificate"))
}

/// Polling settings (`ACME_POLL_*`).
#[derive(Clone, Copy, Debug)]
pub struct Polling {
    /// Pause before the first poll (`ACME_POLL_INITIAL_WAIT`).
    pub initial_wait: Duration,
    /// The longest pause between polls (`ACME_POLL_INTERVAL_SECONDS`).
    pub interval: Duration,
    /// Polls before giving up (`ACME_POLL_MAX_ATTEMPTS`).
    pub max_attempts: u32,
}

/// The first poll's pause: a CA that validates in milliseconds is not waited on for seconds.
const FIRST_POLL_DELAY: Duration = Duration::from_millis(100);

impl Polling {
    /// The pause after poll number `attempt` (from 0): 100 ms doubling up to `interval`.
    pub fn delay(&self, attempt: u32) -> Duration {
        FIRST_POLL_DELAY
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_ramp_up_to_the_interval() {
        let polling = Polling {
            initial_wait: Duration::ZERO,
            interval: Duration::from_secs(2),
            max_attempts: 60,
        };
        let delays: Vec<u64> = (0..7)
            .map(|a| polling.delay(a).as_millis() as u64)
            .collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 2000, 2000]);
    }
}
