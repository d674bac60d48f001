//! `REDIS_MIN_REPLICAS_ACK`: waiting until replicas hold a write (`WAIT`), so that a failover
//! to a replica cannot lose an issued certificate the generation already reported.

use std::time::{Duration, Instant};

use fred::prelude::ClientLike;
use fred::types::CustomCommand;

use super::{StoreResult, StoreWriter};

impl StoreWriter {
    /// Waits until `replicas` replicas acknowledged this client's writes so far, asking every
    /// second, at most `limit`; how many acknowledged at the end. In a Redis Cluster the
    /// question goes to the node holding certificate `name`.
    pub async fn wait_for_replicas(
        &self,
        name: &str,
        replicas: u64,
        limit: Duration,
    ) -> StoreResult<u64> {
        let slot = fred::util::redis_keyslot(self.keys.cert(name).as_bytes());
        let started = Instant::now();
        loop {
            let command = CustomCommand::new_static("WAIT", slot, true);
            let acknowledged: u64 = self
                .client
                .custom(command, vec![replicas.to_string(), "1000".to_owned()])
                .await?;
            if acknowledged >= replicas || started.elapsed() >= limit {
                return Ok(acknowledged);
            }
        }
    }
}
