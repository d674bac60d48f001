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
//! A pass runs every `RENEWAL_CHECK_INTERVAL`, and earlier when a certificate's renewal moment
//! or ARI poll falls before that, so a moment inside a short window is met to the second.

use futures_util::StreamExt;
use time::OffsetDateTime;

use super::{ari, Lifecycle};
use crate::certs::model::{CertStatus, CertificateRecord};
use crate::events::Change;
use crate::shutdown::Shutdown;
use crate::timefmt;

/// ARI requests in flight at once per instance.
const ARI_CONCURRENCY: usize = 4;
/// The shortest pause between two passes.
const MIN_PASS_GAP: std::time::Duration = std::time::Duration::from_secs(1);

impl Lifecycle {
    pub(super) async fn renew_due(self, shutdown: Shutdown) {
        let period = self.inner.config.renewal_check_interval;
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

    /// One pass over every certificate; the earliest future renewal moment or ARI poll seen.
    pub async fn check_renewals(&self) -> crate::store::StoreResult<Option<OffsetDateTime>> {
        let store = &self.inner.store;
        let now = OffsetDateTime::now_utc();
        let now_text = timefmt::now_string();
        let mut upcoming: Option<OffsetDateTime> = None;
        let mut to_poll: Vec<CertificateRecord> = Vec::new();
        for record in store.list_certificates().await? {
            if !matches!(record.status, CertStatus::Active | CertStatus::Expired) {
                continue;
            }
            let name = record.cert_name.as_str();
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
                }
            }
            if ari::poll_due(&record, now, self.inner.config.acme_ari) {
                to_poll.push(record.clone());
            } else if let Some(at) = record.ari.ari_next_poll_at.as_deref() {
                earliest(&mut upcoming, timefmt::parse(at));
            }
            let Some(due) = record.next_renewal_at.as_deref() else {
                continue;
            };
            match timefmt::parse(due) {
                Some(t) if t > now => {
                    earliest(&mut upcoming, Some(t));
                    continue;
                }
                None => continue,
                Some(_) => {}
            }
            if store.begin_renewal_if_due(name, due, &now_text).await? {
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
        Ok(upcoming)
    }
}

fn earliest(current: &mut Option<OffsetDateTime>, candidate: Option<OffsetDateTime>) {
    if let Some(t) = candidate {
        *current = Some(current.map_or(t, |c| c.min(t)));
    }
}
