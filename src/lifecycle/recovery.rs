//! Finding interrupted work: at start-up and then every half lease, the `jobs` set is read and
//! every name not running here is queued; the lease decides whether this instance may take it.
//! Its first pass is the start-up scan (`startup_scan.rs`). Every pass asks the issuers to remove what crashed generations left outside Redis
//! (dns-01 records).

use super::Lifecycle;
use crate::shutdown::Shutdown;

impl Lifecycle {
    pub(super) async fn recover(self, shutdown: Shutdown) {
        let mut swept = false;
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
}
