//! Paginated lists (`GET /certificates/`, `GET /proxies/`): `limit` and an opaque `cursor` in,
//! one page and a `Link: <…>; rel="next"` header out (`docs/api.md`).

use std::collections::HashMap;

use axum::response::IntoResponse;
use axum::Json;

use super::error::ApiError;

/// `limit` (default 1,000, at most 10,000) and `cursor` (opaque: the previous page's last name)
/// of a list request.
pub struct Page {
    pub limit: usize,
    pub after: Option<String>,
}

impl Page {
    pub const DEFAULT_LIMIT: usize = 1_000;
    pub const MAX_LIMIT: usize = 10_000;

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
        let after = match query.get("cursor") {
            None => None,
            Some(text) => Some(
                base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, text)
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes).ok())
                    // Certificate names and hostnames: printable, no spaces.
                    .filter(|name| {
                        !name.is_empty()
                            && name.len() <= 253
                            && name.bytes().all(|b| b.is_ascii_graphic())
                    })
                    .ok_or_else(|| {
                        ApiError::invalid(
                            "cursor",
                            "not a cursor this API gave (take it from the Link header)",
                        )
                    })?,
            ),
        };
        Ok(Page { limit, after })
    }

    pub fn cursor_for(last: &str) -> String {
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, last)
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
