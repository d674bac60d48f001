//! The HTTPS client certgate uses to talk to ACME servers.
//!
//! It trusts the system roots plus every certificate in `ACME_CA_BUNDLE` (instant-acme's own
//! `builder_with_root` trusts only the first one), and remembers the last `Retry-After` the
//! server sent, which instant-acme does not expose with a `rateLimited` problem.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use instant_acme::{BodyWrapper, BytesResponse, HttpClient};

use super::SetupError;

/// An ACME HTTP client; cheap to clone.
#[derive(Clone)]
pub struct AcmeHttp {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, BodyWrapper<Bytes>>,
    retry_after: Arc<Mutex<Option<SystemTime>>>,
}

impl AcmeHttp {
    /// Builds the client; `ca_bundle` is the PEM text of extra roots.
    pub fn new(ca_bundle: Option<&str>) -> Result<AcmeHttp, SetupError> {
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            let _ = roots.add(cert);
        }
        if let Some(pem) = ca_bundle {
            let mut added = 0;
            for cert in rustls_pemfile::certs(&mut pem.as_bytes()) {
                let cert =
                    cert.map_err(|e| SetupError::CaBundle(format!("unreadable PEM: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| SetupError::CaBundle(format!("unusable certificate: {e}")))?;
                added += 1;
            }
            if added == 0 {
                return Err(SetupError::CaBundle("it holds no certificate".into()));
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| SetupError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(std::time::Duration::from_secs(10)));
        // Without TCP_NODELAY a signed POST (TLS record + request written in pieces) waits for
        // the server's delayed ACK: ~40 ms per request, 10 s for a 100-name order's 240 POSTs.
        http.set_nodelay(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        Ok(AcmeHttp {
            client: Client::builder(TokioExecutor::new()).build(connector),
            retry_after: Arc::new(Mutex::new(None)),
        })
    }

    /// The most recent `Retry-After` seen, if it is still in the future.
    pub fn retry_after(&self) -> Option<SystemTime> {
        let at = *self.retry_after.lock().expect("retry-after lock");
        at.filter(|t| *t > SystemTime::now())
    }
}

impl HttpClient for AcmeHttp {
    fn request(
        &self,
        req: http::Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let method = req.method().to_string();
        let fut = self.client.request(req);
        let retry_after = self.retry_after.clone();
        Box::pin(async move {
            let started = std::time::Instant::now();
            let _timer = scopeguard(move || {
                crate::metrics::METRICS
                    .acme_request_seconds
                    .observe(&[&method], started.elapsed().as_secs_f64())
            });
            let response = tokio::time::timeout(std::time::Duration::from_secs(30), fut)
                .await
                .map_err(|_| {
                    instant_acme::Error::Other("ACME request timed out after 30 s".into())
                })?
                .map_err(|e| instant_acme::Error::Other(Box::new(e)))?;
            if let Some(at) = parse_retry_after(response.headers().get(http::header::RETRY_AFTER)) {
                *retry_after.lock().expect("retry-after lock") = Some(at);
            }
            Ok(BytesResponse::from(response))
        })
    }
}

/// Runs `f` when dropped (records the latency whatever the outcome).
fn scopeguard<F: FnOnce()>(f: F) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}

fn parse_retry_after(value: Option<&http::HeaderValue>) -> Option<SystemTime> {
    let text = value?.to_str().ok()?.trim();
    let seconds: u64 = text.parse().ok()?;
    Some(SystemTime::now() + std::time::Duration::from_secs(seconds))
}
