//! `/tokens/`: API tokens for teams and automation (admin only).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::auth::Caller;
use super::body::ApiJson;
use super::error::ApiError;
use super::AdminState;
use crate::certs::validate;
use crate::store::tokens::TokenInfo;
use crate::timefmt;
use crate::tokens::{generate_token, token_hash};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
/// The body of `POST /tokens/`.
pub struct CreateToken {
    name: String,
}

/// `POST /tokens/` → `201 {"name","token"}`; the token is shown only here.
pub async fn create(
    State(state): State<AdminState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateToken>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_admin()?;
    validate::identifier("name", &body.name)?;
    let token = generate_token();
    let info = TokenInfo {
        name: body.name.clone(),
        token_hash: token_hash(&token),
        created_at: timefmt::now_string(),
    };
    if !state.lifecycle.create_token(&info).await? {
        return Err(ApiError::Conflict {
            detail: format!("a token named {:?} exists", body.name),
            routes: None,
        });
    }
    Ok((
        StatusCode::CREATED,
        Json(json!({ "name": body.name, "token": token })),
    ))
}

/// `GET /tokens/`: names, hashes and creation times; never the tokens.
pub async fn list(
    State(state): State<AdminState>,
    caller: Caller,
) -> Result<Json<Vec<TokenInfo>>, ApiError> {
    caller.require_admin()?;
    Ok(Json(state.store.tokens().list().await?))
}

/// `DELETE /tokens/{name}` → `204`.
pub async fn remove(
    State(state): State<AdminState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    if state.lifecycle.delete_token(&name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("no token named {name:?}")))
    }
}

/// `GET /whoami`: who the presented token is (the dashboard asks, to show what it may do).
pub async fn whoami(
    State(state): State<AdminState>,
    caller: Caller,
) -> Result<Json<serde_json::Value>, ApiError> {
    let name = if caller.is_admin {
        "admin".to_owned()
    } else {
        state
            .store
            .tokens()
            .list()
            .await?
            .into_iter()
            .find(|t| t.token_hash == caller.token_hash)
            .map_or_else(String::new, |t| t.name)
    };
    Ok(Json(serde_json::json!({
        "admin": caller.is_admin,
        "name": name,
        "token_hash": caller.token_hash,
    })))
}
