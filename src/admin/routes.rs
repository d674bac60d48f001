//! `/proxies/…`: routes from hostnames to upstreams (`docs/api.md`, "Routes").

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use super::auth::Caller;
use super::body::ApiJson;
use super::certificates::hostname_claimed;
use super::error::ApiError;
use super::pages::Page;
use super::AdminState;
use crate::lifecycle::RouteCreated;
use std::sync::Arc;

use crate::routes::client_auth::{self, ClientAuth};
use crate::routes::encode::Encoding;
use crate::routes::ip_rules::{IpRules, IpRulesBody};
use crate::routes::model::{HeaderRules, HealthCheck, Hsts, Policy, UpstreamTarget};
use crate::routes::rate_limit::RateLimit;
use crate::routes::validate_upstreams::{self, UpstreamEntry};
use crate::routes::{json_object, validate, Route};
use crate::timefmt;

/// The body of `POST /proxies/` and `PUT /proxies/{hostname}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteBody {
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    upstream: Option<String>,
    #[serde(default)]
    upstreams: Option<Vec<UpstreamEntry>>,
    #[serde(default)]
    policy: Policy,
    #[serde(default, deserialize_with = "json_object::optional")]
    health_check: Option<HealthCheck>,
    #[serde(default)]
    upstream_ca_pem: Option<String>,
    #[serde(default)]
    upstream_sni: Option<String>,
    #[serde(default)]
    insecure_skip_verify: bool,
    #[serde(default)]
    cert_name: Option<String>,
    #[serde(default = "yes")]
    https_redirect: bool,
    #[serde(default = "yes")]
    preserve_host: bool,
    #[serde(default, deserialize_with = "json_object::optional")]
    hsts: Option<Hsts>,
    #[serde(default)]
    min_tls_version: Option<crate::config::tls::TlsVersion>,
    #[serde(default, deserialize_with = "json_object::optional")]
    client_auth: Option<ClientAuth>,
    #[serde(default, deserialize_with = "json_object::optional")]
    ip_rules: Option<IpRulesBody>,
    #[serde(default)]
    encode: Option<Vec<Encoding>>,
    #[serde(default, deserialize_with = "json_object::optional")]
    rate_limit: Option<RateLimit>,
    #[serde(default, deserialize_with = "json_object::optional")]
    request_headers: Option<HeaderRules>,
    #[serde(default, deserialize_with = "json_object::optional")]
    response_headers: Option<HeaderRules>,
}

/// What a route body says once checked.
struct Checked {
    upstreams: Vec<UpstreamTarget>,
    ip_rules: Option<IpRules>,
    upstream_sni: Option<String>,
    hsts: Option<Hsts>,
    request_headers: HeaderRules,
    response_headers: HeaderRules,
}

fn yes() -> bool {
    true
}

/// A route as `caller` may see it (the owner hash for its owner and the admin only).
fn view(route: &Route, caller: &Caller) -> Value {
    let mut value = serde_json::to_value(route).unwrap_or(Value::Null);
    if !caller.owns(&route.owner_token_hash) {
        if let Some(map) = value.as_object_mut() {
            map.remove("owner_token_hash");
        }
    }
    value
}

/// Checks everything but the hostname's claim.
async fn check(state: &AdminState, caller: &Caller, body: &RouteBody) -> Result<Checked, ApiError> {
    let targets = validate_upstreams::targets(body.upstream.as_deref(), body.upstreams.as_deref())?;
    if !caller.is_admin {
        for (upstream, _) in &targets {
            validate::allowed_for_non_admin(upstream, &state.config)
                .await
                .map_err(|e| ApiError::Forbidden(e.detail))?;
        }
        if body.insecure_skip_verify {
            return Err(ApiError::Forbidden(
                "only the admin token may set insecure_skip_verify".to_owned(),
            ));
        }
    }
    if let Some(pem) = &body.upstream_ca_pem {
        validate_upstreams::upstream_ca_pem(pem)?;
    }
    let upstream_sni = match &body.upstream_sni {
        Some(name) => Some(validate_upstreams::upstream_sni(name)?),
        None => None,
    };
    if let Some(check) = &body.health_check {
        validate_upstreams::health_check(check)?;
    }
    if let Some(cert_name) = &body.cert_name {
        let Some(cert) = state.store.certs().get(cert_name).await? else {
            return Err(ApiError::unavailable(
                "cert_name",
                format!("no certificate named {cert_name:?}"),
            ));
        };
        if !caller.owns(&cert.owner_token_hash) {
            return Err(ApiError::Forbidden(format!(
                "certificate {cert_name:?} belongs to another token"
            )));
        }
    }
    if let Some(hsts) = &body.hsts {
        validate::hsts(hsts)?;
    }
    if let Some(auth) = &body.client_auth {
        client_auth::check(auth)?;
        let provider = Arc::new(crate::tls::policy::provider(&state.config.tls));
        crate::tls::client_auth::verifier(auth, provider, Vec::new())?;
    }
    let rules = |field: &str, given: &Option<HeaderRules>| match given {
        Some(rules) => validate::header_rules(field, rules),
        None => Ok(HeaderRules::default()),
    };
    if let Some(list) = &body.encode {
        crate::routes::encode::check(list)?;
    }
    if let Some(limit) = &body.rate_limit {
        limit.check()?;
    }
    let ip_rules = match &body.ip_rules {
        Some(rules) => Some(IpRules::from_body(rules)?),
        None => None,
    };
    Ok(Checked {
        upstreams: validate_upstreams::stored(&targets),
        ip_rules,
        upstream_sni,
        hsts: body.hsts.clone(),
        request_headers: rules("request_headers", &body.request_headers)?,
        response_headers: rules("response_headers", &body.response_headers)?,
    })
}

/// `POST /proxies/` → `201 {route}`; `409` if the hostname has a route.
pub async fn create(
    State(state): State<AdminState>,
    caller: Caller,
    ApiJson(body): ApiJson<RouteBody>,
) -> Result<impl IntoResponse, ApiError> {
    let raw = body
        .hostname
        .as_deref()
        .ok_or_else(|| ApiError::invalid("hostname", "missing field `hostname`"))?;
    let hostname = validate::hostname(raw)?;
    let checked = check(&state, &caller, &body).await?;
    if state.store.routes().get(&hostname).await?.is_some() {
        return Err(route_exists(&hostname));
    }
    let now = timefmt::now_string();
    let route = Route {
        hostname: hostname.clone(),
        owner_token_hash: caller.token_hash.clone(),
        created_at: now.clone(),
        updated_at: now,
        ..from_body(&body, checked, &caller)
    };
    match state
        .lifecycle
        .create_route(&route, caller.is_admin)
        .await?
    {
        RouteCreated::Created => {}
        RouteCreated::Exists => return Err(route_exists(&hostname)),
        RouteCreated::HostnameClaimed(host) => return Err(hostname_claimed(&host)),
    }
    Ok((StatusCode::CREATED, Json(view(&route, &caller))))
}

/// The route a checked body describes, without its identity (hostname, owner, times).
fn from_body(body: &RouteBody, checked: Checked, caller: &Caller) -> Route {
    Route {
        upstream: checked.upstreams[0].url.clone(),
        upstreams: checked.upstreams,
        policy: body.policy,
        health_check: body.health_check.clone(),
        upstream_ca_pem: body.upstream_ca_pem.clone(),
        upstream_sni: checked.upstream_sni,
        insecure_skip_verify: body.insecure_skip_verify,
        cert_name: body.cert_name.clone(),
        https_redirect: body.https_redirect,
        preserve_host: body.preserve_host,
        hsts: checked.hsts,
        min_tls_version: body.min_tls_version,
        client_auth: body.client_auth.clone(),
        ip_rules: checked.ip_rules,
        encode: body.encode.clone().unwrap_or_default(),
        rate_limit: body.rate_limit.clone(),
        restricted_upstream: !caller.is_admin,
        request_headers: checked.request_headers,
        response_headers: checked.response_headers,
        ..Route::default()
    }
}

fn route_exists(hostname: &str) -> ApiError {
    ApiError::Conflict {
        detail: format!("{hostname} has a route; change it with PUT /proxies/{hostname}"),
        routes: None,
    }
}

/// The normalised hostname from the path and its route, or `404`.
async fn route_for(state: &AdminState, hostname: &str) -> Result<(String, Route), ApiError> {
    let host = hostname.to_ascii_lowercase();
    match state.store.routes().get(&host).await? {
        Some(route) => Ok((host, route)),
        None => Err(ApiError::NotFound(format!("no route for {host:?}"))),
    }
}

/// `GET /proxies/`.
pub async fn list(
    State(state): State<AdminState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<axum::response::Response, ApiError> {
    let page = Page::from_query(&query)?;
    let found = state
        .store
        .routes()
        .page(page.after.as_deref(), page.limit)
        .await?;
    let views: Vec<Value> = found.items.iter().map(|r| view(r, &caller)).collect();
    Ok(page.answer("/proxies/", views, found.next_after))
}

/// `GET /proxies/{hostname}`.
pub async fn show(
    State(state): State<AdminState>,
    caller: Caller,
    Path(hostname): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (_, route) = route_for(&state, &hostname).await?;
    let mut shown = view(&route, &caller);
    shown["upstream_health"] =
        serde_json::to_value(state.upstreams.health(&route)).unwrap_or(Value::Null);
    Ok(Json(shown))
}

/// `PUT /proxies/{hostname}`: replaces the route (owner or admin); `404` if there is none.
pub async fn replace(
    State(state): State<AdminState>,
    caller: Caller,
    Path(hostname): Path<String>,
    ApiJson(body): ApiJson<RouteBody>,
) -> Result<Json<Value>, ApiError> {
    let (host, existing) = route_for(&state, &hostname).await?;
    caller.require_owner(&existing.owner_token_hash, "this route")?;
    if let Some(named) = &body.hostname {
        if validate::hostname(named)? != host {
            return Err(ApiError::invalid(
                "hostname",
                "must equal the hostname in the path (routes cannot be renamed)",
            ));
        }
    }
    let checked = check(&state, &caller, &body).await?;
    let route = Route {
        hostname: existing.hostname,
        owner_token_hash: existing.owner_token_hash,
        created_at: existing.created_at,
        updated_at: timefmt::now_string(),
        ..from_body(&body, checked, &caller)
    };
    state.lifecycle.replace_route(&route).await?;
    Ok(Json(view(&route, &caller)))
}

/// `DELETE /proxies/{hostname}` → `204` (owner or admin).
pub async fn remove(
    State(state): State<AdminState>,
    caller: Caller,
    Path(hostname): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (host, existing) = route_for(&state, &hostname).await?;
    caller.require_owner(&existing.owner_token_hash, "this route")?;
    state.lifecycle.delete_route(&host).await?;
    Ok(StatusCode::NO_CONTENT)
}
