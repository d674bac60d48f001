//! The renewal index: a sorted set of certificate names scored by their next event (renewal,
//! expiry, ARI request; `certs::schedule::next_event`), so a renewal pass reads only what is due
//! and the loop knows when to wake — work that grows with what is due, not with what exists.
//!
//! It is written after each record write (a second step, like the name index: in Redis Cluster
//! one script cannot touch every certificate's slot and the index); a pass that finds an entry
//! whose record says otherwise corrects it, and the lifecycle's start-up scan rebuilds it from
//! the records; the data-loss write-back indexes what it restores.

use fred::prelude::{HashesInterface, SortedSetsInterface};
use time::OffsetDateTime;

use super::reads::CertReads;
use super::{decode, StoreResult, StoreWriter};
use crate::certs::model::CertificateRecord;

fn millis(t: OffsetDateTime) -> f64 {
    (t.unix_timestamp_nanos() / 1_000_000) as f64
}

impl CertReads<'_> {
    /// Up to `limit` names whose next event is at or before `now`, earliest first.
    pub async fn due(self, now: OffsetDateTime, limit: usize) -> StoreResult<Vec<String>> {
        let names: Vec<String> = self
            .client
            .zrangebyscore(
                self.keys.renewal_index(),
                "-inf",
                millis(now),
                false,
                Some((0, limit as i64)),
            )
            .await?;
        Ok(names)
    }

    /// The earliest next event in the index.
    pub async fn earliest_event(self) -> StoreResult<Option<OffsetDateTime>> {
        let first: Vec<(String, f64)> = self
            .client
            .zrange(self.keys.renewal_index(), 0, 0, None, false, None, true)
            .await?;
        Ok(first.first().and_then(|(_, score)| {
            OffsetDateTime::from_unix_timestamp_nanos((*score as i128) * 1_000_000).ok()
        }))
    }

    /// The records of `names` (absent ones: `None`), one pipeline.
    pub async fn get_many(self, names: &[String]) -> StoreResult<Vec<Option<CertificateRecord>>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let pipeline = self.client.pipeline();
        for name in names {
            let _: () = pipeline.hget(self.keys.cert(name), "record").await?;
        }
        let values: Vec<Option<String>> = pipeline.all().await?;
        names
            .iter()
            .zip(values)
            .map(|(name, json)| json.map(|j| decode(&self.keys.cert(name), &j)).transpose())
            .collect()
    }

    /// The whole index as `(name, next event in ms)`, for repair and tests.
    pub async fn renewal_entries(self) -> StoreResult<Vec<(String, i64)>> {
        let all: Vec<(String, f64)> = self
            .client
            .zrange(self.keys.renewal_index(), 0, -1, None, false, None, true)
            .await?;
        Ok(all.into_iter().map(|(n, s)| (n, s as i64)).collect())
    }
}

impl StoreWriter {
    /// Puts `name` at `next` in the index, or takes it out (`None`).
    pub async fn index_renewal(&self, name: &str, next: Option<OffsetDateTime>) -> StoreResult<()> {
        let key = self.keys.renewal_index();
        match next {
            Some(at) => {
                let _: i64 = self
                    .client
                    .zadd(&key, None, None, false, false, (millis(at), name))
                    .await?;
            }
            None => {
                let _: i64 = self.client.zrem(&key, name).await?;
            }
        }
        Ok(())
    }

    /// Puts each `(name, next event)` in the index, one command.
    pub async fn index_renewals(&self, entries: &[(String, OffsetDateTime)]) -> StoreResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let members: Vec<(f64, String)> = entries
            .iter()
            .map(|(name, at)| (millis(*at), name.clone()))
            .collect();
        let _: i64 = self
            .client
            .zadd(self.keys.renewal_index(), None, None, false, false, members)
            .await?;
        Ok(())
    }
}
