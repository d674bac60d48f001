//! The on-demand allow list: patterns of names that may be issued at their first handshake
//! (`ON_DEMAND`). Every instance reads it (refreshed every few seconds); only the admin writes it,
//! through here.

use super::Lifecycle;
use crate::store::StoreResult;

impl Lifecycle {
    /// Adds an allow pattern; `false` when it was listed already.
    pub async fn allow_on_demand(&self, pattern: &str) -> StoreResult<bool> {
        let added = self.inner.store.on_demand_allow(pattern).await?;
        tracing::info!(pattern, added, "on-demand allow pattern set");
        Ok(added)
    }

    /// Removes an allow pattern; `false` when it was not listed.
    pub async fn disallow_on_demand(&self, pattern: &str) -> StoreResult<bool> {
        let removed = self.inner.store.on_demand_disallow(pattern).await?;
        if removed {
            tracing::info!(pattern, "on-demand allow pattern removed");
        }
        Ok(removed)
    }
}
