//! Certificate selection by SNI for the HTTPS listener.
//!
//! The listener's configurations (`policy.rs`) serve every name: its resolver reads the [`CertCache`] snapshot, so a
//! renewed certificate is served on the next handshake, and all names share one session cache
//! and one ticketer (resumption works across the whole edge).

use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::cache::{CertCache, Servable};
use super::certified::ServedCert;
use super::default_cert::DefaultCert;
use crate::routes::host;
use crate::routes::table::RouteTable;
use crate::tokens::AdminOwner;

/// Picks the certificate for each handshake (`docs/edge.md`, "Choosing the certificate").
pub struct SniResolver {
    /// Certificates by name.
    pub cache: Arc<CertCache>,
    /// Routes by hostname (a route may name its certificate).
    pub routes: Arc<RouteTable>,
    /// The self-signed certificate served when nothing else matches.
    pub default: Arc<DefaultCert>,
    /// Whose certificates may serve any routed host (besides the route owner's own).
    pub admin: Arc<AdminOwner>,
}

impl std::fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SniResolver")
            .field("cached", &self.cache.len())
            .finish()
    }
}

impl SniResolver {
    /// The route's certificate for `host` if its route names a cached one; else exact, then
    /// wildcard — of a routed host, only a certificate of the route's owner or of the admin.
    /// `None`: the default certificate is served.
    pub fn pick(&self, host: Option<&str>) -> Option<Arc<ServedCert>> {
        let route = host.and_then(|h| self.routes.get(h));
        let route_cert = route.as_ref().and_then(|r| r.cert_name.as_deref());
        let servable = self.servable(route.as_deref());
        self.cache.select(host, route_cert, &servable)
    }

    /// Loads what a handshake for `host` needs from Redis, if it is not cached (async miss path).
    pub async fn prepare(&self, host: &str) {
        let route = self.routes.get(host);
        let route_cert = route.as_ref().and_then(|r| r.cert_name.as_deref());
        let servable = self.servable(route.as_deref());
        self.cache.ensure(host, route_cert, &servable).await;
    }

    /// Whose certificates may serve a host with `route`: on a routed host, the route owner's
    /// and the admin's only, so a tenant's wildcard never answers for another tenant's hosts;
    /// on a host without a route, any (claims keep another owner's names out from under a
    /// wildcard).
    fn servable<'a>(&'a self, route: Option<&'a crate::routes::Route>) -> Servable<'a> {
        match route {
            Some(route) => Servable::OwnedBy {
                owner: &route.owner_token_hash,
                admin: self.admin.get(),
            },
            None => Servable::Any,
        }
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let host = hello.server_name().and_then(host::normalize);
        Some(
            self.pick(host.as_deref())
                .map(|c| c.key.clone())
                .unwrap_or_else(|| self.default.key()),
        )
    }
}

/// Resolves as if every ClientHello named `host`: for handshakes without SNI, where `host` is the
/// address the client connected to.
#[derive(Debug)]
pub struct AsHost {
    /// The resolver that picks.
    pub resolver: Arc<SniResolver>,
    /// The address, served as if it were the SNI name.
    pub host: String,
}

impl ResolvesServerCert for AsHost {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.resolver
                .pick(Some(&self.host))
                .map(|c| c.key.clone())
                .unwrap_or_else(|| self.resolver.default.key()),
        )
    }
}
