//! The renewal loop: certificates past their `next_renewal_at` are renewed (new key), those past
//! their expiry are marked `expired`, and ACME certificates whose renewal information is due are
//! asked about (see `ari.rs`).
//!
//! `next_renewal_at` is the moment the CA's renewal window (ARI) picked; without one,
//! `RENEWAL_THRESHOLD_DAYS` before expiry, or — for certificates whose whole lifetime is shorter
//! than the threshold — the moment a third of the lifetime remains; after a failed renewal it is
//! the back-off time (see [`crate::certs::schedule`]). Every instance runs the loop; the store
//! starts a due renewal once, and the lease gives it one worker.
//!
//! A pass reads only what the renewal index (`store::renewal_index`, scored by
//! [`schedule::next_event`]) says is due, so its cost grows with what is due, not with how many
//! certificates exist. It runs every `RENEWAL_CHECK_INTERVAL`, and earlier when the index's
//! earliest event falls before that, so a moment inside a short window is met to the second.

use futures_util::StreamExt;
use time::OffsetDateTime;

use super::{ari, Lifecycle};
use crate::certs::model::{CertStatus, CertificateRecord};
use crate::certs::schedule;
use crate::events::Change;
use crate::shutdown::Shutdown;
use crate::store::StoreResult;
use crate::timefmt;

/// ARI requests in flight at once per instance.
const ARI_CONCURRENCY: usize = 4;
/// Most due certificates one pass handles; the rest wait for the next pass (a second later).
const PASS_BATCH: usize = 500;
/// The shortest pause between two passes.
const MIN_PASS_GAP: std::time::Duration = std::time::Duration::from_secs(1);

impl Lifecycle {
    pub(super) async fn renew_due(self, shutdown: Shutdown) {
        let period = self.inner.config.certificates.renewal_check_interval;
        // A first pass soon after start, so nothing waits a whole interval after a restart.
        let mut next = tokio::time::Instant::now() + period.min(std::time::Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = self.inner.renewal_wake.notified() => {}
                _ = shutdown.wait() => return,
            }
            let started = tokio::time::Instant::now();
            next = started + period;
            match self.check_renewals().await {
                Ok(Some(upcoming)) => {
                    let wait = (upcoming - OffsetDateTime::now_utc()).max(time::Duration::ZERO);
                    let wait = std::time::Duration::try_from(wait).unwrap_or_default();
                    next = next.min(started + wait.max(MIN_PASS_GAP));
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "renewal check skipped: storage unavailable"),
            }
            // Never two passes within MIN_PASS_GAP, however often it is woken.
            tokio::time::sleep_until(started + MIN_PASS_GAP).await;
        }
    }

    /// One pass over what the renewal index says is due (at most `PASS_BATCH` names); the
    /// index's earliest event afterwards, for the next wake-up.
    pub(super) async fn check_renewals(&self) -> StoreResult<Option<OffsetDateTime>> {
        let store = &self.inner.store;
        let now = OffsetDateTime::now_utc();
        let now_text = timefmt::now_string();
        let ari_on = self.inner.config.acme.ari;
        let names = store.certs().due(now, PASS_BATCH).await?;
        let records = store.certs().get_many(&names).await?;
        let mut to_poll: Vec<CertificateRecord> = Vec::new();
        for (name, record) in names.iter().zip(records) {
            let Some(record) = record else {
                store.index_renewal(name, None).await?;
                continue;
            };
            let name = name.as_str();
            if let Some(expires) = record.expires_at.as_deref() {
                let past = timefmt::parse(expires).is_some_and(|t| t <= now);
                if record.status == CertStatus::Active
                    && past
                    && store.mark_expired(name, expires, &now_text).await?
                {
                    tracing::warn!(
                        cert_name = name,
                        expires_at = expires,
                        "certificate expired"
                    );
                    self.announce(Change::Certificate(name.to_owned())).await;
                    self.reindex_name(name).await?;
                    store
                        .count_status_change(
                            name,
                            Some(CertStatus::Active),
                            Some(CertStatus::Expired),
                        )
                        .await?;
                }
            }
            if ari::poll_due(&record, now, ari_on) {
                to_poll.push(record.clone());
            }
            if let Some(due) = record.next_renewal_at.as_deref() {
                let is_due = timefmt::parse(due).is_some_and(|t| t <= now);
                if is_due
                    && matches!(record.status, CertStatus::Active | CertStatus::Expired)
                    && store.begin_renewal_if_due(name, due, &now_text).await?
                {
                    tracing::info!(
                        cert_name = name,
                        due,
                        failures = record.renewal_failures,
                        "renewal due: starting"
                    );
                    store.add_job(name).await?;
                    self.enqueue(name);
                }
            }
            // An entry the record contradicts (nothing due now) is put where it belongs.
            let next = schedule::next_event(&record, ari_on, now);
            if next.is_none_or(|t| t > now) {
                store.index_renewal(name, next).await?;
            }
        }
        if !to_poll.is_empty() {
            let lifecycle = self.clone();
            tokio::spawn(async move {
                futures_util::stream::iter(to_poll)
                    .for_each_concurrent(ARI_CONCURRENCY, |record| {
                        let lifecycle = lifecycle.clone();
                        async move { lifecycle.poll_renewal_info(&record).await }
                    })
                    .await;
            });
        }
        store.certs().earliest_event().await
    }

    /// Puts `record` in the renewal index at its next event (or takes it out).
    pub(super) async fn reindex(&self, record: &CertificateRecord) -> StoreResult<()> {
        let next = schedule::next_event(
            record,
            self.inner.config.acme.ari,
            OffsetDateTime::now_utc(),
        );
        self.inner
            .store
            .index_renewal(&record.cert_name, next)
            .await
    }

    /// [`Self::reindex`] from the stored record (after a write that changed a few fields).
    pub(super) async fn reindex_name(&self, name: &str) -> StoreResult<()> {
        match self.inner.store.certs().get(name).await? {
            Some(record) => self.reindex(&record).await,
            None => self.inner.store.index_renewal(name, None).await,
        }
    }
}
