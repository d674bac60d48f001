//! Each instance writes a heartbeat to Redis every `PERIOD` (alive for `TTL`), so
//! `GET /cluster/instances` shows which instances of a cluster are alive, their version and
//! when they started.

use std::time::Duration;

use crate::config::Config;
use crate::ids::InstanceId;
use crate::shutdown::Shutdown;
use crate::store::instances::InstanceInfo;
use crate::store::StoreWriter;
use crate::timefmt;

/// How often an instance writes its heartbeat.
pub const PERIOD: Duration = Duration::from_secs(3);
/// How long a heartbeat lasts: an instance missing three beats is gone.
pub const TTL: Duration = Duration::from_secs(10);

/// Writes the heartbeat until `shutdown` (a failed write is retried at the next beat).
pub async fn beat(store: StoreWriter, config: &Config, instance: InstanceId, shutdown: Shutdown) {
    let started_at = timefmt::now_string();
    loop {
        let info = InstanceInfo {
            id: instance.to_string(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            started_at: started_at.clone(),
            seen_at: timefmt::now_string(),
            http_addr: config.listeners.http_addr.to_string(),
            https_addr: config.listeners.https_addr.to_string(),
            admin_addr: config.listeners.admin_addr.to_string(),
        };
        if let Err(e) = store.heartbeat(&info, TTL).await {
            tracing::debug!(error = %e, "heartbeat not written");
        }
        tokio::select! {
            _ = tokio::time::sleep(PERIOD) => {}
            _ = shutdown.wait() => return,
        }
    }
}
