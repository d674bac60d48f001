//! `/acme/…`: what the CA offers (`docs/api.md`, "ACME").

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::Json;
use serde_json::{json, Value};

use super::auth::Caller;
use super::certificates::flag;
use super::error::ApiError;
use super::AdminState;
use crate::store::acme_accounts::AcmeAccountInfo;

/// `GET /acme/profiles[?staging=true]`: the profiles of the configured directory (any token).
pub async fn profiles(
    State(state): State<AdminState>,
    _caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let directory = if flag(&query, "staging")? {
        &state.config.acme.staging_url
    } else {
        &state.config.acme.directory_url
    };
    let profiles = state
        .profiles
        .profiles(directory)
        .await
        .map_err(ApiError::CaUnavailable)?;
    Ok(Json(json!({
        "directory": directory,
        "default": state.config.acme.profile,
        "profiles": profiles,
    })))
}

/// `GET /acme/accounts` (admin): directory, e-mail, account URL and creation time of every ACME
/// account certgate registered — what RFC 8657 CAA `accounturi` pins. Never a key.
pub async fn accounts(
    State(state): State<AdminState>,
    caller: Caller,
) -> Result<Json<Vec<AcmeAccountInfo>>, ApiError> {
    caller.require_admin()?;
    Ok(Json(state.store.acme().accounts().await?))
}
