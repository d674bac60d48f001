//! dns-01 records that exist in a DNS zone right now, noted so that one a crash left behind is
//! found and deleted (`acme::dns01`, swept by the recovery loop); and the dns-persist-01 records
//! certgate published, noted so that a renewal writes nothing.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fred::prelude::HashesInterface;

use super::reads::AcmeReads;
use super::{StoreResult, StoreWriter};

fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// One field per record: `<name> <value>` (a DNS name and a base64url value hold no space).
fn field(name: &str, value: &str) -> String {
    format!("{name} {value}")
}

impl AcmeReads<'_> {
    /// Records noted more than `older_than` ago, as `(name, value)`.
    pub async fn stale_dns_records(
        self,
        older_than: Duration,
    ) -> StoreResult<Vec<(String, String)>> {
        let all: HashMap<String, String> = self.client.hgetall(self.keys.dns_records()).await?;
        let limit = now_seconds().saturating_sub(older_than.as_secs());
        Ok(all
            .into_iter()
            .filter(|(_, noted)| noted.parse::<u64>().is_ok_and(|t| t <= limit))
            .filter_map(|(f, _)| {
                let (name, value) = f.split_once(' ')?;
                Some((name.to_owned(), value.to_owned()))
            })
            .collect())
    }
}

impl StoreWriter {
    /// Records that certgate created the TXT record `name` = `value`, so it is removed even after a crash.
    pub async fn note_dns_record(&self, name: &str, value: &str) -> StoreResult<()> {
        let _: i64 = self
            .client
            .hset(
                self.keys.dns_records(),
                (field(name, value), now_seconds().to_string()),
            )
            .await?;
        Ok(())
    }

    /// Forgets a TXT record certgate removed.
    pub async fn forget_dns_record(&self, name: &str, value: &str) -> StoreResult<()> {
        let _: i64 = self
            .client
            .hdel(self.keys.dns_records(), field(name, value))
            .await?;
        Ok(())
    }

    /// Whether certgate published the dns-persist-01 record `name` = `value` already.
    pub async fn persist_record_published(&self, name: &str, value: &str) -> StoreResult<bool> {
        let noted: Option<String> = self
            .client
            .hget(self.keys.dns_persist_published(), field(name, value))
            .await?;
        Ok(noted.is_some())
    }

    /// Notes that the dns-persist-01 record `name` = `value` is published.
    pub async fn note_persist_record(&self, name: &str, value: &str) -> StoreResult<()> {
        let _: i64 = self
            .client
            .hset(
                self.keys.dns_persist_published(),
                (field(name, value), now_seconds().to_string()),
            )
            .await?;
        Ok(())
    }

    /// Forgets it (the CA did not find it: the next issuance publishes it again).
    pub async fn forget_persist_record(&self, name: &str, value: &str) -> StoreResult<()> {
        let _: i64 = self
            .client
            .hdel(self.keys.dns_persist_published(), field(name, value))
            .await?;
        Ok(())
    }
}
