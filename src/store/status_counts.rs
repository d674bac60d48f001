//! How many certificates are in each status (`certs:by_status`, a hash of counters), so
//! `/metrics` need not read every record. Kept by the lifecycle at each status change — a
//! second step beside the record write, like the other indexes — and recounted by the
//! lifecycle's start-up scan.

use std::collections::HashMap;

use fred::prelude::{HashesInterface, SetsInterface, SortedSetsInterface};

use super::{Store, StoreResult, StoreWriter};
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

impl Store {
    /// Certificates by status (`pending`, `active`, `failed`, `expired`).
    pub async fn status_counts(&self) -> StoreResult<HashMap<String, i64>> {
        Ok(self.client.hgetall(self.keys.status_counts()).await?)
    }

    /// How many certificates exist (the name set's size).
    pub async fn certificate_count(&self) -> StoreResult<usize> {
        let n: i64 = self.client.scard(self.keys.cert_index()).await?;
        Ok(usize::try_from(n).unwrap_or(0))
    }
}

impl StoreWriter {
    /// Moves certificate `name` from `from` to `to` (either may be `None`: created, deleted):
    /// the counters and the per-status name indexes.
    pub async fn count_status_change(
        &self,
        name: &str,
        from: Option<CertStatus>,
        to: Option<CertStatus>,
    ) -> StoreResult<()> {
        if from == to {
            return Ok(());
        }
        let key = self.keys.status_counts();
        if let Some(from) = from {
            let _: i64 = self.client.hincrby(&key, field(from), -1).await?;
            let _: i64 = self
                .client
                .zrem(self.keys.certs_with_status(field(from)), name)
                .await?;
        }
        if let Some(to) = to {
            let _: i64 = self.client.hincrby(&key, field(to), 1).await?;
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

    /// Puts each name in the index of its status and out of the others (the start-up scan's
    /// repair, a batch at a time).
    pub async fn index_status(&self, names_by_status: &[(String, CertStatus)]) -> StoreResult<()> {
        if names_by_status.is_empty() {
            return Ok(());
        }
        // Two variadic commands per status for the whole batch, not one per certificate: with
        // 100,000 certificates the start-up scan would otherwise send half a million.
        let pipeline = self.client.pipeline();
        for status in ALL {
            let key = self.keys.certs_with_status(field(status));
            let (here, elsewhere): (Vec<_>, Vec<_>) =
                names_by_status.iter().partition(|(_, s)| *s == status);
            if !here.is_empty() {
                let members: Vec<(f64, String)> =
                    here.into_iter().map(|(n, _)| (0.0, n.clone())).collect();
                let _: () = pipeline
                    .zadd(&key, None, None, false, false, members)
                    .await?;
            }
            if !elsewhere.is_empty() {
                let names: Vec<String> = elsewhere.into_iter().map(|(n, _)| n.clone()).collect();
                let _: () = pipeline.zrem(&key, names).await?;
            }
        }
        let _: Vec<fred::types::Value> = pipeline.all().await?;
        Ok(())
    }

    /// Replaces the counters (the start-up scan's recount).
    pub async fn set_status_counts(&self, counts: &HashMap<CertStatus, i64>) -> StoreResult<()> {
        let key = self.keys.status_counts();
        let values: Vec<(&str, i64)> = [
            CertStatus::Pending,
            CertStatus::Active,
            CertStatus::Failed,
            CertStatus::Expired,
        ]
        .into_iter()
        .map(|status| (field(status), counts.get(&status).copied().unwrap_or(0)))
        .collect();
        let _: i64 = self.client.hset(&key, values).await?;
        Ok(())
    }
}
