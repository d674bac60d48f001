//! Route writes: create (with its hostname claim), replace, delete.

use super::claims::Claimed;
use super::Lifecycle;
use crate::events::Change;
use crate::routes::Route;
use crate::store::claims::{ClaimRef, Conflict};
use crate::store::StoreResult;

/// What a create request produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteCreated {
    /// Stored and announced.
    Created,
    /// The hostname has a route.
    Exists,
    /// The hostname belongs to another token (nothing was written).
    HostnameClaimed(Conflict),
}

impl Lifecycle {
    /// Claims the hostname for the route's owner, writes the route and announces it; the claim
    /// is released again when the route cannot be written.
    pub async fn create_route(
        &self,
        route: &Route,
        caller_is_admin: bool,
    ) -> StoreResult<RouteCreated> {
        let claimed = self
            .create_claimed(
                std::slice::from_ref(&route.hostname),
                &route.owner_token_hash,
                ClaimRef::Route(&route.hostname),
                caller_is_admin,
                self.inner.store.create_route(route),
            )
            .await?;
        match claimed {
            Claimed::Written => {}
            Claimed::NotWritten => return Ok(RouteCreated::Exists),
            Claimed::OwnedByAnother(host) => return Ok(RouteCreated::HostnameClaimed(host)),
        }
        self.announce(Change::Route(route.hostname.clone())).await;
        self.note("route", &route.hostname, "created").await;
        tracing::info!(hostname = %route.hostname, upstream = %route.upstream, "route created");
        Ok(RouteCreated::Created)
    }

    /// Replaces an existing route (same hostname, same owner) and announces it.
    pub async fn replace_route(&self, route: &Route) -> StoreResult<()> {
        self.inner.store.put_route(route).await?;
        self.announce(Change::Route(route.hostname.clone())).await;
        self.note("route", &route.hostname, "changed").await;
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
        self.note("route", hostname, "deleted").await;
        tracing::info!(hostname, "route deleted");
        Ok(())
    }
}
