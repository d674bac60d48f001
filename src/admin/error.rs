//! API errors and their JSON shape: `{"error":"<code>","field":"<name>","detail":"<sentence>"}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::certs::validate::FieldError;
use crate::store::StoreError;

/// Everything a handler can answer besides success.
#[derive(Debug)]
pub enum ApiError {
    /// 400: a field's value was refused.
    Invalid {
        /// The field refused (JSON path or query parameter).
        field: String,
        /// Why, in words.
        detail: String,
    },
    /// 400: the body is not JSON (or not the expected shape, with no single field at fault).
    Malformed(String),
    /// 401: no token, or an unknown one.
    Unauthorized,
    /// 403: a valid token that may not do this.
    Forbidden(String),
    /// 404.
    NotFound(String),
    /// 409, optionally listing the routes in the way.
    Conflict {
        /// What conflicts.
        detail: String,
        /// The routes in the way, when routes are.
        routes: Option<Vec<String>>,
    },
    /// 409: a well-formed field that the current state refuses — it names something that does
    /// not exist (a certificate, a token), or what this instance or its CA does not offer now
    /// (a profile, dns-01 without a DNS server). `400` is for requests the API's schema refuses.
    Unavailable {
        /// The field whose value cannot be served now.
        field: String,
        /// Why, in words.
        detail: String,
    },
    /// 413: body over the limit.
    TooLarge(usize),
    /// 503: Redis unreachable.
    StorageUnavailable,
    /// 502: the CA's directory could not be read (to check a profile, to list profiles).
    CaUnavailable(String),
    /// 500: a bug or corrupt data; details go to the log, not the client.
    Internal(String),
}

impl ApiError {
    /// A 409 [`ApiError::Unavailable`] naming `field`.
    pub fn unavailable(field: &str, detail: impl Into<String>) -> Self {
        ApiError::Unavailable {
            field: field.into(),
            detail: detail.into(),
        }
    }

    /// A 400 [`ApiError::Invalid`] naming `field`.
    pub fn invalid(field: &str, detail: impl Into<String>) -> Self {
        ApiError::Invalid {
            field: field.into(),
            detail: detail.into(),
        }
    }

    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Invalid { .. } => (StatusCode::BAD_REQUEST, "invalid_request"),
            ApiError::Malformed(_) => (StatusCode::BAD_REQUEST, "malformed_json"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict { .. } => (StatusCode::CONFLICT, "conflict"),
            ApiError::Unavailable { .. } => (StatusCode::CONFLICT, "unavailable"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::StorageUnavailable => {
                (StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable")
            }
            ApiError::CaUnavailable(_) => (StatusCode::BAD_GATEWAY, "ca_unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::Invalid {
            field: e.field,
            detail: e.detail,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => ApiError::StorageUnavailable,
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        let mut body = json!({ "error": code });
        match &self {
            ApiError::Invalid { field, detail } | ApiError::Unavailable { field, detail } => {
                body["field"] = Value::from(field.as_str());
                body["detail"] = Value::from(detail.as_str());
            }
            ApiError::Malformed(detail)
            | ApiError::CaUnavailable(detail)
            | ApiError::Forbidden(detail)
            | ApiError::NotFound(detail) => {
                body["detail"] = Value::from(detail.as_str());
            }
            ApiError::Conflict { detail, routes } => {
                body["detail"] = Value::from(detail.as_str());
                if let Some(routes) = routes {
                    body["routes"] = json!(routes);
                }
            }
            ApiError::TooLarge(limit) => {
                body["detail"] = Value::from(format!("request body over {limit} bytes"));
            }
            ApiError::Unauthorized => {
                body["detail"] =
                    Value::from("a valid 'Authorization: Bearer <token>' header is required");
            }
            ApiError::StorageUnavailable => {
                body["detail"] = Value::from("Redis is unreachable; retry shortly");
            }
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error in admin API");
                body["detail"] = Value::from("internal error; see the server log");
            }
        }
        let mut response = (status, Json(body)).into_response();
        if matches!(self, ApiError::Unauthorized) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
