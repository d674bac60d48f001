//! The admin API (axum) on `ADMIN_ADDR`: certificates, routes, tokens, health (`docs/api.md`).
//!
//! Handlers authenticate, validate and read; every write goes through [`Lifecycle`].

pub mod acme;
pub mod auth;
pub mod body;
pub mod certificate_lists;
pub mod certificates;
pub mod cluster;
pub mod dns_records;
pub mod endpoints;
pub mod error;
pub mod health;
pub mod keys;
pub mod listener;
pub mod metrics;
pub mod on_demand;
pub mod openapi;
pub mod pages;
pub mod routes;
pub mod tokens;
pub mod ui;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::Router;

use crate::acme::profiles::ProfileCatalog;
use crate::config::Config;
use crate::edge::upstreams::Upstreams;
use crate::health::Health;
use crate::lifecycle::Lifecycle;
use crate::metrics::certificates::CertificateSeries;
use crate::store::Store;
use crate::tokens::AdminOwner;
use error::ApiError;

/// What the handlers share; a cheap `Clone`.
#[derive(Clone)]
pub struct AdminState {
    /// For reads; every write goes through `lifecycle`.
    pub store: Store,
    /// The one writer: every change the API makes goes through it.
    pub lifecycle: Lifecycle,
    /// The settings.
    pub config: Arc<Config>,
    /// Readiness and draining, for `/health`.
    pub health: Health,
    /// The profiles CAs offer (read from their directories, cached).
    pub profiles: Arc<ProfileCatalog>,
    /// The edge's upstreams, for their health in `GET /proxies/{hostname}` and `/metrics`.
    pub upstreams: Arc<Upstreams>,
    /// The per-certificate figures `/metrics` exports, kept by the edge tables.
    pub certificate_series: Arc<CertificateSeries>,
    /// `sha256:<hex>` of the admin token: from `ADMIN_TOKEN`, or read once from Redis (shared
    /// with the edge, which lets the admin's certificates serve any host).
    admin_owner: Arc<AdminOwner>,
}

impl AdminState {
    /// The state every admin handler gets.
    pub fn new(
        lifecycle: Lifecycle,
        config: Arc<Config>,
        health: Health,
        profiles: Arc<ProfileCatalog>,
        upstreams: Arc<Upstreams>,
        admin_owner: Arc<AdminOwner>,
        certificate_series: Arc<CertificateSeries>,
    ) -> Self {
        AdminState {
            store: lifecycle.store().clone(),
            lifecycle,
            config,
            health,
            profiles,
            upstreams,
            certificate_series,
            admin_owner,
        }
    }

    /// The admin token's hash; `503` until Redis has been reachable once (when generated).
    pub async fn admin_hash(&self) -> Result<String, ApiError> {
        if let Some(hash) = self.admin_owner.get() {
            return Ok(hash.to_owned());
        }
        match self.store.tokens().admin_hash().await? {
            Some(hash) => {
                self.admin_owner.learn(hash.clone());
                Ok(hash)
            }
            None => Err(ApiError::StorageUnavailable),
        }
    }
}

/// The admin router, built from [`endpoints::all`].
pub fn router(state: AdminState) -> Router {
    let mut by_path: Vec<(&str, MethodRouter<AdminState>)> = Vec::new();
    for e in endpoints::all() {
        let handler = (e.handler)(endpoints::method_filter(e.method));
        match by_path.iter_mut().find(|(p, _)| *p == e.path) {
            Some((_, methods)) => *methods = std::mem::take(methods).merge(handler),
            None => by_path.push((e.path, handler)),
        }
    }
    let mut router = Router::new();
    for (path, methods) in by_path {
        router = router.route(path, methods);
    }
    router
        .merge(ui::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// `GET /certificates` → `308 /certificates/` (the seed requires the slash).
pub(crate) async fn add_trailing_slash(uri: Uri) -> Response {
    let mut target = format!("{}/", uri.path());
    if let Some(query) = uri.query() {
        target.push('?');
        target.push_str(query);
    }
    (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, target)]).into_response()
}

async fn not_found(request: Request) -> ApiError {
    ApiError::NotFound(format!("no such endpoint: {}", request.uri().path()))
}

async fn method_not_allowed(request: Request) -> Response {
    let body = serde_json::json!({
        "error": "method_not_allowed",
        "detail": format!("{} is not allowed on {}", request.method(), request.uri().path()),
    });
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}
