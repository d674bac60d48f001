//! Route writes: create (with its hostname claim), replace, delete.

use super::Lifecycle;
use crate::events::Change;
use crate::routes::Route;
use crate::store::claims::ClaimRef;
use crate::store::StoreResult;

/// What a create request produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteCreated {
    Created,
    /// The hostname has a route.
    Exists,
    /// The hostname belongs to another token (nothing was written).
    HostnameClaimed(String),
}

impl Lifecycle {
    /// Claims the hostname for the route's owner, writes the route and announces it; the claim
    /// is released again when the route cannot be written.
    pub async fn create_route(
        &self,
        route: &Route,
        caller_is_admin: bool,
    ) -> StoreResult<RouteCreated> {
        let store = &self.inner.store;
        let claim = ClaimRef::Route(&route.hostname);
        let hosts = std::slice::from_ref(&route.hostname);
        if let Some(host) = store
            .claim_hostnames(hosts, &route.owner_token_hash, claim, caller_is_admin)
            .await?
        {
            return Ok(RouteCreated::HostnameClaimed(host));
        }
        match store.create_route(route).await {
            Ok(true) => {}
            Ok(false) => {
                store.release_hostnames(hosts, claim).await?;
                return Ok(RouteCreated::Exists);
            }
            Err(e) => {
                let _ = store.release_hostnames(hosts, claim).await;
                return Err(e);
            }
        }
        self.announce(Change::Route(route.hostname.clone())).await;
        tracing::info!(hostname = %route.hostname, upstream = %route.upstream, "route created");
        Ok(RouteCreated::Created)
    }

    /// Replaces an existing route (same hostname, same owner) and announces it.
    pub async fn replace_route(&self, route: &Route) -> StoreResult<()> {
        self.inner.store.put_route(route).await?;
        self.announce(Change::Route(route.hostname.clone())).await;
        tracing::info!(hostname = %route.hostname, upstream = %route.upstream, "route changed");
        Ok(())
    }

    /// Deletes the route, releases its hostname and announces it.
    pub async fn delete_route(&self, hostname: &str) -> StoreResult<()> {
        let store = &self.inner.store;
        store.delete_route(hostname).await?;
        let host = hostname.to_owned();
        store
            .release_hostnames(std::slice::from_ref(&host), ClaimRef::Route(&host))
            .await?;
        self.announce(Change::Route(host)).await;
        tracing::info!(hostname, "route deleted");
        Ok(())
    }
}
