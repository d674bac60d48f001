//! How many certificates are in each status (`certs:by_status`, a hash of counters), so
//! `/metrics` need not read every record. Kept by the lifecycle at each status change — a
//! second step beside the record write, like the other indexes — and recounted from the records
//! once per start.

use std::collections::HashMap;

use fred::prelude::{HashesInterface, KeysInterface, SetsInterface};

use super::{Store, StoreResult};
use crate::certs::model::CertStatus;

fn field(status: CertStatus) -> &'static str {
    match status {
        CertStatus::Pending => "pending",
        CertStatus::Active => "active",
        CertStatus::Failed => "failed",
        CertStatus::Expired => "expired",
    }
}

impl Store {
    /// Moves one certificate from `from` to `to` (either may be `None`: created, deleted).
    pub async fn count_status_change(
        &self,
        from: Option<CertStatus>,
        to: Option<CertStatus>,
    ) -> StoreResult<()> {
        if from == to {
            return Ok(());
        }
        let key = self.keys.status_counts();
        if let Some(from) = from {
            let _: i64 = self.client.hincrby(&key, field(from), -1).await?;
        }
        if let Some(to) = to {
            let _: i64 = self.client.hincrby(&key, field(to), 1).await?;
        }
        Ok(())
    }

    /// Certificates by status (`pending`, `active`, `failed`, `expired`).
    pub async fn status_counts(&self) -> StoreResult<HashMap<String, i64>> {
        Ok(self.client.hgetall(self.keys.status_counts()).await?)
    }

    /// How many certificates exist (the name set's size).
    pub async fn certificate_count(&self) -> StoreResult<usize> {
        let n: i64 = self.client.scard(self.keys.cert_index()).await?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Recounts from every record (once per start).
    pub async fn recount_statuses(&self) -> StoreResult<()> {
        let mut counts: HashMap<&'static str, i64> = HashMap::new();
        for record in self.list_certificates().await? {
            *counts.entry(field(record.status)).or_default() += 1;
        }
        let key = self.keys.status_counts();
        let _: i64 = self.client.del(&key).await?;
        for status in [
            CertStatus::Pending,
            CertStatus::Active,
            CertStatus::Failed,
            CertStatus::Expired,
        ] {
            let n = counts.get(field(status)).copied().unwrap_or(0);
            let _: i64 = self.client.hset(&key, (field(status), n)).await?;
        }
        Ok(())
    }
}
