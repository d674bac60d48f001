//! `/on-demand/allow/…` (admin): the patterns whose names may get a certificate at their first
//! handshake (`docs/on-demand.md`). Stored in Redis, so every instance follows the same list
//! (each reads it again within 2 s).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::ApiError;
use super::AdminState;
use crate::on_demand;

/// `GET /on-demand/allow/`: every pattern, and whether on-demand issuance is on.
pub async fn list(
    State(state): State<AdminState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.require_admin()?;
    let patterns = state.store.on_demand().patterns().await?;
    Ok(Json(json!({
        "enabled": state.config.on_demand.is_some(),
        "patterns": patterns,
    })))
}

/// `GET /on-demand/allow/{pattern}` → `200` when listed, else `404`.
pub async fn show(
    State(state): State<AdminState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require_admin()?;
    let pattern = on_demand::pattern(&raw)?;
    if state.store.on_demand().patterns().await?.contains(&pattern) {
        Ok(Json(json!({ "pattern": pattern })))
    } else {
        Err(ApiError::NotFound(format!(
            "{pattern:?} is not an allow pattern"
        )))
    }
}

/// `PUT /on-demand/allow/{pattern}` → `201` when added, `200` when it was there already.
pub async fn put(
    State(state): State<AdminState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require_admin()?;
    let pattern = on_demand::pattern(&raw)?;
    let added = state.lifecycle.allow_on_demand(&pattern).await?;
    let status = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({ "pattern": pattern }))))
}

/// `DELETE /on-demand/allow/{pattern}` → `204`, `404` when it was not listed. Certificates
/// already issued for matching names stay (delete them like any other).
pub async fn remove(
    State(state): State<AdminState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    let pattern = on_demand::pattern(&raw)?;
    if state.lifecycle.disallow_on_demand(&pattern).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!(
            "{pattern:?} is not an allow pattern"
        )))
    }
}
