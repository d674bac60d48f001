//! Client certificates per route (mTLS): verified against the route's CA and CRL, forwarded
//! upstream as RFC 9440 `Client-Cert`, never spoofable, never bypassed by SNI. The PKI is made
//! here with rcgen; the clients are rustls, curl and Python's `ssl`.

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevokedCertParams, SerialNumber,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::Arc;

use time::OffsetDateTime;

use super::*;
use common::client::{try_connect_as, ClientCert};

/// A certificate authority made for the test.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A client certificate and its key, as DER (for rustls) and PEM (for curl and Python).
struct Client {
    der: CertificateDer<'static>,
    key_der: Vec<u8>,
    cert_pem: String,
    key_pem: String,
}

impl Client {
    fn rustls(&self) -> ClientCert {
        (
            vec![self.der.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone())),
        )
    }

    /// `Client-Cert` as RFC 9440 writes it.
    fn header_value(&self) -> String {
        use base64::Engine;
        format!(
            ":{}:",
            base64::engine::general_purpose::STANDARD.encode(self.der.as_ref())
        )
    }
}

fn days(n: i64) -> time::Duration {
    time::Duration::days(n)
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let pem = params.self_signed(&key).unwrap().pem();
        Ca {
            pem,
            issuer: Issuer::new(params, key),
        }
    }

    /// A client certificate with `serial`, valid from `from` to `until` days from now.
    fn client(&self, name: &str, serial: u64, from: i64, until: i64) -> Client {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.serial_number = Some(SerialNumber::from(serial));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let now = OffsetDateTime::now_utc();
        params.not_before = now + days(from);
        params.not_after = now + days(until);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Client {
            der: cert.der().clone(),
            key_der: key.serialize_der(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// A CRL listing `revoked` serials, issued `age` days ago, next update `next` days from now.
    fn crl(&self, revoked: &[u64], age: i64, next: i64) -> String {
        let now = OffsetDateTime::now_utc();
        let params = CertificateRevocationListParams {
            this_update: now - days(age),
            next_update: now + days(next),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|serial| RevokedCertParams {
                    serial_number: SerialNumber::from(*serial),
                    revocation_time: now - days(age),
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        params.signed_by(&self.issuer).unwrap().pem().unwrap()
    }
}

/// One GET for `host` over a new connection for `sni` presenting `client`: the status and the
/// upstream's view of the request, or why there was none (a refused handshake shows up here
/// in TLS 1.3, where the server judges the client's certificate after the client's Finished).
async fn fetch(
    cg: &Certgate,
    sni: &str,
    host: &str,
    client: Option<&Client>,
    alpn: &[u8],
    extra: &[(&str, &str)],
) -> Result<(u16, serde_json::Value), String> {
    let tls = try_connect_as(cg.https_port, sni, &[alpn], client.map(Client::rustls)).await?;
    let mut req = Request::get(format!("https://{host}/who"));
    if alpn == b"http/1.1" {
        req = req.header("host", host);
    }
    for (name, value) in extra {
        req = req.header(*name, *value);
    }
    let req = req.body(Full::new(Bytes::new())).unwrap();
    let io = hyper_util::rt::TokioIo::new(tls);
    let response = if alpn == b"h2" {
        let (mut sender, conn) =
            hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
                .await
                .map_err(|e| format!("h2: {e}"))?;
        tokio::spawn(conn);
        sender.send_request(req).await
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| format!("h1: {e}"))?;
        tokio::spawn(conn);
        sender.send_request(req).await
    }
    .map_err(|e| format!("request: {e}"))?;
    let answer = collect(response).await;
    Ok((answer.status, answer.json()))
}

async fn client_auth_route(cg: &Certgate, hostname: &str, upstream: &str, auth: serde_json::Value) {
    let body = json!({ "hostname": hostname, "upstream": upstream, "client_auth": auth });
    let r = cg.admin().post("/proxies/", &body).await.unwrap();
    assert_eq!(r.status, 201, "{}", r.json());
}

#[tokio::test]
async fn require_verifies_against_the_ca_and_crl_and_forwards_the_certificate() {
    let (_redis, cg) = instance(&[]).await;
    let up = upstream::start("mtls").await;
    let ca = Ca::new("test client CA");
    let other = Ca::new("another CA");
    let good = ca.client("good", 10, -1, 30);
    let expired = ca.client("expired", 11, -30, -1);
    let revoked = ca.client("revoked", 12, -1, 30);
    let stranger = other.client("stranger", 10, -1, 30);
    create_self_signed(&cg.admin(), "site", &["secure.test", "open.test"]).await;
    client_auth_route(
        &cg,
        "secure.test",
        &up.url(),
        json!({ "mode": "require", "ca_pem": ca.pem, "crl_pem": ca.crl(&[12], 1, 7), "forward": true }),
    )
    .await;
    route(&cg, "open.test", &up.url(), None).await;

    for alpn in [&b"http/1.1"[..], b"h2"] {
        let (status, seen) = fetch(&cg, "secure.test", "secure.test", Some(&good), alpn, &[])
            .await
            .unwrap();
        assert_eq!(status, 200, "{seen}");
        assert_eq!(seen["headers"]["client-cert"], good.header_value());
    }
    for (who, client) in [
        ("no certificate", None),
        ("expired", Some(&expired)),
        ("revoked in the CRL", Some(&revoked)),
        ("from another CA", Some(&stranger)),
    ] {
        let outcome = fetch(&cg, "secure.test", "secure.test", client, b"http/1.1", &[]).await;
        assert!(outcome.is_err(), "{who}: {outcome:?}");
    }

    // A client's own Client-Cert never reaches an upstream: dropped on open routes, replaced
    // by the verified one on forwarding routes.
    let spoof = [("client-cert", ":AAAA:"), ("client-cert-chain", ":AAAA:")];
    let (status, seen) = fetch(&cg, "open.test", "open.test", None, b"http/1.1", &spoof)
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(seen["headers"].get("client-cert").is_none(), "{seen}");
    assert!(seen["headers"].get("client-cert-chain").is_none(), "{seen}");
    let (_, seen) = fetch(
        &cg,
        "secure.test",
        "secure.test",
        Some(&good),
        b"http/1.1",
        &spoof,
    )
    .await
    .unwrap();
    assert_eq!(seen["headers"]["client-cert"], good.header_value());
    assert!(seen["headers"].get("client-cert-chain").is_none(), "{seen}");

    // No bypass by SNI: the certificate covers both names, but a connection made for
    // open.test (no client certificate asked) cannot carry a request for secure.test.
    for alpn in [&b"http/1.1"[..], b"h2"] {
        let (status, _) = fetch(&cg, "open.test", "secure.test", None, alpn, &[])
            .await
            .unwrap();
        assert_eq!(status, 421, "{}", String::from_utf8_lossy(alpn));
    }

    // Other clients: curl and Python's ssl with the good certificate get through; curl without
    // one does not.
    let dir = common::TempDir::new("mtls");
    let (cert, key) = (dir.0.join("c.pem"), dir.0.join("k.pem"));
    std::fs::write(&cert, &good.cert_pem).unwrap();
    std::fs::write(&key, &good.key_pem).unwrap();
    let port = cg.https_port;
    let resolve = format!("secure.test:{port}:127.0.0.1");
    let url = format!("https://secure.test:{port}/curl");
    // tokio's processes: the upstream answers from this test's runtime meanwhile.
    let curl = |with_cert: bool| {
        let mut cmd = tokio::process::Command::new("curl");
        cmd.args(["-sk", "--max-time", "10", "--resolve", &resolve, &url]);
        if with_cert {
            cmd.arg("--cert").arg(&cert).arg("--key").arg(&key);
        }
        cmd.output()
    };
    let with = curl(true).await.expect("curl (apt-get install curl)");
    assert!(with.status.success(), "{with:?}");
    let seen: serde_json::Value = serde_json::from_slice(&with.stdout).unwrap();
    assert_eq!(seen["headers"]["client-cert"], good.header_value());
    let without = curl(false).await.unwrap();
    assert!(
        !without.status.success(),
        "curl without a certificate: {without:?}"
    );
    let python = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(PYTHON_CLIENT)
        .arg(port.to_string())
        .arg(&cert)
        .arg(&key)
        .output()
        .await
        .expect("python3");
    assert!(python.status.success(), "{python:?}");
    assert!(
        String::from_utf8_lossy(&python.stdout).starts_with("HTTP/1.1 200"),
        "{python:?}"
    );
}

/// A GET with Python's `ssl` presenting a client certificate; prints the status line.
const PYTHON_CLIENT: &str = r#"
import socket, ssl, sys
port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.load_cert_chain(cert, key)
with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
    with ctx.wrap_socket(raw, server_hostname="secure.test") as tls:
        tls.sendall(b"GET /py HTTP/1.1\r\nHost: secure.test\r\nConnection: close\r\n\r\n")
        print(tls.recv(4096).decode().splitlines()[0])
"#;

#[tokio::test]
async fn request_mode_lets_clients_without_a_certificate_through_and_a_stale_crl_fails_closed() {
    let (_redis, cg) = instance(&[]).await;
    let up = upstream::start("mtls").await;
    let ca = Ca::new("test client CA");
    let good = ca.client("good", 20, -1, 30);
    create_self_signed(&cg.admin(), "site", &["maybe.test", "stale.test"]).await;
    client_auth_route(
        &cg,
        "maybe.test",
        &up.url(),
        json!({ "mode": "request", "ca_pem": ca.pem, "forward": true }),
    )
    .await;
    let (status, seen) = fetch(&cg, "maybe.test", "maybe.test", None, b"http/1.1", &[])
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(seen["headers"].get("client-cert").is_none(), "{seen}");
    let (status, seen) = fetch(
        &cg,
        "maybe.test",
        "maybe.test",
        Some(&good),
        b"http/1.1",
        &[],
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    assert_eq!(seen["headers"]["client-cert"], good.header_value());

    // A CRL past its nextUpdate: even a certificate it does not list is refused.
    client_auth_route(
        &cg,
        "stale.test",
        &up.url(),
        json!({ "ca_pem": ca.pem, "crl_pem": ca.crl(&[], 10, -1) }),
    )
    .await;
    let outcome = fetch(
        &cg,
        "stale.test",
        "stale.test",
        Some(&good),
        b"http/1.1",
        &[],
    )
    .await;
    assert!(outcome.is_err(), "{outcome:?}");

    // A changed client_auth takes effect at the next handshake: a fresh CRL lets it through.
    let body = json!({ "upstream": up.url(), "client_auth": { "ca_pem": ca.pem, "crl_pem": ca.crl(&[], 1, 7) } });
    let r = cg
        .admin()
        .send(http::Method::PUT, "/proxies/stale.test", Some(&body))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.json());
    let mut outcome = Err(String::new());
    for _ in 0..50 {
        outcome = fetch(
            &cg,
            "stale.test",
            "stale.test",
            Some(&good),
            b"http/1.1",
            &[],
        )
        .await;
        if outcome.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(outcome.unwrap().0, 200);

    // Bad input names its field and stores nothing.
    for (auth, field) in [
        (json!({ "ca_pem": "not a PEM" }), "client_auth.ca_pem"),
        (
            json!({ "ca_pem": ca.pem, "crl_pem": ca.pem }),
            "client_auth.crl_pem",
        ),
        (
            json!({ "ca_pem": ca.pem, "mode": "sometimes" }),
            "client_auth.mode",
        ),
    ] {
        let body = json!({ "hostname": "bad.test", "upstream": up.url(), "client_auth": auth });
        let r = cg.admin().post("/proxies/", &body).await.unwrap();
        assert_eq!(r.status, 400, "{}", r.json());
        assert_eq!(r.json()["field"], field, "{}", r.json());
    }
    assert_eq!(
        cg.admin().get("/proxies/bad.test").await.unwrap().status,
        404
    );
}

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

/// Polls until a GET with `client` on `cg` succeeds (`true`) or fails (`false`), at most 20 s.
async fn comes_to(cg: &Certgate, host: &str, client: &Client, accepted: bool) {
    for _ in 0..200 {
        let outcome = fetch(cg, host, host, Some(client), b"http/1.1", &[]).await;
        if outcome.as_ref().is_ok_and(|(s, _)| *s == 200) == accepted {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "{host} on port {}: never {}",
        cg.https_port,
        if accepted { "accepted" } else { "refused" }
    );
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
