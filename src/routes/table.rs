//! The in-memory route table: hostname → route, swapped whole on every change so a request
//! never sees half an update and never waits on Redis.

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::routes::host_map::HostMap;
use crate::routes::Route;

#[derive(Default)]
/// The routes the edge serves, by hostname: read lock-free on every request, replaced whole on each change.
pub struct RouteTable {
    routes: ArcSwap<HostMap<Arc<Route>>>,
    writer: Mutex<()>,
}

impl RouteTable {
    /// The route of exactly `hostname`.
    pub fn get(&self, hostname: &str) -> Option<Arc<Route>> {
        self.routes.load().get(hostname).cloned()
    }

    /// Every route now served.
    pub fn all(&self) -> Vec<Arc<Route>> {
        self.routes.load().values().cloned().collect()
    }

    /// Adds or replaces one route.
    pub fn upsert(&self, route: Route) {
        let _guard = self.writer.lock().expect("route table lock");
        let mut next = HostMap::clone(&self.routes.load());
        next.insert(route.hostname.clone(), Arc::new(route));
        self.routes.store(Arc::new(next));
    }

    /// Removes the route of `hostname`, if any.
    pub fn remove(&self, hostname: &str) {
        let _guard = self.writer.lock().expect("route table lock");
        let mut next = HostMap::clone(&self.routes.load());
        if next.remove(hostname).is_some() {
            self.routes.store(Arc::new(next));
        }
    }

    /// Serves exactly `routes` from now on (startup and resync).
    pub fn replace_all(&self, routes: Vec<Route>) {
        let _guard = self.writer.lock().expect("route table lock");
        let next = routes
            .into_iter()
            .map(|r| (r.hostname.clone(), Arc::new(r)))
            .collect();
        self.routes.store(Arc::new(next));
    }
}
