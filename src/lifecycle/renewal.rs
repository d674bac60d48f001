//! The renewal loop: every `RENEWAL_CHECK_INTERVAL`, certificates past their `next_renewal_at`
//! are renewed (new key) and certificates past their expiry are marked `expired`.
//!
//! `next_renewal_at` is `RENEWAL_THRESHOLD_DAYS` before expiry, or — for certificates whose whole
//! lifetime is shorter than the threshold — the moment a third of the lifetime remains; after a
//! failed renewal it is the back-off time (see [`crate::certs::schedule`]). Every instance runs
//! the loop; the store starts a due renewal once, and the lease gives it one worker.

use time::OffsetDateTime;

use super::Lifecycle;
use crate::certs::model::CertStatus;
use crate::events::Change;
use crate::shutdown::Shutdown;
use crate::timefmt;

impl Lifecycle {
    pub(super) async fn renew_due(self, shutdown: Shutdown) {
        let period = self.inner.config.renewal_check_interval;
        // A first pass soon after start, so nothing waits a whole interval after a restart.
        let mut next = tokio::time::Instant::now() + period.min(std::time::Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = shutdown.wait() => return,
            }
            next = tokio::time::Instant::now() + period;
            if let Err(e) = self.check_renewals().await {
                tracing::warn!(error = %e, "renewal check skipped: storage unavailable");
            }
        }
    }

    /// One pass over every certificate.
    pub async fn check_renewals(&self) -> crate::store::StoreResult<()> {
        let store = &self.inner.store;
        let now = OffsetDateTime::now_utc();
        let now_text = timefmt::now_string();
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
            let Some(due) = record.next_renewal_at.as_deref() else {
                continue;
            };
            if timefmt::parse(due).is_none_or(|t| t > now) {
                continue;
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
        Ok(())
    }
}
