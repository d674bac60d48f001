//! The upstreams of every route as this instance uses them (`docs/edge.md`, "Upstreams"):
//! each upstream's connections (HTTP/1.1 through certgate's own list, HTTP/2 over one shared
//! connection; TLS for `https://`), the cap on requests in flight to each, the
//! balancing policy, passive and active health. Built the first time a route is used and kept
//! while the route's upstream fields stay the same, so health and pools survive unrelated route
//! changes and resyncs.

pub mod abandoned;
pub mod active;
pub mod answer;
pub mod build_error;
pub mod client;
pub mod dial;
pub mod health;
pub mod http1_pool;
pub mod http2_pool;
#[cfg(test)]
mod inline_exchange_tests;
mod replay;
pub mod resolver;
pub mod set;
pub mod slots;
pub mod tls;

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::config::Config;
use crate::routes::host_map::HostMap;
use crate::routes::Route;
pub use build_error::BuildError;
pub use health::HealthView;
pub use set::{Member, UpstreamSet};

/// What a route's upstream set is built from: when any of it changes, the set is rebuilt.
#[derive(PartialEq)]
struct UpstreamFields<'a> {
    targets: &'a [crate::routes::model::UpstreamTarget],
    upstream: &'a str,
    policy: crate::routes::model::Policy,
    health_check: &'a Option<crate::routes::model::HealthCheck>,
    upstream_ca_pem: &'a Option<String>,
    upstream_sni: &'a Option<String>,
    insecure_skip_verify: bool,
    restricted_upstream: bool,
}

fn fields(route: &Route) -> UpstreamFields<'_> {
    UpstreamFields {
        targets: &route.upstreams,
        upstream: &route.upstream,
        policy: route.policy,
        health_check: &route.health_check,
        upstream_ca_pem: &route.upstream_ca_pem,
        upstream_sni: &route.upstream_sni,
        insecure_skip_verify: route.insecure_skip_verify,
        restricted_upstream: route.restricted_upstream,
    }
}

/// A route (as last seen) and its upstream set.
#[derive(Clone)]
struct Entry {
    route: Arc<Route>,
    set: Arc<UpstreamSet>,
}

/// Every route's upstream set, by hostname.
pub struct Upstreams {
    config: Arc<Config>,
    entries: ArcSwap<HostMap<Entry>>,
    writer: Mutex<()>,
}

impl Upstreams {
    /// No upstream sets yet; each route's is built on its first request.
    pub fn new(config: Arc<Config>) -> Upstreams {
        Upstreams {
            config,
            entries: ArcSwap::default(),
            writer: Mutex::new(()),
        }
    }

    /// `route`'s upstream set: the one built for it, or — when the route's upstream fields
    /// changed, or it is new — a new one.
    pub fn for_route(&self, route: &Arc<Route>) -> Result<Arc<UpstreamSet>, BuildError> {
        if let Some(entry) = self.entries.load().get(&route.hostname) {
            if Arc::ptr_eq(&entry.route, route) {
                return Ok(entry.set.clone());
            }
        }
        let _guard = self.writer.lock().expect("upstream registry lock");
        let current = self.entries.load();
        let set = match current.get(&route.hostname) {
            Some(entry) if Arc::ptr_eq(&entry.route, route) => return Ok(entry.set.clone()),
            Some(entry) if fields(&entry.route) == fields(route) => entry.set.clone(),
            _ => Arc::new(UpstreamSet::build(route, &self.config)?),
        };
        let mut next = HostMap::clone(&current);
        next.insert(
            route.hostname.clone(),
            Entry {
                route: route.clone(),
                set: set.clone(),
            },
        );
        self.entries.store(Arc::new(next));
        Ok(set)
    }

    /// The upstream set in use for `hostname`, if a request or a check built one.
    pub fn current(&self, hostname: &str) -> Option<Arc<UpstreamSet>> {
        self.entries.load().get(hostname).map(|e| e.set.clone())
    }

    /// Health of `hostname`'s upstreams as this instance sees them (every upstream healthy and
    /// idle when none was used yet).
    pub fn health(&self, route: &Route) -> Vec<HealthView> {
        match self.current(&route.hostname) {
            Some(set) => set.members.iter().map(|m| m.health.view(&m.url)).collect(),
            None => route
                .targets()
                .iter()
                .map(|t| health::UpstreamHealth::default().view(&t.url))
                .collect(),
        }
    }

    /// Forgets the sets of routes no longer served (`keep` says which hostnames are).
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        let _guard = self.writer.lock().expect("upstream registry lock");
        let current = self.entries.load();
        if current.keys().all(|h| keep(h)) {
            return;
        }
        let next: HostMap<Entry> = current
            .iter()
            .filter(|(h, _)| keep(h))
            .map(|(h, e)| (h.clone(), e.clone()))
            .collect();
        self.entries.store(Arc::new(next));
    }

    /// The gauges of every upstream in use, for `/metrics`.
    pub fn member_gauges(&self) -> Vec<MemberGauges> {
        let mut out = Vec::new();
        for (hostname, entry) in self.entries.load().iter() {
            for m in &entry.set.members {
                out.push(MemberGauges {
                    route: hostname.clone(),
                    upstream: m.url.clone(),
                    healthy: m.health.available(),
                    waiting: m.slots.waiting(),
                });
            }
        }
        out.sort_by(|a, b| (&a.route, &a.upstream).cmp(&(&b.route, &b.upstream)));
        out
    }
}

/// One upstream of a route as `/metrics` shows it.
pub struct MemberGauges {
    /// The route's hostname.
    pub route: String,
    /// The upstream's URL.
    pub upstream: String,
    /// In rotation (`certgate_upstream_healthy`).
    pub healthy: bool,
    /// Requests in line for a place under `UPSTREAM_MAX_CONNECTIONS`
    /// (`certgate_upstream_waiting`).
    pub waiting: usize,
}
