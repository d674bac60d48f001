//! The HTTPS client certgate uses to talk to ACME servers.
//!
//! It trusts the system roots plus every certificate in `ACME_CA_BUNDLE` (instant-acme's own
//! `builder_with_root` trusts only the first one), and remembers the last `Retry-After` the
//! server sent, which instant-acme does not expose with a `rateLimited` problem — per piece of
//! work ([`with_own_retry_after`]: an order, a renewal-information poll, a revocation), since
//! one client serves every order of the instance and one order's hint must not steer another.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
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
}

tokio::task_local! {
    /// The last `Retry-After` the CA sent to the piece of work running in this scope.
    static RETRY_AFTER: Cell<Option<SystemTime>>;
}

/// Runs `work` (an order, a poll, a revocation) with a `Retry-After` of its own: what the CA
/// answers its requests is what [`retry_after`] reads inside it, and nothing outside it.
pub async fn with_own_retry_after<F: Future>(work: F) -> F::Output {
    RETRY_AFTER.scope(Cell::new(None), work).await
}

/// The most recent `Retry-After` the CA sent to the work in this scope, if still in the future.
pub fn retry_after() -> Option<SystemTime> {
    RETRY_AFTER
        .try_with(Cell::get)
        .ok()
        .flatten()
        .filter(|t| *t > SystemTime::now())
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
        })
    }
}

impl HttpClient for AcmeHttp {
    fn request(
        &self,
        req: http::Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let method = req.method().to_string();
        let fut = self.client.request(req);
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
                // Polled inside the work's scope (instant-acme awaits this future in place).
                let _ = RETRY_AFTER.try_with(|cell| cell.set(Some(at)));
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

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

    /// An HTTPS server on 127.0.0.1 answering every request `200` with `Retry-After: {path}`
    /// (the path's number), and the PEM of the CA its certificate chains to.
    async fn retry_after_server() -> (std::net::SocketAddr, String) {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_pem = ca_params.self_signed(&ca_key).unwrap().pem();
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(
                        |req: http::Request<hyper::body::Incoming>| async move {
                            let seconds = req.uri().path().trim_start_matches('/').to_owned();
                            let mut response =
                                http::Response::new(http_body_util::Full::new(Bytes::new()));
                            response.headers_mut().insert(
                                http::header::RETRY_AFTER,
                                http::HeaderValue::from_str(&seconds).unwrap(),
                            );
                            Ok::<_, std::convert::Infallible>(response)
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        (addr, ca_pem)
    }

    async fn get(http: &AcmeHttp, addr: std::net::SocketAddr, path: &str) {
        let req = http::Request::get(format!("https://{addr}{path}"))
            .body(BodyWrapper::from(Vec::new()))
            .unwrap();
        HttpClient::request(http, req).await.unwrap();
    }

    #[tokio::test]
    async fn one_orders_retry_after_does_not_steer_another() {
        let (addr, ca_pem) = retry_after_server().await;
        let http = AcmeHttp::new(Some(&ca_pem)).unwrap();
        let (told, asked) = tokio::sync::oneshot::channel::<()>();
        let (answered, heard) = tokio::sync::oneshot::channel::<()>();
        // Order A is told to wait 30 s and keeps that while order B runs beside it.
        let order_a = {
            let http = http.clone();
            tokio::spawn(with_own_retry_after(async move {
                get(&http, addr, "/30").await;
                told.send(()).unwrap();
                heard.await.unwrap();
                retry_after()
            }))
        };
        let order_b = with_own_retry_after(async {
            asked.await.unwrap();
            let before = retry_after();
            get(&http, addr, "/2").await;
            let after = retry_after();
            answered.send(()).unwrap();
            (before, after)
        })
        .await;
        let a = order_a.await.unwrap().expect("A keeps its own Retry-After");
        let (b_before, b_after) = order_b;
        assert_eq!(b_before, None, "B saw A's Retry-After");
        let b_after = b_after.expect("B's own Retry-After");
        assert!(
            a > b_after + std::time::Duration::from_secs(20),
            "A's was replaced by B's"
        );
        assert_eq!(retry_after(), None, "nothing outside an order's scope");
    }
}
