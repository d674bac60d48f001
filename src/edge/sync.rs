//! Keeping the edge's tables in step with Redis: a full load at start-up, then every change
//! announced through [`crate::events::Events`] is applied to the certificate cache or the route table,
//! so a certificate or route change is served on the next handshake or request.
//!
//! A full load (start-up, reconnect, periodic resync) reads a snapshot and then replaces the
//! tables with it. A change applied while the snapshot is being read may be newer than the
//! snapshot, so such changes are recorded and applied again after the replacement; otherwise
//! a route created during a resync would vanish until the next one.

use std::sync::{Arc, Mutex};

use std::future::Future;
use std::pin::Pin;

use crate::events::{Change, ChangeSink};
use crate::metrics::certificates::CertificateSeries;
use crate::routes::table::RouteTable;
use crate::store::change_log::ChangesAfter;
use crate::store::{Store, StoreResult};
use crate::tls::cache::CertCache;
use crate::tls::certified::ServedCert;

/// The tables every handshake and request reads.
pub struct EdgeTables {
    /// Certificates by name.
    pub certs: Arc<CertCache>,
    /// Routes by hostname.
    pub routes: Arc<RouteTable>,
    /// The per-certificate figures of `/metrics`, kept current with the tables.
    pub series: Arc<CertificateSeries>,
    store: Store,
    cache_size: usize,
    /// One full load at a time, so that one recording covers the whole of each load.
    loading: tokio::sync::Mutex<()>,
    /// `Some` while a full load runs: the changes applied meanwhile, to replay after it.
    during_load: Mutex<Option<Vec<Change>>>,
    /// Where this instance stopped reading the change log (`store::change_log`).
    log_cursor: Mutex<String>,
    /// Applies run one at a time, each from its read to its swap. Otherwise two quick changes
    /// to one name could land in the wrong order (the older read swapped in last) and the
    /// edge would serve a stale record until the next resync.
    one_apply: tokio::sync::Mutex<()>,
}

impl EdgeTables {
    /// `series_limit`: `METRICS_PER_CERTIFICATE_LIMIT`.
    pub fn new(store: Store, cache_size: usize, series_limit: usize) -> EdgeTables {
        EdgeTables {
            certs: Arc::new(CertCache::new(store.clone(), cache_size)),
            routes: Arc::new(RouteTable::default()),
            series: Arc::new(CertificateSeries::new(series_limit)),
            store,
            cache_size,
            loading: tokio::sync::Mutex::new(()),
            during_load: Mutex::new(None),
            log_cursor: Mutex::new(crate::store::change_log::START.to_owned()),
            one_apply: tokio::sync::Mutex::new(()),
        }
    }

    /// Loads every route and up to the cache bound of servable certificates; changes applied
    /// while it reads are applied again afterwards (see the module docs).
    pub async fn load_all(&self) -> StoreResult<()> {
        let _one_load = self.loading.lock().await;
        *self.during_load.lock().expect("load record lock") = Some(Vec::new());
        // Read before the snapshot: what is logged meanwhile is applied again at the next
        // catch-up (harmless), and nothing is missed.
        let head = match self.store.cluster().change_log_head().await {
            Ok(head) => head,
            Err(e) => {
                self.stop_recording();
                return Err(e);
            }
        };
        let ((routes, certs), records) =
            match tokio::try_join!(self.read_snapshot(), self.read_series()) {
                Ok(snapshot) => snapshot,
                Err(e) => {
                    self.stop_recording();
                    return Err(e);
                }
            };
        self.routes.replace_all(routes);
        self.certs.replace_all(certs);
        self.series.replace_all(records.as_deref());
        *self.log_cursor.lock().expect("log cursor lock") = head;
        for change in self.stop_recording() {
            self.apply(&change).await;
        }
        Ok(())
    }

    /// Ends the recording of a load and returns what it caught, each change once.
    /// Applies what the change log holds since this instance last read it (the periodic
    /// resync): work that grows with the changes, not with the records. Reloads in full when the
    /// log no longer reaches back that far. Returns how many changes it applied.
    pub async fn catch_up(&self) -> StoreResult<usize> {
        const BATCH: usize = 1000;
        let mut applied = 0;
        loop {
            let cursor = self.log_cursor.lock().expect("log cursor lock").clone();
            let changes = match self.store.cluster().changes_after(&cursor, BATCH).await? {
                ChangesAfter::Gap => {
                    tracing::info!("the change log does not reach back to this instance's last read; reloading in full");
                    self.load_all().await?;
                    return Ok(applied);
                }
                ChangesAfter::Changes(changes) => changes,
            };
            let mut seen = std::collections::HashSet::new();
            for logged in &changes {
                let change = match logged.kind.as_str() {
                    "certificate" => Change::Certificate(logged.name.clone()),
                    "route" => Change::Route(logged.name.clone()),
                    _ => continue,
                };
                if seen.insert(change.clone()) {
                    self.apply(&change).await;
                    applied += 1;
                }
            }
            if let Some(last) = changes.last() {
                *self.log_cursor.lock().expect("log cursor lock") = last.id.clone();
            }
            if changes.len() < BATCH {
                return Ok(applied);
            }
        }
    }

    fn stop_recording(&self) -> Vec<Change> {
        let mut caught = self
            .during_load
            .lock()
            .expect("load record lock")
            .take()
            .unwrap_or_default();
        let mut seen = std::collections::HashSet::new();
        caught.retain(|change| seen.insert(change.clone()));
        caught
    }

    async fn read_snapshot(
        &self,
    ) -> StoreResult<(Vec<crate::routes::model::Route>, Vec<Arc<ServedCert>>)> {
        let routes = self.store.routes().list().await?;
        let certs: Vec<Arc<ServedCert>> = self
            .store
            .certs()
            .list_with_keys(self.cache_size)
            .await?
            .iter()
            .filter_map(|(record, key)| {
                ServedCert::from_record(record, key.as_ref().map(|k| k.expose()))
            })
            .collect();
        tracing::info!(
            routes = routes.len(),
            certificates = certs.len(),
            "edge tables loaded"
        );
        Ok((routes, certs))
    }

    /// Every certificate record for the series of `/metrics`, when there are few enough.
    async fn read_series(
        &self,
    ) -> StoreResult<Option<Vec<crate::certs::model::CertificateRecord>>> {
        if !self.series.wants(self.store.certs().count().await?) {
            return Ok(None);
        }
        Ok(Some(self.store.certs().list().await?))
    }

    /// Re-reads one changed certificate or route and swaps it in (or out).
    pub async fn apply(&self, change: &Change) {
        // Recorded before reading. A change announced before a load started was written before
        // its snapshot, so the snapshot holds it; one announced during a load is replayed.
        if let Some(record) = self.during_load.lock().expect("load record lock").as_mut() {
            record.push(change.clone());
        }
        let _in_order = self.one_apply.lock().await;
        match change {
            Change::Certificate(name) => match self.store.certs().get_with_key(name).await {
                Ok(Some((record, key))) => {
                    self.series.upsert(&record);
                    match ServedCert::from_record(&record, key.as_ref().map(|k| k.expose())) {
                        Some(cert) => self.certs.insert(cert),
                        None => self.certs.remove(name),
                    }
                }
                Ok(None) => {
                    self.series.remove(name);
                    self.certs.remove(name);
                }
                Err(e) => {
                    tracing::warn!(cert_name = %name, error = %e, "cannot reload certificate; keeping the served one")
                }
            },
            Change::Route(host) => match self.store.routes().get(host).await {
                Ok(Some(route)) => {
                    self.certs.forget_unknown([host.as_str()]);
                    self.routes.upsert(route);
                }
                Ok(None) => self.routes.remove(host),
                Err(e) => {
                    tracing::warn!(hostname = %host, error = %e, "cannot reload route; keeping the served one")
                }
            },
        }
    }
}

impl ChangeSink for EdgeTables {
    fn apply<'a>(&'a self, change: &'a Change) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(EdgeTables::apply(self, change))
    }
}
