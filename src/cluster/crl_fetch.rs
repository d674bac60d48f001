//! Fetching the CRLs routes name in `client_auth.crl_urls`, once for the cluster: every pass,
//! each instance reads the CRL the cluster last fetched from Redis into its memory
//! (`tls::crls::CrlCache`); a CRL that is due — past its `nextUpdate`, or fetched
//! `CRL_REFRESH_SECONDS` ago — is fetched again by the one instance that takes its lock, and
//! the others read the result at their next pass. A failed fetch keeps the CRL there was.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};

use crate::ids::InstanceId;
use crate::metrics::METRICS;
use crate::routes::table::RouteTable;
use crate::shutdown::Shutdown;
use crate::store::crls::StoredCrl;
use crate::store::StoreWriter;
use crate::tls::crls::{CrlCache, FetchedCrl};
use crate::tls::outbound::OutboundClient;

/// How long one fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an instance holds a URL's fetch lock.
const FETCH_LOCK: Duration = Duration::from_secs(30);
/// The largest CRL accepted.
const MAX_CRL_BYTES: usize = 16 * 1024 * 1024;
/// The longest pause between two passes.
const LONGEST_PASS_INTERVAL: Duration = Duration::from_secs(10);

/// The cluster's CRL fetcher on this instance.
pub struct CrlFetcher {
    store: StoreWriter,
    routes: Arc<RouteTable>,
    cache: Arc<CrlCache>,
    refresh: Duration,
    instance: InstanceId,
    client: OutboundClient,
}

impl CrlFetcher {
    /// A fetcher for the routes in `routes`, filling `cache`, sharing through `store`.
    pub fn new(
        store: StoreWriter,
        routes: Arc<RouteTable>,
        cache: Arc<CrlCache>,
        refresh: Duration,
        instance: InstanceId,
    ) -> CrlFetcher {
        CrlFetcher {
            store,
            routes,
            cache,
            refresh,
            instance,
            client: crate::tls::outbound::client(FETCH_TIMEOUT),
        }
    }

    /// Passes until `shutdown`.
    pub async fn run(self, shutdown: Shutdown) {
        let interval = self.refresh.min(LONGEST_PASS_INTERVAL);
        loop {
            self.pass().await;
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.wait() => return,
            }
        }
    }

    /// One pass over every URL the routes name now.
    async fn pass(&self) {
        let urls: BTreeSet<String> = self
            .routes
            .all()
            .iter()
            .filter_map(|route| route.client_auth.as_ref())
            .flat_map(|auth| auth.crl_urls.iter().cloned())
            .collect();
        self.cache.set_wanted(urls.clone());
        for url in urls {
            if let Err(e) = self.refresh_one(&url).await {
                tracing::warn!(url, error = %e, "CRL not refreshed; the last one stays in use");
            }
        }
    }

    async fn refresh_one(&self, url: &str) -> Result<(), String> {
        let now_ms =
            i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
                .unwrap_or(i64::MAX);
        let refresh_ms = i64::try_from(self.refresh.as_millis()).unwrap_or(i64::MAX);
        let due = |crl: &FetchedCrl| {
            crl.is_stale(now_ms / 1000) || now_ms >= crl.fetched_at.saturating_add(refresh_ms)
        };
        if let Some(crl) = self.stored(url).await? {
            let stale = due(&crl);
            self.cache.put(url, crl);
            if !stale {
                return Ok(());
            }
        }
        let locked = self
            .store
            .lock_crl_fetch(url, self.instance.as_str(), FETCH_LOCK)
            .await
            .map_err(|e| e.to_string())?;
        if !locked {
            return Ok(());
        }
        // Another instance may have fetched it between the read above and the lock.
        if let Some(crl) = self.stored(url).await? {
            if !due(&crl) {
                let _ = self.store.unlock_crl_fetch(url).await;
                self.cache.put(url, crl);
                return Ok(());
            }
        }
        let stored = self.fetch_and_store(url, now_ms).await;
        METRICS
            .crl_fetches
            .inc(&[if stored.is_ok() { "ok" } else { "error" }]);
        // Released either way: a failed fetch is tried again at the next pass, by anyone.
        let _ = self.store.unlock_crl_fetch(url).await;
        stored
    }

    /// The CRL the cluster last fetched from `url`, as stored.
    async fn stored(&self, url: &str) -> Result<Option<FetchedCrl>, String> {
        let stored = self
            .store
            .cluster()
            .crl(url)
            .await
            .map_err(|e| e.to_string())?;
        stored
            .map(|s| FetchedCrl::parse(s.der, s.fetched_at))
            .transpose()
    }

    async fn fetch_and_store(&self, url: &str, now_ms: i64) -> Result<(), String> {
        let der = self.fetch(url).await?;
        let crl = FetchedCrl::parse(der.clone(), now_ms)?;
        let stored = StoredCrl {
            der,
            fetched_at: now_ms,
        };
        self.store
            .put_crl(url, &stored)
            .await
            .map_err(|e| e.to_string())?;
        self.cache.put(url, crl);
        Ok(())
    }

    /// `GET url`: the body of a `200`, DER or PEM (the first `X509 CRL` block).
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, String> {
        let request = http::Request::get(url)
            .header(http::header::USER_AGENT, "certgate-crl-fetch")
            .body(Empty::new())
            .map_err(|e| e.to_string())?;
        let response = tokio::time::timeout(FETCH_TIMEOUT, self.client.request(request))
            .await
            .map_err(|_| "no answer within 10 s".to_owned())?
            .map_err(|e| e.to_string())?;
        if response.status() != http::StatusCode::OK {
            return Err(format!("status {}", response.status()));
        }
        let body = tokio::time::timeout(
            FETCH_TIMEOUT,
            Limited::new(response.into_body(), MAX_CRL_BYTES).collect(),
        )
        .await
        .map_err(|_| "body not read within 10 s".to_owned())?
        .map_err(|e| e.to_string())?
        .to_bytes();
        if body.starts_with(b"-----BEGIN") {
            let crls = crate::routes::client_auth::crls("crl", &String::from_utf8_lossy(&body))
                .map_err(|e| e.detail)?;
            return Ok(crls[0].to_vec());
        }
        Ok(body.to_vec())
    }
}
