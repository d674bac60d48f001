//! Metrics, OpenAPI and logs, checked against real issuance (self-signed and Pebble).

#[path = "../common/mod.rs"]
mod common;

mod dashboard;
mod deploy;
mod scrape_cost;

use std::time::Duration;

use bytes::Bytes;
use http::Method;
use serde_json::json;

use common::client::get;
use common::pebble::{Pebble, PebbleOptions};
use common::{
    create_self_signed, free_port, upstream, wait_generation, with_pem, Certgate, Redis,
    ADMIN_TOKEN,
};

/// The value of one sample line `name{labels}` in a Prometheus exposition.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn scrape(cg: &Certgate) -> String {
    let r = cg.client(None).get("/metrics").await.unwrap();
    assert_eq!(r.status, 200);
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    String::from_utf8(r.body.to_vec()).unwrap()
}

#[tokio::test]
async fn metrics_after_self_signed_issuance_renewal_and_traffic() {
    let redis = Redis::start().await;
    let cg = Certgate::start(&redis.url(), "m:", &[]).await;
    let up = upstream::start("app").await;
    create_self_signed(&cg.admin(), "m", &["m.test"]).await;
    cg.admin()
        .post("/certificates/m/renew", &json!({}))
        .await
        .unwrap();
    wait_generation(&cg.admin(), "m", Duration::from_secs(30)).await;
    let r = cg
        .admin()
        .post(
            "/proxies/",
            &json!({ "hostname": "m.test", "upstream": up.url(), "cert_name": "m" }),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201);
    for _ in 0..3 {
        assert_eq!(
            get(cg.https_port, "m.test", "m.test", "/").await.status,
            200
        );
    }
    assert_eq!(
        get(cg.https_port, "m.test", "m.test", "/").await.status,
        200
    );

    let m = scrape(&cg).await;
    assert_eq!(
        sample(&m, "certgate_certificates{status=\"active\"}"),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        sample(&m, "certgate_certificates{status=\"failed\"}"),
        Some(0.0)
    );
    let expiry = sample(&m, "certgate_certificate_expiry_seconds{cert_name=\"m\"}").unwrap();
    // Above METRICS_PER_CERTIFICATE_LIMIT only the counts remain (a second instance, limit 0).
    let counts_only = Certgate::start(
        &redis.url(),
        "m:",
        &[("METRICS_PER_CERTIFICATE_LIMIT", "0")],
    )
    .await;
    let limited = scrape(&counts_only).await;
    assert_eq!(
        sample(&limited, "certgate_certificates{status=\"active\"}"),
        Some(1.0),
        "{limited}"
    );
    assert!(
        !limited.contains("certgate_certificate_expiry_seconds{"),
        "{limited}"
    );
    assert!((expiry - 365.0 * 86400.0).abs() < 3600.0, "expiry {expiry}");
    let issue = "certgate_certificate_generations_total{kind=\"issue\",issuer=\"self-signed\"}";
    let renew = "certgate_certificate_generations_total{kind=\"renew\",issuer=\"self-signed\"}";
    assert_eq!(sample(&m, issue), Some(1.0));
    assert_eq!(sample(&m, renew), Some(1.0));
    assert_eq!(
        sample(
            &m,
            "certgate_requests_total{route=\"m.test\",class=\"2xx\",protocol=\"h1\"}"
        ),
        Some(4.0)
    );
    assert_eq!(
        sample(
            &m,
            "certgate_tls_handshakes_total{kind=\"full\",version=\"TLSv1.3\",group=\"X25519\"}"
        ),
        Some(4.0)
    );
    assert_eq!(
        sample(
            &m,
            "certgate_upstream_response_seconds_count{route=\"m.test\"}"
        ),
        Some(4.0)
    );
    assert!(sample(&m, "certgate_open_connections").is_some());

    // A handshake that never completes is counted as a failure.
    let _ = tokio::net::TcpStream::connect(("127.0.0.1", cg.https_port))
        .await
        .unwrap();
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", cg.https_port))
        .await
        .unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stream, b"not tls at all\r\n\r\n")
        .await
        .unwrap();
    common::wait_until(
        "a handshake failure to be counted",
        Duration::from_secs(10),
        || {
            let cg = &cg;
            async move {
                sample(
                    &scrape(cg).await,
                    "certgate_tls_handshake_failures_total{reason=\"error\"}",
                )
                .is_some()
            }
        },
    )
    .await;
}

#[tokio::test]
async fn metrics_and_logs_of_acme_issuance_and_failure() {
    let redis = Redis::start().await;
    let http_port = free_port();
    let pebble = Pebble::start(PebbleOptions {
        http_port,
        env: &[],
        validity_seconds: None,
        extra_profiles: &[],
        eab_keys: &[],
        ..Default::default()
    })
    .await;
    let mut env = common::base_env(&redis.url(), "o:");
    env.extend(pebble.certgate_env());
    env.push(("HTTP_ADDR".into(), format!("127.0.0.1:{http_port}")));
    env.retain(|(k, _)| k != "LOG_LEVEL");
    env.push(("LOG_LEVEL".into(), "debug".into()));
    env.push(("ACCESS_LOG".into(), "true".into()));
    env.push(("LOG_FORMAT".into(), "json".into()));
    let cg = Certgate::start_with_env(env).await;
    let admin = cg.admin();
    let token = admin
        .post("/tokens/", &json!({ "name": "ci" }))
        .await
        .unwrap()
        .json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let user = cg.client(Some(&token));

    let r = user.post("/certificates/", &json!({ "cert_name": "good", "domain": "good.example.com", "email": "ops@example.com" })).await.unwrap();
    assert_eq!(r.status, 202);
    assert_eq!(
        wait_generation(&admin, "good", Duration::from_secs(60)).await["status"],
        "completed"
    );
    pebble.set_a("bad.example.com", "127.0.0.2").await;
    let r = user
        .post(
            "/certificates/",
            &json!({ "cert_name": "bad", "domain": "bad.example.com", "email": "ops@example.com" }),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 202);
    assert_eq!(
        wait_generation(&admin, "bad", Duration::from_secs(60)).await["status"],
        "failed"
    );

    let m = scrape(&cg).await;
    assert_eq!(
        sample(
            &m,
            "certgate_certificate_generations_total{kind=\"issue\",issuer=\"acme\"}"
        ),
        Some(2.0),
        "{m}"
    );
    assert_eq!(sample(&m, "certgate_certificate_generation_failures_total{kind=\"issue\",issuer=\"acme\",reason=\"rejected\"}"), Some(1.0));
    assert_eq!(
        sample(&m, "certgate_certificates{status=\"active\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&m, "certgate_certificates{status=\"failed\"}"),
        Some(1.0)
    );
    assert!(
        sample(
            &m,
            "certgate_acme_request_duration_seconds_count{method=\"POST\"}"
        )
        .unwrap()
            >= 8.0
    );

    // The whole log: JSON lines, per-step issuance lines with cert_name, and no secret.
    let key = with_pem(&admin, "good").await["private_key_pem"]
        .as_str()
        .unwrap()
        .to_owned();
    let credentials = account_credentials(&redis).await;
    let thumbprint = account_thumbprint(&pebble, &credentials).await;
    let log = cg.log_text();
    for line in log.lines().filter(|l| l.starts_with('{')) {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    }
    assert!(
        log.contains("ACME order created")
            && log.contains("ACME order finalized")
            && log.contains("\"cert_name\":\"good\"")
    );
    for (what, secret) in [
        ("a private key", key.lines().nth(1).unwrap().to_owned()),
        ("the admin token", ADMIN_TOKEN.to_owned()),
        ("an API token", token.clone()),
        ("the account key", credentials.clone()),
        ("a key authorization (its thumbprint)", thumbprint),
    ] {
        assert!(!secret.is_empty());
        assert!(!log.contains(&secret), "the log holds {what}");
    }
}

/// The ACME account key (base64 PKCS#8) from the stored credentials.
async fn account_credentials(redis: &Redis) -> String {
    use fred::prelude::KeysInterface;
    let keys = redis.keys("o:acme:account:*").await;
    let key = keys
        .iter()
        .find(|k| !k.ends_with(":lock") && !k.ends_with(":info"))
        .unwrap();
    let client = redis.client().await;
    let json: String = client.get(key).await.unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    value["key_pkcs8"].as_str().unwrap().to_owned()
}

/// The account key's thumbprint: the fixed half of every key authorization.
async fn account_thumbprint(pebble: &Pebble, key_pkcs8: &str) -> String {
    let json = json!({ "id": "x", "key_pkcs8": key_pkcs8, "directory": pebble.directory_url() });
    let credentials: instant_acme::AccountCredentials = serde_json::from_value(json).unwrap();
    let bundle = std::fs::read_to_string(&pebble.ca_bundle).unwrap();
    let http = certgate::acme::http::AcmeHttp::new(Some(&bundle)).unwrap();
    let account = instant_acme::Account::builder_with_http(Box::new(http))
        .from_credentials(credentials)
        .await
        .unwrap();
    account.key_thumbprint().to_owned()
}

#[tokio::test]
async fn openapi_document_covers_the_router_exactly() {
    let redis = Redis::start().await;
    let cg = Certgate::start(&redis.url(), "d:", &[]).await;
    let r = cg.client(None).get("/openapi.json").await.unwrap();
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let documented: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.clone(), path.clone()))
        })
        .collect();
    let table: Vec<(String, String)> = certgate::admin::endpoints::all()
        .map(|e| (e.method.to_owned(), e.path.to_owned()))
        .collect();
    let mut a = documented.clone();
    a.sort();
    let mut b = table;
    b.sort();
    assert_eq!(a, b);
    for path in [
        "/health",
        "/metrics",
        "/openapi.json",
        "/certificates/",
        "/proxies/",
        "/tokens/",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path}");
    }
    // Every documented operation is routed (never the fallback, never 405) ...
    let admin = cg.admin();
    for (method, path) in &documented {
        let concrete = path
            .replace("{cert_name}", "nothing")
            .replace("{hostname}", "nothing.test")
            .replace("{name}", "nothing");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let body = matches!(method, Method::POST | Method::PUT).then(|| Bytes::from_static(b"{}"));
        let r = admin
            .send_raw(method.clone(), &concrete, &[], body)
            .await
            .unwrap();
        assert_ne!(r.status, 405, "{method} {path}");
        assert!(
            !r.json()["detail"]
                .as_str()
                .unwrap_or("")
                .starts_with("no such endpoint"),
            "{method} {path} fell through"
        );
    }
    // ... and what is not documented is not routed.
    for (method, path) in [
        (Method::GET, "/undocumented"),
        (Method::PATCH, "/certificates/"),
        (Method::POST, "/health"),
    ] {
        let r = admin
            .send_raw(method.clone(), path, &[], None)
            .await
            .unwrap();
        assert!(
            r.status == 404 || r.status == 405,
            "{method} {path}: {}",
            r.status
        );
    }
}

/// An OpenAPI-driven fuzzer (schemathesis, installed by `just test`) against a live instance:
/// no 5xx, every answer conforms to `/openapi.json`, schema-violating requests are refused and
/// schema-valid ones are accepted (or refused only for what the state decides: 403, 404, 409).
#[tokio::test]
async fn openapi_fuzzer_finds_no_5xx_and_no_schema_violation() {
    let redis = Redis::start().await;
    // A live CA, so that profile checks and /acme/profiles answer as in production.
    let pebble = Pebble::start(PebbleOptions {
        http_port: free_port(),
        env: &[],
        validity_seconds: None,
        extra_profiles: &[],
        eab_keys: &[],
        ..Default::default()
    })
    .await;
    let mut env = common::base_env(&redis.url(), "fuzz:");
    env.extend(pebble.certgate_env());
    let cg = Certgate::start_with_env(env).await;
    let entry = "import sys; from schemathesis.cli import schemathesis; \
                 sys.argv[0] = 'schemathesis'; schemathesis()";
    let probe = std::process::Command::new("python3")
        .args(["-c", "import schemathesis"])
        .output()
        .expect("python3 runs");
    assert!(
        probe.status.success(),
        "schemathesis is not installed; `just test` installs it, or: \
         python3 -m pip install 'schemathesis>=4,<5'"
    );
    let schema = format!("{}/openapi.json", cg.admin_url());
    let auth = format!("Authorization: Bearer {ADMIN_TOKEN}");
    let hooks = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fuzz/certgate_formats.py"
    );
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fuzz/schemathesis.toml");
    // A fixed seed keeps CI repeatable; set these to explore further by hand.
    let seed = std::env::var("CERTGATE_FUZZ_SEED").unwrap_or_else(|_| "20261128".into());
    let examples = std::env::var("CERTGATE_FUZZ_EXAMPLES").unwrap_or_else(|_| "25".into());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .args(["-c", entry, "--config-file", config, "run", &schema])
            .args(["--checks", "all"])
            .args(["-H", &auth, "--max-examples", &examples, "--seed", &seed])
            .args(["--workers", "1", "--no-color"])
            // The generator of the schema's own string format (PEM certificates).
            .env("SCHEMATHESIS_HOOKS", hooks)
            // Its cache goes where it runs: not into the repository.
            .current_dir(std::env::temp_dir())
            .output()
            .expect("schemathesis runs")
    })
    .await
    .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains("passed"), "{report}");
    let log = std::fs::read_to_string(&cg.log).unwrap();
    assert!(!log.contains("panicked"), "{log}");
}
