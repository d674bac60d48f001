//! Instance heartbeats: each instance writes what it is (`instance:{id}`, JSON, with a TTL) every
//! few seconds, so an operator can see which instances of a cluster are alive.

use std::time::Duration;

use fred::prelude::{KeysInterface, SetsInterface};
use serde::{Deserialize, Serialize};

use super::reads::ClusterReads;
use super::{StoreResult, StoreWriter};

/// What an instance says of itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceInfo {
    /// Its instance id (random at start).
    pub id: String,
    /// The certgate version it runs.
    pub version: String,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// When it last wrote this (RFC 3339).
    pub seen_at: String,
    /// Its HTTP listener's address.
    pub http_addr: String,
    /// Its HTTPS listener's address.
    pub https_addr: String,
    /// Its admin listener's address.
    pub admin_addr: String,
}

impl ClusterReads<'_> {
    /// Instances whose heartbeat has not expired, by id; expired ones leave the index.
    pub async fn live_instances(self) -> StoreResult<Vec<InstanceInfo>> {
        let mut ids: Vec<String> = self.client.smembers(self.keys.instances()).await?;
        ids.sort();
        let mut live = Vec::new();
        for id in ids {
            let key = self.keys.instance(&id);
            let json: Option<String> = self.client.get(&key).await?;
            match json {
                Some(json) => live.push(super::decode(&key, &json)?),
                None => {
                    let _: i64 = self.client.srem(self.keys.instances(), id.as_str()).await?;
                }
            }
        }
        Ok(live)
    }
}

impl StoreWriter {
    /// Writes this instance's heartbeat, alive for `ttl`.
    pub async fn heartbeat(&self, info: &InstanceInfo, ttl: Duration) -> StoreResult<()> {
        self.set_expiring(self.keys.instance(&info.id), &super::encode(info), ttl)
            .await?;
        let _: i64 = self
            .client
            .sadd(self.keys.instances(), info.id.as_str())
            .await?;
        Ok(())
    }
}
