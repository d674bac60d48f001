//! The JSON body extractor: 413 over the size limit, 400 naming the field at fault.

use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::routes::json_object;

/// Largest accepted request body (`docs/api.md`, "Errors": 64 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A deserialised JSON body whose errors are [`ApiError`]s.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES)
            .await
            .map_err(|e| {
                let too_large = std::error::Error::source(&e)
                    .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
                    || e.to_string().contains("length limit");
                if too_large {
                    ApiError::TooLarge(MAX_BODY_BYTES)
                } else {
                    ApiError::Malformed(format!("could not read the body: {e}"))
                }
            })?;
        parse(&bytes).map(ApiJson)
    }
}

/// Parses JSON, turning serde's message into a field name where there is one. Every body is
/// an object ([`json_object`]: an array is refused, not taken field by field).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = match serde_path_to_error::deserialize::<_, json_object::Object<T>>(&mut de) {
        Ok(json_object::Object(v)) => v,
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            return Err(classify(&path, &inner));
        }
    };
    de.end()
        .map_err(|e| ApiError::Malformed(format!("trailing data after the JSON value: {e}")))?;
    Ok(value)
}

fn classify(path: &str, e: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    if !matches!(e.classify(), Category::Data) {
        return ApiError::Malformed(format!("the body is not valid JSON: {e}"));
    }
    let message = e.to_string();
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_owned();
    let named = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|p| message.strip_prefix(p))
        .and_then(|rest| rest.split('`').next())
        .map(str::to_owned);
    let field = match named {
        Some(name) if path == "." => name,
        Some(name) if path == name || path.ends_with(&format!(".{name}")) => path.to_owned(),
        Some(name) => format!("{path}.{name}"),
        None if path == "." => return ApiError::Malformed(message),
        None => path.to_owned(),
    };
    ApiError::Invalid {
        field,
        detail: message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        count: Option<u32>,
    }

    fn field_of(json: &str) -> Option<String> {
        match parse::<Body>(json.as_bytes()) {
            Err(ApiError::Invalid { field, .. }) => Some(field),
            _ => None,
        }
    }

    #[test]
    fn names_the_field() {
        assert_eq!(
            field_of(r#"{"name":"a","extra":1}"#).as_deref(),
            Some("extra")
        );
        assert_eq!(field_of(r#"{"count":1}"#).as_deref(), Some("name"));
        assert_eq!(field_of(r#"{"name":5}"#).as_deref(), Some("name"));
        assert!(matches!(
            parse::<Body>(b"{nope"),
            Err(ApiError::Malformed(_))
        ));
        assert!(matches!(
            parse::<Body>(b"{\"name\":\"a\"} x"),
            Err(ApiError::Malformed(_))
        ));
    }
}
