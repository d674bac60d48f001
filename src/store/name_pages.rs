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

use super::reads::{CertReads, RouteReads};
use super::{decode, Store, StoreResult, StoreWriter};
use crate::certs::model::CertificateRecord;
use crate::routes::Route;

/// Which list an ordered index serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listed {
    /// `GET /certificates/`.
    Certificates,
    /// `GET /proxies/`.
    Routes,
}

/// A filter `GET /certificates/` applies in Redis, through an index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertFilter {
    /// Only certificates in this status.
    pub status: Option<crate::certs::model::CertStatus>,
    /// An owner's token hash.
    pub owner: Option<String>,
}

/// One page and the cursor of the next (the page's last name), if any.
pub struct Page<T> {
    /// The items, in name order.
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
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

    /// Puts certificate `name` in its owner's index.
    pub(super) async fn index_owner(&self, name: &str, owner_hash: &str) -> StoreResult<()> {
        let _: i64 = self
            .client
            .zadd(
                self.keys.certs_owned_by(owner_hash),
                None,
                None,
                false,
                false,
                (0.0, name),
            )
            .await?;
        Ok(())
    }

    pub(super) async fn unindex_owner(&self, name: &str, owner_hash: &str) -> StoreResult<()> {
        let _: i64 = self
            .client
            .zrem(self.keys.certs_owned_by(owner_hash), name)
            .await?;
        Ok(())
    }

    /// Up to `limit` names after `after` (from the start: `None`) and whether more follow.
    pub(super) async fn page_names(
        &self,
        listed: Listed,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<(Vec<String>, Option<String>)> {
        let (_, ordered) = self.listed_keys(listed);
        self.page_names_in(ordered, after, limit).await
    }

    /// [`Store::page_names`] in any lexical index.
    async fn page_names_in(
        &self,
        ordered: String,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<(Vec<String>, Option<String>)> {
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
}

impl CertReads<'_> {
    /// Up to `limit` certificates with this status and/or owner whose names sort after
    /// `after`: walked in the owner's index (else the status's), so a page reads only its own
    /// records; with both filters a page may hold fewer than `limit`.
    pub async fn page_where(
        self,
        filter: &CertFilter,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<CertificateRecord>> {
        let ordered = match (&filter.owner, filter.status) {
            (Some(hash), _) => self.keys.certs_owned_by(hash),
            (None, Some(status)) => self
                .keys
                .certs_with_status(super::status_counts::field(status)),
            (None, None) => self.listed_keys(Listed::Certificates).1,
        };
        let (names, next_after) = self.page_names_in(ordered, after, limit).await?;
        let items = self
            .certs()
            .get_many(&names)
            .await?
            .into_iter()
            .flatten()
            // An index entry a concurrent write has not yet moved is left out, never shown wrong.
            .filter(|r| {
                filter.status.is_none_or(|s| r.status == s)
                    && filter
                        .owner
                        .as_ref()
                        .is_none_or(|hash| r.owner_token_hash == *hash)
            })
            .collect();
        Ok(Page { items, next_after })
    }

    /// Up to `limit` certificates whose names sort after `after`.
    pub async fn page(
        self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<CertificateRecord>> {
        let (names, next_after) = self.page_names(Listed::Certificates, after, limit).await?;
        let items = self
            .certs()
            .get_many(&names)
            .await?
            .into_iter()
            .flatten()
            .collect();
        Ok(Page { items, next_after })
    }
}

impl RouteReads<'_> {
    /// Up to `limit` routes whose hostnames sort after `after`.
    pub async fn page(self, after: Option<&str>, limit: usize) -> StoreResult<Page<Route>> {
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
}

impl StoreWriter {
    /// Puts each certificate in its owner's index (the start-up scan's repair; an owner never
    /// changes, so nothing is taken out).
    pub async fn index_owners(&self, owners: &[(String, String)]) -> StoreResult<()> {
        if owners.is_empty() {
            return Ok(());
        }
        // One variadic ZADD per owner in the batch (most batches have few owners).
        let mut by_owner: std::collections::HashMap<&str, Vec<(f64, String)>> =
            std::collections::HashMap::new();
        for (name, owner) in owners {
            by_owner
                .entry(owner.as_str())
                .or_default()
                .push((0.0, name.clone()));
        }
        let pipeline = self.client.pipeline();
        for (owner, members) in by_owner {
            let _: () = pipeline
                .zadd(
                    self.keys.certs_owned_by(owner),
                    None,
                    None,
                    false,
                    false,
                    members,
                )
                .await?;
        }
        let _: Vec<fred::types::Value> = pipeline.all().await?;
        Ok(())
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
            // Created since the name set was read (a create adds to the set before the index):
            // asked again, it is there and stays listed.
            let still_named: bool = self.client.sismember(&set, name.as_str()).await?;
            if !still_named {
                self.unindex_name(listed, name).await?;
            }
        }
        Ok(names.len())
    }
}
