//! The fast tier (`just test-fast`): API and edge behaviour against certgate running in this
//! test's own process (`common::inproc`), with a real Redis, real sockets and a real upstream.
//! What needs a process of its own — the CLI, signals, crashes and restarts, several instances
//! — stays in the other binaries.

#[path = "../common/mod.rs"]
mod common;

use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use common::client::{collect, connect, get, http1, http2, leaf_der, served_leaf};
use common::inproc::InProcess;
use common::{create_self_signed, upstream, with_pem, Redis};

async fn instance(extra: &[(&str, &str)]) -> (Redis, InProcess) {
    let redis = Redis::start().await;
    let cg = InProcess::start(&redis.url(), "fast:", extra).await;
    (redis, cg)
}

async fn route(cg: &InProcess, hostname: &str, upstream: &str) {
    let body = json!({ "hostname": hostname, "upstream": upstream });
    let r = cg.admin().post("/proxies/", &body).await.unwrap();
    assert_eq!(r.status, 201, "{}", r.json());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_is_created_shown_listed_and_deleted() {
    let (_redis, cg) = instance(&[]).await;
    let admin = cg.admin();
    create_self_signed(&admin, "life", &["life.test", "www.life.test"]).await;
    let cert = with_pem(&admin, "life").await;
    assert_eq!(cert["status"], "active");
    assert_eq!(cert["domains"], json!(["life.test", "www.life.test"]));
    assert!(cert["private_key_pem"]
        .as_str()
        .unwrap()
        .contains("PRIVATE KEY"));
    let listed = admin.get("/certificates/").await.unwrap().json();
    assert_eq!(listed[0]["cert_name"], "life");
    assert!(
        listed[0].get("private_key_pem").is_none(),
        "no key in lists"
    );
    let status = admin.get("/certificates/life/status").await.unwrap().json();
    assert_eq!(status["status"], "completed");
    assert_eq!(
        admin.delete("/certificates/life").await.unwrap().status,
        204
    );
    assert_eq!(admin.get("/certificates/life").await.unwrap().status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_name_their_field_and_leave_nothing() {
    let (_redis, cg) = instance(&[]).await;
    let admin = cg.admin();
    for (body, field) in [
        (
            json!({ "cert_name": "Bad Name", "domain": "a.test" }),
            "cert_name",
        ),
        (json!({ "cert_name": "ok", "domain": "a..test" }), "domain"),
        (
            json!({ "cert_name": "ok", "domain": "a.test", "extra": 1 }),
            "extra",
        ),
    ] {
        let r = admin.post("/certificates/", &body).await.unwrap();
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(r.json()["field"], field, "{body}");
    }
    assert_eq!(admin.get("/certificates/ok").await.unwrap().status, 404);
    assert_eq!(
        cg.client(None).get("/certificates/").await.unwrap().status,
        401
    );
    create_self_signed(&admin, "dup", &["dup.test"]).await;
    let again = json!({ "cert_name": "dup", "domain": "other.test", "issuer": "self-signed" });
    assert_eq!(
        admin.post("/certificates/", &again).await.unwrap().status,
        409
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_forwarded_over_http1_and_http2_and_checked_in_order() {
    let (_redis, cg) = instance(&[]).await;
    let up = upstream::start("fast").await;
    create_self_signed(&cg.admin(), "edge", &["edge.test", "other.test"]).await;
    route(&cg, "edge.test", &up.url()).await;
    let port = cg.https_port;

    let answer = get(port, "edge.test", "edge.test", "/h1?q=1").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["uri"], "/h1?q=1");
    assert_eq!(answer.json()["headers"]["x-forwarded-for"], "127.0.0.1");
    assert_eq!(answer.json()["headers"]["x-forwarded-proto"], "https");

    let mut h2 = http2(connect(port, "edge.test", &[b"h2"]).await).await;
    let req = Request::get("https://edge.test/h2")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let answer = collect(h2.send_request(req).await.unwrap()).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["headers"]["host"], "edge.test");

    // 421: another host than the connection's; 404: no route; 400: no usable Host.
    assert_eq!(
        get(port, "edge.test", "nowhere.test", "/").await.status,
        421
    );
    assert_eq!(get(port, "other.test", "other.test", "/").await.status, 404);
    assert_eq!(get(port, "edge.test", "bad host", "/").await.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_tunnel_echoes_through_the_edge() {
    let (_redis, cg) = instance(&[]).await;
    let up = upstream::start("ws").await;
    create_self_signed(&cg.admin(), "ws", &["ws.test"]).await;
    route(&cg, "ws.test", &up.url()).await;
    let mut h1 = http1(connect(cg.https_port, "ws.test", &[b"http/1.1"]).await).await;
    let req = Request::get("/ws")
        .header("host", "ws.test")
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = h1.send_request(req).await.unwrap();
    assert_eq!(response.status(), 101);
    let mut io = hyper_util::rt::TokioIo::new(hyper::upgrade::on(response).await.unwrap());
    for message in ["one", "two"] {
        io.write_all(message.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; message.len()];
        tokio::time::timeout(Duration::from_secs(5), io.read_exact(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(buf, message.as_bytes());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_is_served_on_the_next_handshake() {
    let (_redis, cg) = instance(&[]).await;
    let admin = cg.admin();
    create_self_signed(&admin, "swap", &["swap.test"]).await;
    let before = leaf_der(
        with_pem(&admin, "swap").await["fullchain_pem"]
            .as_str()
            .unwrap(),
    );
    let tls = connect(cg.https_port, "swap.test", &[b"http/1.1"]).await;
    assert_eq!(served_leaf(&tls), before);
    let r = admin
        .post("/certificates/swap/renew", &json!({}))
        .await
        .unwrap();
    assert_eq!(r.status, 202);
    common::wait_generation(&admin, "swap", Duration::from_secs(30)).await;
    let after = leaf_der(
        with_pem(&admin, "swap").await["fullchain_pem"]
            .as_str()
            .unwrap(),
    );
    assert_ne!(before, after);
    let tls = connect(cg.https_port, "swap.test", &[b"http/1.1"]).await;
    assert_eq!(served_leaf(&tls), after, "served without a restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_lets_the_request_in_flight_finish() {
    let (_redis, cg) = instance(&[]).await;
    let up = upstream::start("slow").await;
    create_self_signed(&cg.admin(), "slow", &["slow.test"]).await;
    route(&cg, "slow.test", &up.url()).await;
    let port = cg.https_port;
    let in_flight =
        tokio::spawn(async move { get(port, "slow.test", "slow.test", "/slow/800").await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    cg.stop().await.unwrap();
    let answer = in_flight.await.unwrap();
    assert_eq!(answer.status, 200, "the request in flight was cut");
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err(),
        "still accepting after the stop"
    );
}
