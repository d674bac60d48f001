//! `POST /keys/rotate` (admin): one batch of the re-wrap of every stored private key under the
//! current `KEY_ENCRYPTION_KEYS` key (`certgate keys rotate` calls it until it is done).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::Json;
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::ApiError;
use super::AdminState;

/// Certificates per batch when the caller does not say.
const BATCH: usize = 200;

/// A whole-number query parameter in `0..=most` (`default` when absent); `400` naming it.
fn number(
    query: &HashMap<String, String>,
    name: &str,
    default: usize,
    most: usize,
) -> Result<usize, ApiError> {
    match query.get(name) {
        None => Ok(default),
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= most)
            .ok_or_else(|| ApiError::invalid(name, format!("a whole number up to {most}"))),
    }
}

/// `POST /keys/rotate?cursor=NAME&batch=M` → `{rewrapped, current, unreadable, raced,
/// next_cursor}` (`next_cursor`: the certificate name the next batch starts after, null when
/// done); `409` when no key file is configured.
pub async fn rotate(
    State(state): State<AdminState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    caller.require_admin()?;
    let after = query
        .get("cursor")
        .map(String::as_str)
        .filter(|c| !c.is_empty());
    let batch = number(&query, "batch", BATCH, 10_000)?.max(1);
    let Some(sealer) = &state.config.redis.sealer else {
        return Err(ApiError::Conflict {
            detail: "KEY_ENCRYPTION_KEYS is not set: keys are stored unencrypted".to_owned(),
            routes: None,
        });
    };
    let (done, next) = state.lifecycle.rewrap_keys(after, batch).await?;
    Ok(Json(json!({
        "current_key": sealer.current_id(),
        "rewrapped": done.rewrapped,
        "current": done.current,
        "unreadable": done.unreadable,
        "raced": done.raced,
        "next_cursor": next,
    })))
}
