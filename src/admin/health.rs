//! `GET /health` on the admin listener: the status word with the reasons of a degraded instance
//! (`docs/api.md`, "Health"); the state itself is [`crate::health::Health`].

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::AdminState;

/// `GET /health` on the admin listener, with details.
pub async fn health(State(state): State<AdminState>) -> Response {
    if let Some(word) = state.health.unavailable_reason() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": word })),
        )
            .into_response();
    }
    let mut reasons = Vec::new();
    if state.store.is_down() || !state.store.ping().await {
        reasons.push("redis_unreachable".to_owned());
    } else {
        reasons.extend(state.health.certificate_reasons());
    }
    reasons.extend(state.health.crl_reasons());
    reasons.extend(state.health.sealing_reasons());
    let body = if reasons.is_empty() {
        json!({ "status": "healthy" })
    } else {
        json!({ "status": "degraded", "reasons": reasons })
    };
    (StatusCode::OK, Json(body)).into_response()
}
