//! The HTTP(S) client certgate uses to fetch from operators' endpoints (the on-demand ask URL,
//! CRL distribution points): HTTP/1.1, `http://` or `https://` verified against the system
//! roots, bodiless requests.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// A client for bodiless requests to `http://` and `https://` URLs.
pub type OutboundClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// A client for requests with a body (a provider's JSON API).
pub type BodyClient =
    Client<hyper_rustls::HttpsConnector<HttpConnector>, http_body_util::Full<Bytes>>;

/// A client whose connections must be up within `connect_timeout`.
pub fn client(connect_timeout: Duration) -> OutboundClient {
    build(connect_timeout)
}

/// [`client`] for requests with a body.
pub fn body_client(connect_timeout: Duration) -> BodyClient {
    build(connect_timeout)
}

fn build<B>(connect_timeout: Duration) -> Client<hyper_rustls::HttpsConnector<HttpConnector>, B>
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
{
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("default TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new()).build(connector)
}
