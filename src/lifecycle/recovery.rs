//! Finding interrupted work: at start-up and then every half lease, the `jobs` set is read and
//! every name not running here is queued; the lease decides whether this instance may take it.
//! Its first pass is the start-up scan (`startup_scan.rs`). Every pass asks the issuers to remove what crashed generations left outside Redis
//! (dns-01 records).

use std::collections::HashSet;

use super::Lifecycle;
use crate::certs::model::CertStatus;
use crate::shutdown::Shutdown;

impl Lifecycle {
    pub(super) async fn recover(self, shutdown: Shutdown) {
        let mut swept = false;
        let mut suspects = HashSet::new();
        let period = self.inner.config.certificates.lease / 2;
        loop {
            if !swept {
                swept = match self.startup_scan().await {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::warn!(error = %e, "start-up scan incomplete; will retry");
                        false
                    }
                };
            }
            if let Ok(names) = self.inner.store.certs().queued().await {
                for name in names {
                    self.enqueue(&name);
                }
            }
            if swept {
                if let Err(e) = self.resume_stalled(&mut suspects).await {
                    tracing::warn!(error = %e, "stalled issuances not checked; will retry");
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

    /// Pending certificates whose first issuance is neither queued nor running here, in two
    /// passes in a row (one pass could catch a create between its record and its job): each is
    /// queued again (a generation still running elsewhere keeps its lease, and this instance's
    /// attempt stops at it). Nothing should leave one so, but an issuance that waits for ever
    /// helps nobody: this bounds any such gap to two recovery periods.
    async fn resume_stalled(
        &self,
        suspects: &mut HashSet<String>,
    ) -> crate::store::StoreResult<()> {
        let store = &self.inner.store;
        let pending = store
            .certs()
            .names_with_status(CertStatus::Pending, STALLED_CHECK_LIMIT)
            .await?;
        let queued: HashSet<String> = if pending.is_empty() {
            HashSet::new()
        } else {
            store.certs().queued().await?.into_iter().collect()
        };
        let local = self.inner.local.lock().expect("lifecycle lock").clone();
        let stalled: HashSet<String> = pending
            .into_iter()
            .filter(|name| !local.contains(name) && !queued.contains(name))
            .collect();
        for name in stalled.intersection(suspects) {
            tracing::warn!(cert_name = %name, "pending issuance was neither queued nor running; queued again");
            self.resume_if_orphaned(name).await?;
            self.enqueue(name);
        }
        *suspects = stalled;
        Ok(())
    }
}

/// Most pending certificates one recovery pass looks at.
const STALLED_CHECK_LIMIT: usize = 10_000;
