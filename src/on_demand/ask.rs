//! Asking the operator's endpoint whether a name may have a certificate (`ON_DEMAND_ASK_URL`):
//! `GET <url>?domain=<name>`, `2xx` within 5 s allows; a redirect, any other status, an error
//! or a timeout refuses. Answers are remembered in Redis for every instance.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// How long the endpoint has to answer.
pub const ASK_TIMEOUT: Duration = Duration::from_secs(5);

/// An HTTP(S) client for the ask endpoint (system roots for `https://`).
#[derive(Clone)]
pub struct Asker {
    url: String,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

impl Asker {
    pub fn new(url: &str) -> Asker {
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
        http.set_connect_timeout(Some(ASK_TIMEOUT));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Asker {
            url: url.to_owned(),
            client: Client::builder(TokioExecutor::new()).build(connector),
        }
    }

    /// Whether the endpoint allows `name` (already validated: letters, digits, '-', '.').
    pub async fn allows(&self, name: &str) -> bool {
        let separator = if self.url.contains('?') { '&' } else { '?' };
        let uri = format!("{}{separator}domain={name}", self.url);
        let Ok(request) = http::Request::get(&uri)
            .header(http::header::USER_AGENT, "certgate-on-demand")
            .body(Empty::new())
        else {
            return false;
        };
        match tokio::time::timeout(ASK_TIMEOUT, self.client.request(request)).await {
            Ok(Ok(response)) => response.status().is_success(),
            Ok(Err(e)) => {
                tracing::warn!(name, error = %e, "on-demand ask endpoint unreachable: refused");
                false
            }
            Err(_) => {
                tracing::warn!(
                    name,
                    "on-demand ask endpoint did not answer within 5 s: refused"
                );
                false
            }
        }
    }
}
