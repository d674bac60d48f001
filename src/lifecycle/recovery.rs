//! Finding interrupted work: at start-up and then every half lease, the `jobs` set is read and
//! every name not running here is queued; the lease decides whether this instance may take it.
//! The same pass asks the issuers to remove what crashed generations left outside Redis
//! (dns-01 records).

use super::Lifecycle;
use crate::certs::model::CertStatus;
use crate::shutdown::Shutdown;
use crate::store::name_pages::Listed;

impl Lifecycle {
    pub(super) async fn recover(self, shutdown: Shutdown) {
        let mut swept = false;
        let period = self.inner.config.cert_lease / 2;
        loop {
            if !swept {
                swept = self.sweep_orphans().await.is_ok();
                // The renewal index is a second-step write: rebuild it from the records once
                // per start, so an instance that died between the two steps left no gap.
                for listed in [Listed::Certificates, Listed::Routes] {
                    if let Err(e) = self.inner.store.rebuild_name_index(listed).await {
                        tracing::warn!(error = %e, ?listed, "name index not rebuilt; will retry");
                        swept = false;
                    }
                }
                if let Err(e) = self.inner.store.recount_statuses().await {
                    tracing::warn!(error = %e, "status counts not rebuilt; will retry");
                    swept = false;
                }
                match self.rebuild_renewal_index().await {
                    Ok(indexed) => tracing::debug!(indexed, "renewal index rebuilt"),
                    Err(e) => {
                        tracing::warn!(error = %e, "renewal index not rebuilt; will retry");
                        swept = false;
                    }
                }
            }
            if let Ok(names) = self.inner.store.job_names().await {
                for name in names {
                    self.enqueue(&name);
                }
            }
            if let Some(acme) = &self.inner.issuers.acme {
                if let Err(e) = acme.sweep_leftovers().await {
                    tracing::warn!(error = %e, "leftover challenge answers not swept; will retry");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = shutdown.wait() => return,
            }
        }
    }

    /// Once per start: a certificate still `pending` with no generation waiting (a crash between
    /// writing the record and queueing its job) gets its generation queued again.
    async fn sweep_orphans(&self) -> crate::store::StoreResult<()> {
        let store = &self.inner.store;
        for record in store.list_certificates().await? {
            if record.status != CertStatus::Pending {
                continue;
            }
            let running = store
                .get_status(&record.cert_name)
                .await?
                .is_some_and(|s| s.status.is_running());
            if !running {
                self.renew(&record.cert_name, "resuming interrupted issuance")
                    .await?;
            } else {
                store.add_job(&record.cert_name).await?;
            }
        }
        Ok(())
    }
}
