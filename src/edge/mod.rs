//! The edge: the listeners that carry users' traffic, and the types they share.
//!
//! A connection is accepted ([`accept`]), served by hyper under the client deadlines
//! ([`conn`], [`activity`]); each request gets a [`context::RequestCtx`] that its handler
//! ([`plain::HttpEdge`] on `HTTP_ADDR`, [`proxy::Proxy`] on `HTTPS_ADDR`) fills in and that the
//! metrics and the access log read afterwards. The rules are in `docs/edge.md`.

pub mod accept;
pub mod access_log;
pub mod activity;
pub mod body_timeout;
pub mod cert_load;
pub mod conn;
pub mod context;
pub mod encode;
pub mod forwarded;
pub mod h3;
pub mod https;
pub mod listen;
pub mod plain;
pub mod proxy;
pub mod proxy_protocol;
pub mod quiet_io;
pub mod rate_limit;
pub mod release_hold;
pub mod request_id;
pub mod rewind;
pub mod shared_values;
pub mod signing_turns;
pub mod stream_start;
pub mod sync;
pub mod tls_alpn;
pub mod tunnel;
pub mod upgrade;
pub mod upstream_error;
pub mod upstreams;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};

use crate::tls::certified::ServedCert;

/// The body type of everything the edge answers.
pub type EdgeBody = BoxBody<Bytes, hyper::Error>;

/// An empty body of the edge's body type (or of an upstream request's). `Empty` has no
/// fields, so boxing it allocates nothing.
pub fn empty_body<E>() -> BoxBody<Bytes, E> {
    http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed()
}

/// What the handler knows of the connection a request came on.
#[derive(Clone, Debug)]
pub struct ConnInfo {
    /// The client's address (the TCP peer).
    pub peer: SocketAddr,
    /// `peer`'s address as `X-Forwarded-For` carries it: formatted once per connection, not
    /// per request.
    pub peer_value: ::http::HeaderValue,
    /// The peer is one of `TRUSTED_PROXIES`: its `X-Forwarded-*` are kept.
    pub trusted: bool,
    /// Arrived over TLS.
    pub https: bool,
    /// The TLS SNI name, normalised (HTTPS only).
    pub sni: Option<String>,
    /// The certificate served on this connection (`None`: the default one).
    pub served: Option<Arc<ServedCert>>,
    /// The TLS version the connection negotiated (HTTPS only), held against each request's
    /// route's `min_tls_version`.
    pub tls_version: Option<crate::config::tls::TlsVersion>,
    /// For a handshake held to a route's `client_auth`: that route and the verified
    /// certificate. Each request's route must carry the same `client_auth` (else `421`).
    pub client: Option<Arc<ClientIdentity>>,
}

/// What a client-certificate handshake established.
#[derive(Debug)]
pub struct ClientIdentity {
    /// The route whose `client_auth` the handshake was held to.
    pub route: Arc<crate::routes::Route>,
    /// The verified chain the client sent, leaf first (empty: `request` mode and none sent).
    pub chain: Vec<rustls::pki_types::CertificateDer<'static>>,
}

impl ClientIdentity {
    /// The identity a finished handshake for `route` established.
    pub fn of(route: Arc<crate::routes::Route>, session: &rustls::ServerConnection) -> Arc<Self> {
        let chain = session
            .peer_certificates()
            .map(|certs| certs.iter().map(|c| c.clone().into_owned()).collect())
            .unwrap_or_default();
        Arc::new(ClientIdentity { route, chain })
    }

    /// Whether a request for `route` may use this connection: the same `client_auth`.
    pub fn admits(&self, route: &Arc<crate::routes::Route>) -> bool {
        Arc::ptr_eq(&self.route, route) || self.route.client_auth == route.client_auth
    }
}

impl ConnInfo {
    /// What the edge knows of a connection accepted from `peer`.
    pub fn new(
        peer: SocketAddr,
        https: bool,
        sni: Option<String>,
        served: Option<Arc<ServedCert>>,
        trusted_proxies: &[ipnet::IpNet],
    ) -> ConnInfo {
        let peer_value = ::http::HeaderValue::try_from(peer.ip().to_string())
            .expect("an IP address is a valid header value");
        ConnInfo {
            peer,
            peer_value,
            trusted: forwarded::is_trusted(peer.ip(), trusted_proxies),
            https,
            sni,
            served,
            tls_version: None,
            client: None,
        }
    }
}

/// A local answer with a short text body.
pub fn text(status: ::http::StatusCode, body: &'static str) -> ::http::Response<EdgeBody> {
    text_owned(status, Bytes::from_static(body.as_bytes()))
}

/// [`text`] with a body made at run time.
pub fn text_owned(status: ::http::StatusCode, body: Bytes) -> ::http::Response<EdgeBody> {
    let mut response =
        ::http::Response::new(Full::new(body).map_err(|never| match never {}).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(
        ::http::header::CONTENT_TYPE,
        ::http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
