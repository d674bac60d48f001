//! Bearer-token authentication (`docs/api.md`, "Authentication and ownership").
//!
//! A presented token is hashed (SHA-256) and compared: against the admin hash in constant time,
//! else looked up among the stored token hashes. Tokens themselves are never stored or logged.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::AdminState;
use crate::tokens::token_hash;

/// Who is calling.
#[derive(Clone, Debug)]
pub struct Caller {
    /// `sha256:<hex>` of the presented token: the owner identity of what it creates.
    pub token_hash: String,
    /// The admin token (every right).
    pub is_admin: bool,
}

impl Caller {
    /// Whether this caller may change or read the secrets of something owned by `owner_hash`.
    pub fn owns(&self, owner_hash: &str) -> bool {
        self.is_admin || bool::from(self.token_hash.as_bytes().ct_eq(owner_hash.as_bytes()))
    }

    /// Fails with `403` unless [`Caller::owns`].
    pub fn require_owner(&self, owner_hash: &str, what: &str) -> Result<(), ApiError> {
        if self.owns(owner_hash) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "only the owner of {what} or the admin may do this"
            )))
        }
    }

    /// A 403 unless this is the admin token.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin {
            Ok(())
        } else {
            Err(ApiError::Forbidden("this needs the admin token".into()))
        }
    }
}

impl FromRequestParts<AdminState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AdminState) -> Result<Self, ApiError> {
        // Every authenticated endpoint needs Redis: while it is known to be down, answer 503
        // now rather than after the command timeout.
        if state.store.is_down() {
            return Err(ApiError::StorageUnavailable);
        }
        let mut values = parts.headers.get_all(AUTHORIZATION).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return Err(ApiError::Unauthorized);
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        let hash = token_hash(token);
        let admin_hash = state.admin_hash().await?;
        if bool::from(hash.as_bytes().ct_eq(admin_hash.as_bytes())) {
            return Ok(Caller {
                token_hash: hash,
                is_admin: true,
            });
        }
        match state.store.tokens().name_by_hash(&hash).await? {
            Some(_) => Ok(Caller {
                token_hash: hash,
                is_admin: false,
            }),
            None => Err(ApiError::Unauthorized),
        }
    }
}
