//! Creating something that names hostnames: claim them for its owner, write it, and release
//! the claim again when the write did not happen — so a refused create leaves nothing behind.

use std::future::Future;

use super::Lifecycle;
use crate::store::claims::{ClaimRef, Conflict};
use crate::store::StoreResult;

/// What a claimed create produced.
pub(super) enum Claimed {
    /// The claim holds and the record was written.
    Written,
    /// The write refused (the name exists); the claim was released.
    NotWritten,
    /// A hostname belongs to another token, or is under its wildcard, or this wildcard would
    /// cover one of its names; nothing was written.
    OwnedByAnother(Conflict),
}

impl Lifecycle {
    /// Claims `hosts` for `owner` (as `claim`), then runs `write` (`Ok(false)`: not written).
    pub(super) async fn create_claimed(
        &self,
        hosts: &[String],
        owner: &str,
        claim: ClaimRef<'_>,
        caller_is_admin: bool,
        write: impl Future<Output = StoreResult<bool>>,
    ) -> StoreResult<Claimed> {
        let store = &self.inner.store;
        if let Some(conflict) = store
            .claim_hostnames(hosts, owner, claim, caller_is_admin)
            .await?
        {
            return Ok(Claimed::OwnedByAnother(conflict));
        }
        match write.await {
            Ok(true) => Ok(Claimed::Written),
            Ok(false) => {
                store.release_hostnames(hosts, claim).await?;
                Ok(Claimed::NotWritten)
            }
            Err(e) => {
                let _ = store.release_hostnames(hosts, claim).await;
                Err(e)
            }
        }
    }
}
