//! CRLs fetched from routes' `client_auth.crl_urls`: once for the cluster, applied without a
//! restart, failing closed when stale. The PKI and clients are `client_auth.rs`'s.

use std::sync::Arc;

use super::client_auth::{client_auth_route, comes_to, Ca};
use super::*;

/// A local HTTP server answering every GET with the CRL it holds now (PEM), counting requests.
struct CrlServer {
    url: String,
    crl: Arc<std::sync::Mutex<String>>,
    fetches: Arc<std::sync::atomic::AtomicUsize>,
}

impl CrlServer {
    async fn start(crl: String) -> CrlServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/ca.crl", listener.local_addr().unwrap());
        let crl = Arc::new(std::sync::Mutex::new(crl));
        let fetches = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (held, counted) = (crl.clone(), fetches.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (held, counted) = (held.clone(), counted.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |_req| {
                        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let body = held.lock().unwrap().clone();
                        async move {
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                                Bytes::from(body),
                            )))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        CrlServer { url, crl, fetches }
    }

    fn serve(&self, crl: String) {
        *self.crl.lock().unwrap() = crl;
    }

    fn fetches(&self) -> usize {
        self.fetches.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[tokio::test]
async fn crls_from_urls_are_fetched_once_for_the_cluster_and_applied_without_restart() {
    let redis = Redis::start().await;
    let settings = [("CRL_REFRESH_SECONDS", "1")];
    let a = Certgate::start(&redis.url(), "e:", &settings).await;
    let b = Certgate::start(&redis.url(), "e:", &settings).await;
    let up = upstream::start("mtls").await;
    let ca = Ca::new("test client CA");
    let good = ca.client("good", 30, -1, 30);
    let server = CrlServer::start(ca.crl(&[], 1, 7)).await;
    create_self_signed(&a.admin(), "site", &["fetched.test"]).await;
    client_auth_route(
        &a,
        "fetched.test",
        &up.url(),
        json!({ "ca_pem": ca.pem, "crl_urls": [server.url], "forward": true }),
    )
    .await;

    // Both instances accept the certificate once the CRL is fetched and shared.
    comes_to(&a, "fetched.test", &good, true).await;
    comes_to(&b, "fetched.test", &good, true).await;

    // Revoked at the CA: refused after the next refresh, on both, without a restart.
    server.serve(ca.crl(&[30], 0, 7));
    comes_to(&a, "fetched.test", &good, false).await;
    comes_to(&b, "fetched.test", &good, false).await;

    // One fetch per refresh for the cluster, not one per instance: over 6 s with a 1 s refresh,
    // two instances fetching on their own would make about 12.
    let before = server.fetches();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let fetched = server.fetches() - before;
    println!("{fetched} CRL fetches in 6 s by two instances, CRL_REFRESH_SECONDS=1");
    assert!(fetched <= 8, "{fetched} fetches in 6 s");
    assert!(
        fetched >= 2,
        "{fetched} fetches in 6 s: the CRL is refreshed"
    );

    // A CRL past its nextUpdate fails closed (the certificate it does not list is refused too)
    // and /health says which; crl_stale: allow lets it through.
    server.serve(ca.crl(&[], 10, -1));
    let other = ca.client("other", 31, -1, 30);
    comes_to(&a, "fetched.test", &other, false).await;
    let mut reasons = serde_json::Value::Null;
    for _ in 0..100 {
        reasons = a.admin().get("/health").await.unwrap().json()["reasons"].clone();
        if reasons.to_string().contains("crl_stale:") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(reasons, json!([format!("crl_stale:{}", server.url)]));
    let body = json!({ "upstream": up.url(), "client_auth": { "ca_pem": ca.pem, "crl_urls": [server.url], "crl_stale": "allow" } });
    let r = a
        .admin()
        .send(http::Method::PUT, "/proxies/fetched.test", Some(&body))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.json());
    comes_to(&a, "fetched.test", &other, true).await;
    let metrics =
        String::from_utf8_lossy(&a.admin().get("/metrics").await.unwrap().body).to_string();
    assert!(
        metrics.contains("certgate_crl_fetches_total{result=\"ok\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("certgate_crls_stale 1"), "{metrics}");
}
