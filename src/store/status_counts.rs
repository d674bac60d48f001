//! How many certificates are in each status, and which: one sorted set of names per status
//! (`certs:status:{STATUS}`), moved by the lifecycle at each status change — a second step beside
//! the record write, like the other indexes — and repaired by the start-up scan. The counts
//! `/metrics` shows are the sets' sizes, so there is no separate counter a repair could set
//! from a stale snapshot while other instances keep changing statuses.

use std::collections::HashMap;

use fred::prelude::{SetsInterface, SortedSetsInterface};

use super::reads::CertReads;
use super::{StoreResult, StoreWriter};
use crate::certs::model::CertStatus;

const ALL: [CertStatus; 4] = [
    CertStatus::Pending,
    CertStatus::Active,
    CertStatus::Failed,
    CertStatus::Expired,
];

/// The status's name, as the counters and the indexes spell it.
pub fn field(status: CertStatus) -> &'static str {
    match status {
        CertStatus::Pending => "pending",
        CertStatus::Active => "active",
        CertStatus::Failed => "failed",
        CertStatus::Expired => "expired",
    }
}

impl CertReads<'_> {
    /// Certificates by status (`pending`, `active`, `failed`, `expired`): the sizes of the
    /// status indexes, read in one round trip.
    pub async fn status_counts(self) -> StoreResult<HashMap<String, i64>> {
        let pipeline = self.client.pipeline();
        for status in ALL {
            let _: () = pipeline
                .zcard(self.keys.certs_with_status(field(status)))
                .await?;
        }
        let sizes: Vec<i64> = pipeline.all().await?;
        Ok(ALL
            .into_iter()
            .zip(sizes)
            .map(|(status, n)| (field(status).to_owned(), n))
            .collect())
    }

    /// Up to `limit` names in the index of `status`, in name order.
    pub async fn names_with_status(
        self,
        status: CertStatus,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        let last = i64::try_from(limit).unwrap_or(i64::MAX).saturating_sub(1);
        Ok(self
            .client
            .zrange(
                self.keys.certs_with_status(field(status)),
                0,
                last,
                None,
                false,
                None,
                false,
            )
            .await?)
    }

    /// How many certificates exist (the name set's size).
    pub async fn count(self) -> StoreResult<usize> {
        let n: i64 = self.client.scard(self.keys.cert_index()).await?;
        Ok(usize::try_from(n).unwrap_or(0))
    }
}

impl StoreWriter {
    /// Moves certificate `name` from the index of `from` to that of `to` (either may be
    /// `None`: created, deleted).
    pub async fn count_status_change(
        &self,
        name: &str,
        from: Option<CertStatus>,
        to: Option<CertStatus>,
    ) -> StoreResult<()> {
        if from == to {
            return Ok(());
        }
        if let Some(from) = from {
            let _: i64 = self
                .client
                .zrem(self.keys.certs_with_status(field(from)), name)
                .await?;
        }
        if let Some(to) = to {
            let _: i64 = self
                .client
                .zadd(
                    self.keys.certs_with_status(field(to)),
                    None,
                    None,
                    false,
                    false,
                    (0.0, name),
                )
                .await?;
        }
        Ok(())
    }

    /// The start-up scan's repair of one batch of names: each is put in the index of its
    /// status and taken out of the others — but only where the indexes disagree with the record
    /// (a crash between the two writes), and after reading that record again. A consistent
    /// batch costs one round trip and writes nothing, so the scan cannot undo a status change
    /// another instance (or this one's workers) makes meanwhile.
    pub async fn repair_status_index(&self, names: &[String]) -> StoreResult<()> {
        if names.is_empty() {
            return Ok(());
        }
        let pipeline = self.client.pipeline();
        for name in names {
            for status in ALL {
                let _: () = pipeline
                    .zscore(self.keys.certs_with_status(field(status)), name.as_str())
                    .await?;
            }
        }
        let scores: Vec<Option<f64>> = pipeline.all().await?;
        let indexed_in = |i: usize| -> Vec<CertStatus> {
            ALL.into_iter()
                .enumerate()
                .filter(|(s, _)| scores[i * ALL.len() + s].is_some())
                .map(|(_, status)| status)
                .collect()
        };
        let records = self.certs().get_many(names).await?;
        let suspect: Vec<String> = names
            .iter()
            .zip(&records)
            .enumerate()
            .filter(|(i, (_, record))| {
                indexed_in(*i) != record.iter().map(|r| r.status).collect::<Vec<_>>()
            })
            .map(|(_, (name, _))| name.clone())
            .collect();
        // Read again: a record that changed since the batch was read is judged as it is now.
        let current = self.certs().get_many(&suspect).await?;
        for (name, record) in suspect.iter().zip(current) {
            let now = record.map(|r| r.status);
            for status in ALL.into_iter().filter(|s| Some(*s) != now) {
                let _: i64 = self
                    .client
                    .zrem(self.keys.certs_with_status(field(status)), name.as_str())
                    .await?;
            }
            if let Some(status) = now {
                let _: i64 = self
                    .client
                    .zadd(
                        self.keys.certs_with_status(field(status)),
                        None,
                        None,
                        false,
                        false,
                        (0.0, name.as_str()),
                    )
                    .await?;
            }
        }
        Ok(())
    }
}
