//! The durable work queue: the set of certificate names with a generation waiting or running.
//!
//! The in-memory queue only wakes workers; this set is what a restarted (or another) instance
//! reads to find interrupted work. An entry is a hint — the status record decides whether there
//! is still work — so a stale entry costs one check and is then removed.

use fred::prelude::SetsInterface;

use super::reads::CertReads;
use super::{StoreResult, StoreWriter};

impl CertReads<'_> {
    /// The certificates with a generation queued or running.
    pub async fn queued(self) -> StoreResult<Vec<String>> {
        Ok(self.client.smembers(self.keys.jobs()).await?)
    }
}

impl StoreWriter {
    /// Marks `name` as having a generation queued.
    pub async fn add_job(&self, name: &str) -> StoreResult<()> {
        let _: i64 = self.client.sadd(self.keys.jobs(), name).await?;
        Ok(())
    }

    /// Marks `name`'s generation as finished.
    pub async fn remove_job(&self, name: &str) -> StoreResult<()> {
        let _: i64 = self.client.srem(self.keys.jobs(), name).await?;
        Ok(())
    }
}
