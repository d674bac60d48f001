//! Several upstreams per route: round robin, retries on connect failure, passive ejection,
//! active health checks bringing a restarted replica back, and requests that are never
//! replayed.

use super::*;
use common::replicas::{breaker, Replica};
use common::wait_until;
use serde_json::Value;

/// A plain-HTTP `method` request for `host` on the instance's HTTP listener.
async fn call(cg: &Certgate, method: http::Method, host: &str, body: Option<&str>) -> (u16, Value) {
    let http =
        certgate::client::AdminClient::new(&format!("http://127.0.0.1:{}", cg.http_port), None);
    let r = http
        .send_raw(
            method,
            "/work",
            &[("host", host)],
            body.map(|b| Bytes::from(b.to_owned())),
        )
        .await
        .unwrap();
    (r.status.as_u16(), r.json())
}

async fn add_route(cg: &Certgate, body: Value) {
    let r = cg.admin().post("/proxies/", &body).await.unwrap();
    assert_eq!(r.status, 201, "{}", r.json());
}

/// The health of `host`'s upstream `url` as `GET /proxies/{host}` shows it.
async fn health_of(cg: &Certgate, host: &str, url: &str) -> Value {
    let r = cg.admin().get(&format!("/proxies/{host}")).await.unwrap();
    r.json()["upstream_health"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["url"] == url)
        .cloned()
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn round_robin_retries_ejects_and_brings_a_replica_back() {
    // No pooled upstream connections: a request after the kill then always meets a refused
    // connect (retried), never a kept-alive connection whose close certgate has not seen yet
    // (a request sent on it is not replayed: docs/edge.md, "Retries").
    let (_redis, cg) = instance(&[("UPSTREAM_MAX_IDLE_PER_HOST", "0")]).await;
    let mut a = Replica::start("a").await;
    let b = Replica::start("b").await;
    add_route(
        &cg,
        json!({
            "hostname": "lb.test",
            "upstreams": [a.url(), b.url()],
            "https_redirect": false,
            "health_check": { "path": "/health", "interval_seconds": 1, "timeout_seconds": 1 },
        }),
    )
    .await;

    // Both in rotation: 100 requests split 50/50 (±5).
    for _ in 0..100 {
        let (status, seen) = call(&cg, http::Method::GET, "lb.test", None).await;
        assert_eq!(status, 200, "{seen}");
        assert_eq!(seen["host"], "lb.test", "the client's Host is preserved");
    }
    let (on_a, on_b) = (a.count("GET"), b.count("GET"));
    assert!((45..=55).contains(&on_a), "a got {on_a}, b got {on_b}");
    assert_eq!(on_a + on_b, 100);

    // One killed: every request still answered (retried on the other, then ejected).
    a.kill();
    for _ in 0..100 {
        let (status, seen) = call(&cg, http::Method::GET, "lb.test", None).await;
        assert_eq!(status, 200, "{seen}");
        assert_eq!(seen["upstream"], "b");
    }
    assert_eq!(b.count("GET"), on_b + 100);
    let down = health_of(&cg, "lb.test", &format!("http://{}", a.addr)).await;
    assert_eq!(down["healthy"], false, "{down}");
    assert!(down["last_error"].is_string(), "{down}");
    let metrics = cg.admin().get("/metrics").await.unwrap();
    let metrics = String::from_utf8_lossy(&metrics.body).to_string();
    let series = format!(
        "certgate_upstream_healthy{{route=\"lb.test\",upstream=\"http://{}\"}} 0",
        a.addr
    );
    assert!(metrics.contains(&series), "{series} missing");

    // Restarted: back in rotation once its health check passes.
    a.restart().await;
    let url = format!("http://{}", a.addr);
    wait_until(
        "a's health check to pass",
        Duration::from_secs(10),
        || async { health_of(&cg, "lb.test", &url).await["healthy"] == true },
    )
    .await;
    assert!(a.checks() > 0, "the check reached a");
    let before = a.count("GET");
    for _ in 0..20 {
        assert_eq!(call(&cg, http::Method::GET, "lb.test", None).await.0, 200);
    }
    assert!(
        a.count("GET") - before >= 8,
        "a back in rotation: {} of 20",
        a.count("GET") - before
    );
}

#[tokio::test]
async fn requests_with_effects_are_never_replayed() {
    let (_redis, cg) = instance(&[]).await;
    let b = Replica::start("b").await;

    // The first upstream dies mid-request: the POST fails, and the other never sees it.
    let (broken_at, broken) = breaker().await;
    add_route(
        &cg,
        json!({
            "hostname": "once.test",
            "upstreams": [format!("http://{broken_at}"), b.url()],
            "policy": "first",
            "https_redirect": false,
        }),
    )
    .await;
    let (status, _) = call(&cg, http::Method::POST, "once.test", Some("{\"order\":1}")).await;
    assert_eq!(status, 502);
    assert_eq!(broken.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(b.count("POST"), 0, "a POST is not replayed");

    // The first upstream refuses connections: a GET goes to the next one, a POST does not.
    let mut dead = Replica::start("dead").await;
    dead.kill();
    add_route(
        &cg,
        json!({
            "hostname": "failover.test",
            "upstreams": [dead.url(), b.url()],
            "policy": "first",
            "https_redirect": false,
        }),
    )
    .await;
    let (status, _) = call(&cg, http::Method::POST, "failover.test", Some("{}")).await;
    assert_eq!(status, 502);
    assert_eq!(b.count("POST"), 0);
    let (status, seen) = call(&cg, http::Method::GET, "failover.test", None).await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["upstream"], "b");

    // Every upstream out of rotation: 502 at once, not a timeout.
    let mut only = Replica::start("only").await;
    add_route(
        &cg,
        json!({
            "hostname": "alone.test",
            "upstream": only.url(),
            "https_redirect": false,
            "health_check": { "path": "/health", "interval_seconds": 1, "timeout_seconds": 1 },
        }),
    )
    .await;
    assert_eq!(
        call(&cg, http::Method::GET, "alone.test", None).await.0,
        200
    );
    only.kill();
    let url = only.url();
    wait_until(
        "the health check to eject it",
        Duration::from_secs(10),
        || async { health_of(&cg, "alone.test", &url).await["healthy"] == false },
    )
    .await;
    let started = Instant::now();
    assert_eq!(
        call(&cg, http::Method::GET, "alone.test", None).await.0,
        502
    );
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn upstream_fields_are_validated() {
    let (_redis, cg) = instance(&[]).await;
    for (body, field) in [
        (
            json!({"hostname": "v.test", "upstreams": [{"url": "http://a:1", "weight": 0}]}),
            "upstreams[0].weight",
        ),
        (
            json!({"hostname": "v.test", "upstream": "http://a:1", "upstreams": ["http://b:1"]}),
            "upstreams",
        ),
        (
            json!({"hostname": "v.test", "upstream": "ftp://a"}),
            "upstream",
        ),
        (
            json!({"hostname": "v.test", "upstream": "http://a:1", "health_check": {"path": "x"}}),
            "health_check.path",
        ),
        (
            json!({"hostname": "v.test", "upstream": "https://a:1", "upstream_ca_pem": "nope"}),
            "upstream_ca_pem",
        ),
        (
            json!({"hostname": "v.test", "upstream": "http://a:1*"}),
            "upstream",
        ),
        (
            json!({"hostname": "v.test", "upstream": "http://a*b:1"}),
            "upstream",
        ),
    ] {
        let r = cg.admin().post("/proxies/", &body).await.unwrap();
        assert_eq!(r.status, 400, "{body}: {}", r.json());
        assert_eq!(r.json()["field"], field, "{body}: {}", r.json());
    }
    let r = cg.admin().get("/proxies/v.test").await.unwrap();
    assert_eq!(r.status, 404, "nothing was written");

    // One upstream listed twice is one, its weights added; TLS settings on a route without an
    // https:// upstream are kept and change nothing.
    let body = json!({"hostname": "v.test", "upstreams": ["http://a:1", {"url": "http://A:1", "weight": 3}], "upstream_sni": "a.test"});
    let r = cg.admin().post("/proxies/", &body).await.unwrap();
    assert_eq!(r.status, 201, "{}", r.json());
    assert_eq!(
        r.json()["upstreams"],
        json!([{"url": "http://a:1", "weight": 4}])
    );
}
