//! `certgate keys rotate`: every stored private key re-wrapped under the current key of
//! `KEY_ENCRYPTION_KEYS`, one batch per call. Nothing is announced: the keys' plain values do
//! not change, so no instance's tables do.

use super::Lifecycle;
use crate::store::sealed::Rewrapped;
use crate::store::StoreResult;

impl Lifecycle {
    /// Re-wraps one batch from `cursor`; what it did and where the next batch starts (`None`:
    /// done).
    pub async fn rewrap_keys(
        &self,
        cursor: usize,
        batch: usize,
    ) -> StoreResult<(Rewrapped, Option<usize>)> {
        let (done, next) = self.inner.store.rewrap_keys(cursor, batch).await?;
        tracing::info!(
            cursor,
            rewrapped = done.rewrapped,
            current = done.current,
            unreadable = done.unreadable.len(),
            "key rotation batch"
        );
        Ok((done, next))
    }
}
