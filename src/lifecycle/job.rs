//! One generation, start to finish, under the certificate's lease.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use time::OffsetDateTime;

use super::Lifecycle;
use crate::certs::issuer::{IssueError, IssueRequest, IssuedCertificate};
use crate::certs::model::{AriState, CertStatus, CertificateRecord, GenerationState};
use crate::certs::pem::{self, PemError};
use crate::certs::schedule;
use crate::events::Change;
use crate::ids::random_hex;
use crate::metrics::METRICS;
use crate::store::certs::GuardedWrite;
use crate::store::status::MarkGenerating;
use crate::timefmt;

/// A generation interrupted this many times (crashes mid-way) is failed instead of retried.
const MAX_ATTEMPTS: u32 = 3;

/// Extends the lease in the background while the work runs; stops when dropped.
struct LeaseKeeper {
    task: tokio::task::JoinHandle<()>,
    lost: Arc<AtomicBool>,
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Lifecycle {
    /// Runs the pending generation of `name`, if there is one and no other worker holds it.
    pub(super) async fn run_job(&self, name: &str) {
        let store = &self.inner.store;
        let ttl = self.inner.config.certificates.lease;
        let lease = format!("{}:{}", self.inner.instance, random_hex(8));
        match store.acquire_lease(name, &lease, ttl).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(cert_name = name, error = %e, "cannot take lease; will retry");
                return;
            }
        }
        let keeper = self.keep_lease(name, &lease);
        if let Err(e) = self.generate(name, &lease, &keeper).await {
            tracing::warn!(cert_name = name, error = %e, "generation interrupted; will resume");
        }
        drop(keeper);
        let _ = store.release_lease(name, &lease).await;
    }

    fn keep_lease(&self, name: &str, lease: &str) -> LeaseKeeper {
        let lost = Arc::new(AtomicBool::new(false));
        let (store, name, lease, flag) = (
            self.inner.store.clone(),
            name.to_owned(),
            lease.to_owned(),
            lost.clone(),
        );
        let ttl = self.inner.config.certificates.lease;
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(ttl / 3);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Ok(false) = store.extend_lease(&name, &lease, ttl).await {
                    flag.store(true, Ordering::SeqCst);
                    return;
                }
            }
        });
        LeaseKeeper { task, lost }
    }

    async fn generate(
        &self,
        name: &str,
        lease: &str,
        keeper: &LeaseKeeper,
    ) -> Result<(), crate::store::StoreError> {
        let store = &self.inner.store;
        let now = timefmt::now_string();
        let attempt = match store
            .mark_generating(name, lease, "generating certificate", &now)
            .await?
        {
            MarkGenerating::Attempt(n) => n,
            MarkGenerating::NotRunning => return store.remove_job(name).await,
            MarkGenerating::LeaseLost => return Ok(()),
        };
        let Some(mut record) = store.certs().get(name).await? else {
            return store.remove_job(name).await;
        };
        tracing::info!(cert_name = name, issuer = %record.issuer, attempt, domains = record.domains.len(), "generation started");
        let kind = match record.status {
            CertStatus::Pending | CertStatus::Failed => "issue",
            CertStatus::Active | CertStatus::Expired => "renew",
        };
        let issuer = record.issuer.to_string();
        METRICS.generation_attempts.inc(&[kind, &issuer]);
        let result = if attempt > MAX_ATTEMPTS {
            Err(IssueError::Internal(format!(
                "generation was interrupted {} times; giving up",
                attempt - 1
            )))
        } else {
            self.issue(&record).await
        };
        if keeper.lost.load(Ordering::SeqCst) {
            tracing::warn!(
                cert_name = name,
                "lease lost during generation; result dropped"
            );
            return Ok(());
        }
        if let Err(e) = &result {
            METRICS
                .generation_failures
                .inc(&[kind, &issuer, e.reason()]);
        }
        if let Err(IssueError::Storage(e)) = result {
            return Err(e);
        }
        let status_before = record.status;
        let (mut state, mut message, key) = match result {
            Ok(issued) => match self.apply_issued(&mut record, &issued) {
                Ok(message) => (
                    GenerationState::Completed,
                    message,
                    Some(issued.private_key_pem),
                ),
                Err(e) => self.apply_failure(&mut record, &IssueError::Internal(e.to_string())),
            },
            Err(e) => self.apply_failure(&mut record, &e),
        };
        match store
            .write_certificate_guarded(&record, key.as_ref(), lease)
            .await?
        {
            GuardedWrite::Stored => {
                if let Some(unconfirmed) = self.stored(&record, status_before, state).await? {
                    (state, message) = (GenerationState::Failed, unconfirmed);
                }
            }
            GuardedWrite::Deleted => return store.remove_job(name).await,
            GuardedWrite::LeaseLost => return Ok(()),
        }
        self.finish(&record, state, &message).await
    }

    /// The result was stored: indexes and counts follow it; with `REDIS_MIN_REPLICAS_ACK`, an
    /// issued certificate waits for its replicas (the failure message when they did not ack).
    async fn stored(
        &self,
        record: &CertificateRecord,
        status_before: CertStatus,
        state: GenerationState,
    ) -> Result<Option<String>, crate::store::StoreError> {
        let name = record.cert_name.as_str();
        self.reindex(record).await?;
        self.inner
            .store
            .count_status_change(name, Some(status_before), Some(record.status))
            .await?;
        if state != GenerationState::Completed {
            return Ok(None);
        }
        self.replicas_unconfirmed(name).await
    }

    /// With `REDIS_MIN_REPLICAS_ACK`, waits until that many replicas hold the certificate just
    /// written; the failure message when they did not within the timeout.
    async fn replicas_unconfirmed(
        &self,
        name: &str,
    ) -> Result<Option<String>, crate::store::StoreError> {
        let redis = &self.inner.config.redis;
        if redis.min_replicas_ack == 0 {
            return Ok(None);
        }
        let acknowledged = self
            .inner
            .store
            .wait_for_replicas(name, redis.min_replicas_ack, redis.replica_ack_timeout)
            .await?;
        Ok((acknowledged < redis.min_replicas_ack).then(|| {
            format!(
                "issued and stored on the Redis primary, but {acknowledged} of the {} replicas \
                 REDIS_MIN_REPLICAS_ACK asks for acknowledged it within {} s: a failover now \
                 could lose it",
                redis.min_replicas_ack,
                redis.replica_ack_timeout.as_secs()
            )
        }))
    }

    /// The generation's result is stored: its job leaves the queue, its status ends (and is
    /// kept for the data-loss write-back), the change is announced, and a new certificate's
    /// renewal window is asked for at once.
    async fn finish(
        &self,
        record: &CertificateRecord,
        state: GenerationState,
        message: &str,
    ) -> Result<(), crate::store::StoreError> {
        let (store, name) = (&self.inner.store, record.cert_name.as_str());
        store.remove_job(name).await?;
        let now = timefmt::now_string();
        let retention = self.inner.config.certificates.status_retention;
        store
            .finish_generation(name, state, message, &now, retention)
            .await?;
        if let Ok(Some(status)) = store.certs().generation_status(name).await {
            self.inner.finished.remember(name, status, retention);
        }
        self.announce(Change::Certificate(name.to_owned())).await;
        match state {
            GenerationState::Completed => tracing::info!(cert_name = name, "{message}"),
            _ => tracing::warn!(cert_name = name, "{message}"),
        }
        if state == GenerationState::Completed {
            // Ask the CA for the new certificate's renewal window at once, not at the next
            // renewal pass.
            let (lifecycle, record) = (self.clone(), record.clone());
            tokio::spawn(async move { lifecycle.poll_renewal_info(&record).await });
        }
        Ok(())
    }

    async fn issue(&self, record: &CertificateRecord) -> Result<IssuedCertificate, IssueError> {
        let Some(issuer) = self.inner.issuers.get(record.issuer) else {
            return Err(IssueError::Rejected(format!(
                "the {} issuer is not available on this instance",
                record.issuer
            )));
        };
        issuer.issue(&self.issue_request(record)).await
    }

    /// What an issuer needs to issue `record` now.
    pub(crate) fn issue_request(&self, record: &CertificateRecord) -> IssueRequest {
        IssueRequest {
            cert_name: record.cert_name.clone(),
            domains: record.domains.clone(),
            key_type: record.key_type,
            rsa_key_size: self.inner.config.certificates.rsa_key_size,
            email: record.email.clone(),
            directory_url: record.acme_directory_url.clone(),
            profile: record.profile.clone(),
            challenge: record.challenge,
            dns_provider: record.dns_provider,
            // A renewal names the certificate it replaces, so the CA can tie the two (ARI).
            replacing_pem: match record.status {
                CertStatus::Active | CertStatus::Expired => record.fullchain_pem.clone(),
                CertStatus::Pending | CertStatus::Failed => None,
            },
        }
    }

    /// Updates the record for a successful issuance; the message for the status.
    fn apply_issued(
        &self,
        record: &mut CertificateRecord,
        issued: &IssuedCertificate,
    ) -> Result<String, PemError> {
        let leaf = pem::leaf_info(&issued.fullchain_pem)?;
        let due = schedule::renewal_due_at(
            leaf.not_before,
            leaf.not_after,
            self.inner.config.certificates.renewal_threshold_days,
        );
        record.status = if leaf.not_after <= OffsetDateTime::now_utc() {
            CertStatus::Expired
        } else {
            CertStatus::Active
        };
        record.expires_at = Some(timefmt::format(leaf.not_after));
        record.not_before = Some(timefmt::format(leaf.not_before));
        record.fullchain_pem = Some(issued.fullchain_pem.clone());
        record.next_renewal_at = Some(timefmt::format(due));
        record.last_error = None;
        record.renewal_failures = 0;
        record.revoked_at = None;
        record.revocation_reason = None;
        // A new certificate: what the CA said about the old one no longer applies. The next
        // renewal pass (or the poll right after this generation) asks about this one.
        record.ari = AriState {
            replaces: issued.replaced.clone(),
            ..AriState::default()
        };
        record.updated_at = timefmt::now_string();
        let mut message = format!(
            "certificate issued for {}; expires {}",
            record.domains.join(", "),
            timefmt::format(leaf.not_after)
        );
        for note in &issued.notes {
            message.push_str("; ");
            message.push_str(note);
        }
        Ok(message)
    }

    /// Updates the record for a failed generation. A certificate that was never issued becomes
    /// `failed`; one that is serving stays as it is, with the error and the next retry recorded.
    fn apply_failure(
        &self,
        record: &mut CertificateRecord,
        error: &IssueError,
    ) -> (GenerationState, String, Option<crate::secret::Secret>) {
        let message = error.to_string();
        record.last_error = Some(message.clone());
        record.updated_at = timefmt::now_string();
        match record.status {
            CertStatus::Pending | CertStatus::Failed => {
                record.status = CertStatus::Failed;
                record.fullchain_pem = None;
                record.expires_at = None;
                record.not_before = None;
                record.next_renewal_at = None;
            }
            CertStatus::Active | CertStatus::Expired => {
                record.renewal_failures = record.renewal_failures.saturating_add(1);
                let retry = timefmt::now() + schedule::retry_backoff(record.renewal_failures);
                record.next_renewal_at = Some(timefmt::format(retry));
            }
        }
        (GenerationState::Failed, message, None)
    }
}
