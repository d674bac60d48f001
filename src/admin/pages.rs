//! Paginated lists (`GET /certificates/`, `GET /proxies/`): `limit` and an opaque `cursor` in,
//! one page and a `Link: <…>; rel="next"` header out (`docs/api.md`).

use std::collections::HashMap;

use axum::response::IntoResponse;
use axum::Json;
use base64::Engine;

use super::error::ApiError;

/// Longest cursor taken (a name of 253 bytes encodes to 338 characters).
const MAX_CURSOR: usize = 400;

/// Cursors: base64url without padding; decoding takes any such text (trailing bits too).
const CURSOR: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    base64::engine::GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone),
);

/// `limit` (default 1,000, at most 10,000) and `cursor` (opaque: the previous page's last name)
/// of a list request.
pub struct Page {
    /// Most items in the answer.
    pub limit: usize,
    /// The name the previous page ended with (decoded from `cursor`).
    pub after: Option<String>,
}

impl Page {
    /// Items per page when the request names no `limit`.
    pub const DEFAULT_LIMIT: usize = 1_000;
    /// The largest `limit` accepted.
    pub const MAX_LIMIT: usize = 10_000;

    /// Reads `limit` and `cursor`; a 400 naming the parameter when either is bad.
    pub fn from_query(query: &HashMap<String, String>) -> Result<Page, ApiError> {
        let limit = match query.get("limit") {
            None => Self::DEFAULT_LIMIT,
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=Self::MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    ApiError::invalid(
                        "limit",
                        format!("must be a whole number from 1 to {}", Self::MAX_LIMIT),
                    )
                })?,
        };
        // Any cursor of the documented form is a position: the names after the text it
        // encodes (lexical order), so a hand-made one pages from there rather than failing.
        let after = match query.get("cursor") {
            None => None,
            Some(text) => {
                let decoded = (text.len() <= MAX_CURSOR).then(|| CURSOR.decode(text));
                let bytes = decoded.and_then(Result::ok).ok_or_else(|| {
                    ApiError::invalid(
                        "cursor",
                        "not a cursor (base64url, as the Link header gives it)",
                    )
                })?;
                Some(String::from_utf8_lossy(&bytes).into_owned()).filter(|a| !a.is_empty())
            }
        };
        Ok(Page { limit, after })
    }

    /// The `cursor` that continues after `last`.
    pub fn cursor_for(last: &str) -> String {
        CURSOR.encode(last)
    }

    /// The page as a JSON array, with `Link: <path?limit=…&cursor=…>; rel="next"` when more
    /// follow.
    pub fn answer<T: serde::Serialize>(
        &self,
        path: &str,
        items: Vec<T>,
        next_after: Option<String>,
    ) -> axum::response::Response {
        let mut response = Json(items).into_response();
        if let Some(last) = next_after {
            // A path may carry the list's filter (`/certificates/?status=failed`).
            let sep = if path.contains('?') { '&' } else { '?' };
            let link = format!(
                "<{path}{sep}limit={}&cursor={}>; rel=\"next\"",
                self.limit,
                Page::cursor_for(&last)
            );
            if let Ok(value) = axum::http::HeaderValue::from_str(&link) {
                response
                    .headers_mut()
                    .insert(axum::http::header::LINK, value);
            }
        }
        response
    }
}
