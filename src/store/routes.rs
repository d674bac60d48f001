//! Routes: `route:{hostname}` holds the JSON, `routes` indexes the hostnames.

use fred::prelude::{KeysInterface, SetsInterface};

use super::name_pages::Listed;
use super::reads::RouteReads;
use super::{decode, StoreResult, StoreWriter};
use crate::routes::Route;

impl RouteReads<'_> {
    /// The route of `hostname`, if any.
    pub async fn get(self, hostname: &str) -> StoreResult<Option<Route>> {
        let key = self.keys.route(hostname);
        let json: Option<String> = self.client.get(&key).await?;
        json.map(|j| decode(&key, &j)).transpose()
    }

    /// Every route, sorted by hostname, read in one pipelined round trip. Index entries
    /// without a route (a crash between the two writes) are skipped.
    pub async fn list(self) -> StoreResult<Vec<Route>> {
        let mut hosts: Vec<String> = self.client.smembers(self.keys.route_index()).await?;
        hosts.sort();
        if hosts.is_empty() {
            return Ok(Vec::new());
        }
        let pipeline = self.client.pipeline();
        for host in &hosts {
            let _: () = pipeline.get(self.keys.route(host)).await?;
        }
        let values: Vec<Option<String>> = pipeline.all().await?;
        let mut routes = Vec::with_capacity(hosts.len());
        for (host, json) in hosts.iter().zip(values) {
            if let Some(json) = json {
                routes.push(decode(&self.keys.route(host), &json)?);
            }
        }
        Ok(routes)
    }

    /// Hostnames of the routes that serve the named certificate.
    pub async fn using_certificate(self, cert_name: &str) -> StoreResult<Vec<String>> {
        Ok(self
            .routes()
            .list()
            .await?
            .into_iter()
            .filter(|r| r.cert_name.as_deref() == Some(cert_name))
            .map(|r| r.hostname)
            .collect())
    }
}

impl StoreWriter {
    /// Writes a route and indexes its hostname.
    pub async fn put_route(&self, route: &Route) -> StoreResult<()> {
        let _: () = self
            .client
            .set(
                self.keys.route(&route.hostname),
                super::encode(route),
                None,
                None,
                false,
            )
            .await?;
        let _: i64 = self
            .client
            .sadd(self.keys.route_index(), route.hostname.as_str())
            .await?;
        self.index_name(Listed::Routes, &route.hostname).await?;
        Ok(())
    }

    /// Deletes a route; `false` if there was none.
    pub async fn delete_route(&self, hostname: &str) -> StoreResult<bool> {
        let n: i64 = self.client.del(self.keys.route(hostname)).await?;
        let _: i64 = self.client.srem(self.keys.route_index(), hostname).await?;
        self.unindex_name(Listed::Routes, hostname).await?;
        Ok(n == 1)
    }

    /// Creates a route unless its hostname has one; `false` if it exists.
    pub async fn create_route(&self, route: &Route) -> StoreResult<bool> {
        let set: Option<String> = self
            .client
            .set(
                self.keys.route(&route.hostname),
                super::encode(route),
                None,
                Some(fred::prelude::SetOptions::NX),
                false,
            )
            .await?;
        if set.is_some() {
            let _: i64 = self
                .client
                .sadd(self.keys.route_index(), route.hostname.as_str())
                .await?;
            self.index_name(Listed::Routes, &route.hostname).await?;
        }
        Ok(set.is_some())
    }
}
