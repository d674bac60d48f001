//! The admin API's client, used by the CLI (and the tests): plain HTTP/1.1 over hyper.

pub mod commands;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// A response: status, headers and the body (JSON when it parses as JSON).
#[derive(Debug, Clone)]
pub struct ApiResponse {
    /// The HTTP status.
    pub status: StatusCode,
    /// The response headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl ApiResponse {
    /// The body as JSON (`null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// `"<code>: <detail>"` of an error answer, for a one-line message.
    pub fn error_line(&self) -> String {
        let json = self.json();
        let code = json["error"].as_str().unwrap_or("error");
        let mut line = format!("{} {code}", self.status.as_u16());
        if let Some(field) = json["field"].as_str() {
            line.push_str(&format!(" ({field})"));
        }
        if let Some(detail) = json["detail"].as_str() {
            line.push_str(&format!(": {detail}"));
        }
        line
    }
}

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid admin URL {0:?}")]
    /// The base URL or path does not make a URL.
    BadUrl(String),
    #[error("cannot reach the admin API at {url}: {source}")]
    /// Nothing answered at the URL.
    Unreachable {
        /// The URL tried.
        url: String,
        /// Why the request failed.
        source: hyper_util::client::legacy::Error,
    },
    #[error("error reading the answer: {0}")]
    /// The answer's body could not be read.
    Body(String),
}

/// A client bound to one admin URL and token.
#[derive(Clone)]
pub struct AdminClient {
    base: String,
    token: Option<String>,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl std::fmt::Debug for AdminClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminClient")
            .field("base", &self.base)
            .field("token", &"[redacted]")
            .finish()
    }
}

impl AdminClient {
    /// A client of the admin API at `base`, sending `token` as a bearer token when given.
    pub fn new(base: &str, token: Option<String>) -> Self {
        AdminClient {
            base: base.trim_end_matches('/').to_owned(),
            token,
            http: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Result<ApiResponse, ClientError> {
        self.send(Method::GET, path, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Result<ApiResponse, ClientError> {
        self.send(Method::POST, path, Some(body)).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Result<ApiResponse, ClientError> {
        self.send(Method::DELETE, path, None).await
    }

    /// A JSON request with the client's token.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<ApiResponse, ClientError> {
        let bytes = body.map(|b| Bytes::from(b.to_string()));
        self.send_raw(method, path, &[], bytes).await
    }

    /// A request with a raw body and extra headers (tests use it for malformed input).
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Bytes>,
    ) -> Result<ApiResponse, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut builder = Request::builder().method(method).uri(&url);
        if let Some(token) = &self.token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        if body.is_some() {
            builder = builder.header("content-type", "application/json");
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|_| ClientError::BadUrl(url.clone()))?;
        let response =
            self.http
                .request(request)
                .await
                .map_err(|source| ClientError::Unreachable {
                    url: self.base.clone(),
                    source,
                })?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| ClientError::Body(e.to_string()))?
            .to_bytes();
        Ok(ApiResponse {
            status,
            headers,
            body,
        })
    }
}
