//! Keeping the edge's tables in step with Redis: a full load at start-up, then every change
//! announced through [`crate::events::Events`] is applied to the certificate cache or the route table,
//! so a certificate or route change is served on the next handshake or request.

use std::sync::Arc;

use std::future::Future;
use std::pin::Pin;

use super::routes::RouteTable;
use crate::events::{Change, ChangeSink};
use crate::store::{Store, StoreResult};
use crate::tls::cache::CertCache;
use crate::tls::certified::ServedCert;

/// The tables every handshake and request reads.
pub struct EdgeTables {
    pub certs: Arc<CertCache>,
    pub routes: Arc<RouteTable>,
    store: Store,
    cache_size: usize,
}

impl EdgeTables {
    pub fn new(store: Store, cache_size: usize) -> EdgeTables {
        EdgeTables {
            certs: Arc::new(CertCache::new(store.clone(), cache_size)),
            routes: Arc::new(RouteTable::default()),
            store,
            cache_size,
        }
    }

    /// Loads every route and up to the cache bound of servable certificates.
    pub async fn load_all(&self) -> StoreResult<()> {
        let routes = self.store.list_routes().await?;
        let certs: Vec<Arc<ServedCert>> = self
            .store
            .list_certificates_with_keys(self.cache_size)
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
        self.routes.replace_all(routes);
        self.certs.replace_all(certs);
        Ok(())
    }

    /// Re-reads one changed certificate or route and swaps it in (or out).
    pub async fn apply(&self, change: &Change) {
        match change {
            Change::Certificate(name) => match self.store.get_certificate_with_key(name).await {
                Ok(Some((record, key))) => {
                    match ServedCert::from_record(&record, key.as_ref().map(|k| k.expose())) {
                        Some(cert) => self.certs.insert(cert),
                        None => self.certs.remove(name),
                    }
                }
                Ok(None) => self.certs.remove(name),
                Err(e) => {
                    tracing::warn!(cert_name = %name, error = %e, "cannot reload certificate; keeping the served one")
                }
            },
            Change::Route(host) => match self.store.get_route(host).await {
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
