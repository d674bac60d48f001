//! Client certificates per route (mTLS): verified against the route's CA and CRL, forwarded
//! upstream as RFC 9440 `Client-Cert`, never spoofable, never bypassed by SNI. The PKI is made
//! here with rcgen; the clients are rustls, curl and Python's `ssl`. CRLs fetched from URLs are
//! in `client_auth_crls.rs`.

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevokedCertParams, SerialNumber,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::OffsetDateTime;

use super::*;
use common::client::{try_connect_as, ClientCert};

/// A certificate authority made for the test.
pub(super) struct Ca {
    pub(super) pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A client certificate and its key, as DER (for rustls) and PEM (for curl and Python).
pub(super) struct Client {
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
    pub(super) fn new(name: &str) -> Ca {
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
    pub(super) fn client(&self, name: &str, serial: u64, from: i64, until: i64) -> Client {
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
    pub(super) fn crl(&self, revoked: &[u64], age: i64, next: i64) -> String {
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
pub(super) async fn fetch(
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

/// One HTTP/1.1 GET for `host` on a connection made for it, presenting `client`.
async fn get_as(
    cg: &Certgate,
    host: &str,
    client: Option<&Client>,
) -> Result<(u16, serde_json::Value), String> {
    fetch(cg, host, host, client, b"http/1.1", &[]).await
}

/// Polls until a GET with `client` on `cg` succeeds (`true`) or fails (`false`), at most 20 s.
pub(super) async fn comes_to(cg: &Certgate, host: &str, client: &Client, accepted: bool) {
    for _ in 0..200 {
        let outcome = get_as(cg, host, Some(client)).await;
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

pub(super) async fn client_auth_route(
    cg: &Certgate,
    hostname: &str,
    upstream: &str,
    auth: serde_json::Value,
) {
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
        let outcome = get_as(&cg, "secure.test", client).await;
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
    let (status, seen) = get_as(&cg, "maybe.test", None).await.unwrap();
    assert_eq!(status, 200);
    assert!(seen["headers"].get("client-cert").is_none(), "{seen}");
    let (status, seen) = get_as(&cg, "maybe.test", Some(&good)).await.unwrap();
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
    let outcome = get_as(&cg, "stale.test", Some(&good)).await;
    assert!(outcome.is_err(), "{outcome:?}");

    // A changed client_auth takes effect at the next handshake: a fresh CRL lets it through.
    let body = json!({ "upstream": up.url(), "client_auth": { "ca_pem": ca.pem, "crl_pem": ca.crl(&[], 1, 7) } });
    let r = cg
        .admin()
        .send(http::Method::PUT, "/proxies/stale.test", Some(&body))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.json());
    comes_to(&cg, "stale.test", &good, true).await;

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

/// The same checks over HTTP/3: the ClientHello is read before quinn accepts the connection,
/// so a QUIC handshake for a `client_auth` route is held to that route's verifier. A good
/// certificate gets through and is forwarded; none, a revoked one and another CA's are refused
/// in the handshake; a connection made for another name is not let in (421); and the route is
/// advertised with `Alt-Svc`.
#[tokio::test]
async fn client_certificates_are_verified_over_http3() {
    use common::h3::{h3, try_h3};
    let (_redis, cg) = instance(&[]).await;
    let up = upstream::start("mtls-h3").await;
    let ca = Ca::new("h3 client CA");
    let good = ca.client("good", 20, -1, 30);
    let revoked = ca.client("revoked", 21, -1, 30);
    let stranger = Ca::new("another CA").client("stranger", 20, -1, 30);
    create_self_signed(&cg.admin(), "site", &["secure.test", "open.test"]).await;
    client_auth_route(
        &cg,
        "secure.test",
        &up.url(),
        json!({ "mode": "require", "ca_pem": ca.pem, "crl_pem": ca.crl(&[21], 1, 7), "forward": true }),
    )
    .await;
    route(&cg, "open.test", &up.url(), None).await;
    let dir = common::TempDir::new("h3-mtls");
    let files = |client: &Client, name: &str| {
        let (cert, key) = (
            dir.0.join(format!("{name}.crt")),
            dir.0.join(format!("{name}.key")),
        );
        std::fs::write(&cert, &client.cert_pem).unwrap();
        std::fs::write(&key, &client.key_pem).unwrap();
        (cert.display().to_string(), key.display().to_string())
    };
    let port = cg.https_port;

    let (cert, key) = files(&good, "good");
    let got = h3(
        port,
        "secure.test",
        "GET",
        "/h3",
        &["--cert", &cert, "--key", &key],
    )
    .await;
    assert_eq!(got["answers"][0]["status"], 200, "{got}");
    let seen: serde_json::Value =
        serde_json::from_str(got["answers"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(
        seen["headers"]["client-cert"],
        good.header_value(),
        "{seen}"
    );

    // A refusal in the handshake is a TLS alert: QUIC's CRYPTO_ERROR, 0x100 + the alert.
    let refused_in_tls = |outcome: &Result<serde_json::Value, String>| {
        outcome
            .as_ref()
            .is_err_and(|e| e.contains("connection closed: error 0x1"))
    };
    let without = try_h3(port, "secure.test", "GET", "/", &[]).await;
    assert!(refused_in_tls(&without), "no certificate: {without:?}");
    for (who, client) in [("revoked", &revoked), ("another CA's", &stranger)] {
        let (cert, key) = files(client, who);
        let args = ["--cert", &cert, "--key", &key];
        let refused = try_h3(port, "secure.test", "GET", "/", &args).await;
        assert!(refused_in_tls(&refused), "{who}: {refused:?}");
    }

    // Made for open.test (no check), asking for secure.test: not let in.
    let bypass = h3(
        port,
        "open.test",
        "GET",
        "/",
        &["--authority", "secure.test"],
    )
    .await;
    assert_eq!(bypass["answers"][0]["status"], 421, "{bypass}");

    let out = tokio::process::Command::new("curl")
        .args(["-sk", "-o", "/dev/null", "-D", "-", "--http2", "--resolve"])
        .arg(format!("secure.test:{port}:127.0.0.1"))
        .args(["--cert", &cert, "--key", &key])
        .arg(format!("https://secure.test:{port}/"))
        .output()
        .await
        .expect("curl");
    let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    assert!(head.contains("alt-svc: h3="), "{head}");
}
