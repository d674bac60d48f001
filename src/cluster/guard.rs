//! The periodic full resync, and the guard against a Redis that lost its data.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use crate::edge::sync::EdgeTables;
use crate::store::{Store, StoreResult};

/// How often the epoch is checked.
const EPOCH_CHECK: Duration = Duration::from_secs(2);

pub struct Guard {
    store: Store,
    tables: Arc<EdgeTables>,
    epoch: Mutex<Option<String>>,
}

impl Guard {
    pub fn new(store: Store, tables: Arc<EdgeTables>) -> Arc<Guard> {
        Arc::new(Guard {
            store,
            tables,
            epoch: Mutex::new(None),
        })
    }

    /// Joins (or starts) the epoch and loads the tables; the instance is ready after this.
    pub async fn start(&self) -> StoreResult<()> {
        let epoch = self
            .store
            .ensure_epoch(&crate::certs::manager::random_hex(8))
            .await?;
        *self.epoch.lock().expect("epoch lock") = Some(epoch);
        self.tables.load_all().await
    }

    /// Whether Redis still holds the data this instance knows of. When it does not, the
    /// instance writes back what it holds (no deletion is applied) and joins the new epoch.
    pub async fn intact(&self) -> StoreResult<bool> {
        let known = self.epoch.lock().expect("epoch lock").clone();
        let current = self.store.epoch().await?;
        if known.is_some() && current == known {
            return Ok(true);
        }
        tracing::error!(
            "Redis lost certgate's data (epoch changed); serving from memory and writing back"
        );
        let (certs, routes) = self.write_back().await?;
        tracing::warn!(
            certificates = certs,
            routes,
            "wrote back what this instance holds"
        );
        let epoch = self
            .store
            .ensure_epoch(&crate::certs::manager::random_hex(8))
            .await?;
        *self.epoch.lock().expect("epoch lock") = Some(epoch);
        Ok(false)
    }

    async fn write_back(&self) -> StoreResult<(usize, usize)> {
        let mut certs = 0;
        for cert in self.tables.certs.all() {
            if self
                .store
                .restore_certificate(&cert.record, &cert.key_pem)
                .await?
            {
                certs += 1;
            }
        }
        let mut routes = 0;
        for route in self.tables.routes.all() {
            if self.store.restore_route(&route).await? {
                routes += 1;
            }
        }
        Ok((certs, routes))
    }

    /// Reloads the tables from Redis, unless Redis lost its data (then it writes back instead).
    pub async fn resync(&self) -> StoreResult<()> {
        if self.intact().await? {
            self.tables.load_all().await?;
        }
        Ok(())
    }

    /// Checks the epoch every few seconds and resyncs every `resync_interval`, until `stop`.
    pub async fn run(self: Arc<Self>, resync_interval: Duration, mut stop: watch::Receiver<bool>) {
        let mut epoch_tick = tokio::time::interval(EPOCH_CHECK);
        let mut resync_tick = tokio::time::interval(resync_interval);
        resync_tick.tick().await;
        loop {
            tokio::select! {
                _ = epoch_tick.tick() => {
                    if let Err(e) = self.intact().await {
                        tracing::debug!(error = %e, "epoch check skipped: Redis unavailable");
                    }
                }
                _ = resync_tick.tick() => {
                    if let Err(e) = self.resync().await {
                        tracing::warn!(error = %e, "periodic resync failed; serving what is loaded");
                    }
                }
                _ = crate::edge::accept::stopped(&mut stop) => return,
            }
        }
    }
}
