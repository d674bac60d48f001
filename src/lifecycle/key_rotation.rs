//! `certgate keys rotate`: every stored private key re-wrapped under the current key of
//! `KEY_ENCRYPTION_KEYS`, one batch per call. Nothing is announced: the keys' plain values do
//! not change, so no instance's tables do.

use super::Lifecycle;
use crate::store::sealed::Rewrapped;
use crate::store::StoreResult;

impl Lifecycle {
    /// Re-wraps one batch after certificate `after`; what it did and the name the next batch
    /// starts after (`None`: done).
    pub async fn rewrap_keys(
        &self,
        after: Option<&str>,
        batch: usize,
    ) -> StoreResult<(Rewrapped, Option<String>)> {
        let (done, next) = self.inner.store.rewrap_keys(after, batch).await?;
        tracing::info!(
            after = after.unwrap_or("-"),
            rewrapped = done.rewrapped,
            current = done.current,
            unreadable = done.unreadable.len(),
            "key rotation batch"
        );
        Ok((done, next))
    }
}
