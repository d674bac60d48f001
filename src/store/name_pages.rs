//! Certificate names and route hostnames in lexically ordered indexes (`certs:by_name`,
//! `routes:by_name`: sorted sets with every score 0), for `GET /certificates/` and
//! `GET /proxies/` one page at a time. A cursor is the last name of the previous page, so a
//! walk is stable while entries come and go (each name present throughout appears exactly
//! once) and no page reads more than its own records.
//!
//! Written beside the name sets (`certs`, `routes`) on create and delete; rebuilt from them
//! once per start.

use std::collections::HashSet;

use fred::prelude::{KeysInterface, SetsInterface, SortedSetsInterface};

use super::{decode, Store, StoreResult};
use crate::certs::model::CertificateRecord;
use crate::routes::Route;

/// Which list an ordered index serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listed {
    Certificates,
    Routes,
}

/// One page and the cursor of the next (the page's last name), if any.
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_after: Option<String>,
}

impl Store {
    /// (the name set, its ordered index)
    fn listed_keys(&self, listed: Listed) -> (String, String) {
        match listed {
            Listed::Certificates => (self.keys.cert_index(), self.keys.cert_names()),
            Listed::Routes => (self.keys.route_index(), self.keys.route_names()),
        }
    }

    pub(super) async fn index_name(&self, listed: Listed, name: &str) -> StoreResult<()> {
        let (_, ordered) = self.listed_keys(listed);
        let _: i64 = self
            .client
            .zadd(ordered, None, None, false, false, (0.0, name))
            .await?;
        Ok(())
    }

    pub(super) async fn unindex_name(&self, listed: Listed, name: &str) -> StoreResult<()> {
        let (_, ordered) = self.listed_keys(listed);
        let _: i64 = self.client.zrem(ordered, name).await?;
        Ok(())
    }

    /// Up to `limit` names after `after` (from the start: `None`) and whether more follow.
    async fn page_names(
        &self,
        listed: Listed,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<(Vec<String>, Option<String>)> {
        let (_, ordered) = self.listed_keys(listed);
        let min = after.map_or_else(|| "-".to_owned(), |a| format!("({a}"));
        let mut names: Vec<String> = self
            .client
            .zrangebylex(ordered, min, "+", Some((0, limit as i64 + 1)))
            .await?;
        let more = names.len() > limit;
        names.truncate(limit);
        let next_after = more.then(|| names.last().cloned()).flatten();
        Ok((names, next_after))
    }

    /// Up to `limit` certificates whose names sort after `after`.
    pub async fn certificates_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<CertificateRecord>> {
        let (names, next_after) = self.page_names(Listed::Certificates, after, limit).await?;
        let items = self
            .get_certificates(&names)
            .await?
            .into_iter()
            .flatten()
            .collect();
        Ok(Page { items, next_after })
    }

    /// Up to `limit` routes whose hostnames sort after `after`.
    pub async fn routes_page(&self, after: Option<&str>, limit: usize) -> StoreResult<Page<Route>> {
        let (hosts, next_after) = self.page_names(Listed::Routes, after, limit).await?;
        let mut items = Vec::with_capacity(hosts.len());
        if !hosts.is_empty() {
            let pipeline = self.client.pipeline();
            for host in &hosts {
                let _: () = pipeline.get(self.keys.route(host)).await?;
            }
            let values: Vec<Option<String>> = pipeline.all().await?;
            for (host, json) in hosts.iter().zip(values) {
                if let Some(json) = json {
                    items.push(decode(&self.keys.route(host), &json)?);
                }
            }
        }
        Ok(Page { items, next_after })
    }

    /// Rebuilds an ordered index from its name set; the number of names.
    pub async fn rebuild_name_index(&self, listed: Listed) -> StoreResult<usize> {
        let (set, ordered) = self.listed_keys(listed);
        let names: Vec<String> = self.client.smembers(&set).await?;
        let indexed: Vec<String> = self
            .client
            .zrange(&ordered, 0, -1, None, false, None, false)
            .await?;
        for chunk in names.chunks(1000) {
            let members: Vec<(f64, String)> = chunk.iter().map(|n| (0.0, n.clone())).collect();
            let _: i64 = self
                .client
                .zadd(&ordered, None, None, false, false, members)
                .await?;
        }
        let known: HashSet<&String> = names.iter().collect();
        for name in indexed.iter().filter(|n| !known.contains(n)) {
            self.unindex_name(listed, name).await?;
        }
        Ok(names.len())
    }
}
