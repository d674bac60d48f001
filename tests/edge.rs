//! The HTTPS edge end to end: SNI, routes, forwarding, hot swap, protections, shutdown.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use common::client::{self, collect, connect, get, http1, http2, leaf_der, served_leaf};
use common::{create_self_signed, upstream, Certgate, Redis};

async fn instance(extra: &[(&str, &str)]) -> (Redis, Certgate) {
    let redis = Redis::start().await;
    let cg = Certgate::start(&redis.url(), "e:", extra).await;
    (redis, cg)
}

async fn route(cg: &Certgate, hostname: &str, upstream: &str, cert: Option<&str>) {
    let mut body = json!({ "hostname": hostname, "upstream": upstream });
    if let Some(c) = cert {
        body["cert_name"] = json!(c);
    }
    let r = cg.admin().post("/proxies/", &body).await.unwrap();
    assert_eq!(r.status, 201, "{}", r.json());
}

async fn chain_of(cg: &Certgate, name: &str) -> String {
    let cert = cg
        .admin()
        .get(&format!("/certificates/{name}?pem=true"))
        .await
        .unwrap()
        .json();
    cert["fullchain_pem"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn sni_picks_exact_wildcard_and_default_over_h1_and_h2() {
    let (_redis, cg) = instance(&[]).await;
    let up = upstream::start("one").await;
    create_self_signed(&cg.admin(), "a", &["a.test"]).await;
    create_self_signed(&cg.admin(), "b", &["b.test"]).await;
    create_self_signed(&cg.admin(), "wild", &["*.w.test"]).await;
    route(&cg, "a.test", &up.url(), None).await;
    route(&cg, "x.w.test", &up.url(), None).await;
    let (a, b, wild) = (
        chain_of(&cg, "a").await,
        chain_of(&cg, "b").await,
        chain_of(&cg, "wild").await,
    );

    for (sni, expected) in [
        ("a.test", &a),
        ("b.test", &b),
        ("x.w.test", &wild),
        ("y.w.test", &wild),
    ] {
        let tls = connect(cg.https_port, sni, &[b"http/1.1"]).await;
        assert_eq!(served_leaf(&tls), leaf_der(expected), "{sni}");
    }
    let tls = connect(cg.https_port, "unknown.test", &[b"http/1.1"]).await;
    let default = served_leaf(&tls);
    assert!(
        ![&a, &b, &wild].iter().any(|c| leaf_der(c) == default),
        "unknown names get the default certificate"
    );
    let info = certgate::certs::pem::leaf_info(&format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        base64(&default)
    ))
    .unwrap();
    assert_eq!(info.names, vec!["certgate.invalid"]);

    // HTTP/1.1 and HTTP/2 both reach the upstream.
    let answer = get(cg.https_port, "a.test", "a.test", "/h1?q=1").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["uri"], "/h1?q=1");
    let tls = connect(cg.https_port, "x.w.test", &[b"h2"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let mut h2 = http2(tls).await;
    let req = Request::get("https://x.w.test/h2")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let answer = collect(h2.send_request(req).await.unwrap()).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["uri"], "/h2");
    assert_eq!(answer.json()["headers"]["host"], "x.w.test");
}

fn base64(der: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in der.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[tokio::test]
async fn bounded_cache_loads_on_demand_and_remembers_unknown_names() {
    let (redis, cg) = instance(&[("CERT_CACHE_SIZE", "2")]).await;
    let names: Vec<String> = (0..5).map(|i| format!("c{i}")).collect();
    for n in &names {
        create_self_signed(&cg.admin(), n, &[&format!("{n}.test")]).await;
    }
    for _round in 0..2 {
        for n in &names {
            let tls = connect(cg.https_port, &format!("{n}.test"), &[b"http/1.1"]).await;
            assert_eq!(served_leaf(&tls), leaf_der(&chain_of(&cg, n).await), "{n}");
        }
    }
    let lookups = || async { hkeys_calls(&redis).await };
    let _ = connect(cg.https_port, "nobody.test", &[b"http/1.1"]).await;
    let after_first = lookups().await;
    for _ in 0..10 {
        let _ = connect(cg.https_port, "nobody.test", &[b"http/1.1"]).await;
    }
    assert_eq!(
        lookups().await,
        after_first,
        "repeated unknown names must not reach Redis"
    );
}

/// How many HKEYS commands Redis has served (the on-demand claim lookups).
async fn hkeys_calls(redis: &Redis) -> u64 {
    use fred::prelude::ClientLike;
    let client = redis.client().await;
    let cmd = fred::types::CustomCommand::new_static("INFO", None, false);
    let info: String = client.custom(cmd, vec!["commandstats"]).await.unwrap();
    info.lines()
        .find(|l| l.starts_with("cmdstat_hkeys:"))
        .and_then(|l| l.split("calls=").nth(1))
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Sends raw bytes over TLS and returns the status line's code.
async fn raw_status(port: u16, sni: &str, request: &str) -> u16 {
    let mut tls = connect(port, sni, &[b"http/1.1"]).await;
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), tls.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    text.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn status_codes_in_order_and_header_rules() {
    let (_redis, cg) = instance(&[("UPSTREAM_TIMEOUT_SECONDS", "1")]).await;
    let up = upstream::start("one").await;
    let hole = upstream::black_hole().await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    create_self_signed(&cg.admin(), "a", &["a.test", "refused.test", "slow.test"]).await;
    create_self_signed(&cg.admin(), "b", &["b.test"]).await;
    route(&cg, "a.test", &up.url(), None).await;
    route(&cg, "b.test", &up.url(), None).await;
    route(&cg, "refused.test", &format!("http://{closed}"), None).await;
    route(&cg, "slow.test", &hole.url(), None).await;
    let port = cg.https_port;

    assert_eq!(
        raw_status(port, "a.test", "GET / HTTP/1.1\r\n\r\n").await,
        400,
        "missing Host"
    );
    assert_eq!(
        raw_status(
            port,
            "a.test",
            "GET / HTTP/1.1\r\nHost: a.test\r\nHost: a.test\r\n\r\n"
        )
        .await,
        400,
        "duplicate Host"
    );
    assert_eq!(
        raw_status(
            port,
            "a.test",
            "GET http://b.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n"
        )
        .await,
        400,
        "absolute-form naming another host"
    );
    assert_eq!(
        raw_status(port, "a.test", "GET / HTTP/1.1\r\nHost: b.test\r\n\r\n").await,
        421,
        "Host not covered by the SNI certificate"
    );
    assert_eq!(
        raw_status(port, "a.test", "GET / HTTP/1.1\r\nHost: bad host\r\n\r\n").await,
        400,
        "400 before 421"
    );
    create_self_signed(&cg.admin(), "n", &["noroute.test"]).await;
    assert_eq!(
        get(port, "noroute.test", "noroute.test", "/").await.status,
        404
    );
    assert_eq!(
        get(port, "refused.test", "refused.test", "/").await.status,
        502
    );
    let started = Instant::now();
    assert_eq!(get(port, "slow.test", "slow.test", "/").await.status, 504);
    assert!(started.elapsed() < Duration::from_secs(5));
    // The SNI certificate covers another routed name: no 421.
    assert_eq!(get(port, "a.test", "refused.test", "/").await.status, 502);

    // Hop-by-hop headers stripped, spoofed X-Forwarded-* replaced, Host preserved.
    let tls = connect(port, "a.test", &[b"http/1.1"]).await;
    let mut h1 = http1(tls).await;
    let req = Request::get("/echo")
        .header("host", "a.test")
        .header("connection", "keep-alive, x-hop")
        .header("x-hop", "secret")
        .header("keep-alive", "timeout=5")
        .header("proxy-connection", "keep-alive")
        .header("te", "trailers")
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-forwarded-host", "evil.test")
        .header("x-forwarded-proto", "http")
        .header("x-kept", "yes")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let answer = collect(h1.send_request(req).await.unwrap()).await;
    let headers = &answer.json()["headers"];
    for hop in ["x-hop", "keep-alive", "proxy-connection", "te"] {
        assert!(headers.get(hop).is_none(), "{hop} forwarded: {headers}");
    }
    assert_eq!(headers["x-kept"], "yes");
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(headers["x-forwarded-host"], "a.test");
    assert_eq!(headers["x-forwarded-proto"], "https");
    assert_eq!(headers["host"], "a.test");
    assert!(
        answer.headers.get("keep-alive").is_none(),
        "upstream's hop-by-hop header removed from the answer"
    );
    assert_eq!(answer.headers["x-upstream"], "one");

    // Oversized headers: 431.
    let big = "x".repeat(40_000);
    assert_eq!(
        raw_status(
            port,
            "a.test",
            &format!("GET / HTTP/1.1\r\nHost: a.test\r\nX-Big: {big}\r\n\r\n")
        )
        .await,
        431
    );
}

#[tokio::test]
async fn websocket_and_large_bodies_stream_through() {
    let (_redis, cg) = instance(&[]).await;
    let up = upstream::start("one").await;
    create_self_signed(&cg.admin(), "a", &["a.test"]).await;
    route(&cg, "a.test", &up.url(), None).await;

    // WebSocket-style upgrade and echo.
    let tls = connect(cg.https_port, "a.test", &[b"http/1.1"]).await;
    let mut h1 = http1(tls).await;
    let req = Request::get("/ws")
        .header("host", "a.test")
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = h1.send_request(req).await.unwrap();
    assert_eq!(response.status(), 101);
    let upgraded = hyper::upgrade::on(response).await.unwrap();
    let mut io = hyper_util::rt::TokioIo::new(upgraded);
    for message in ["hello", "through the edge"] {
        io.write_all(message.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; message.len()];
        tokio::time::timeout(Duration::from_secs(5), io.read_exact(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(buf, message.as_bytes());
    }

    // 100 MB each way, streamed: certgate's resident memory stays bounded.
    let pid = cg.pid().unwrap();
    let size = 100 * 1024 * 1024;
    let tls = connect(cg.https_port, "a.test", &[b"http/1.1"]).await;
    let mut h1 = http1(tls).await;
    let chunks = futures_util::stream::iter((0..size / 65536).map(|_| {
        Ok::<_, std::io::Error>(hyper::body::Frame::data(Bytes::from(vec![b'u'; 65536])))
    }));
    let body = http_body_util::StreamBody::new(chunks);
    let (mut up_sender, conn) = {
        let tls = connect(cg.https_port, "a.test", &[b"http/1.1"]).await;
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .unwrap()
    };
    tokio::spawn(conn);
    let req = Request::post("/upload")
        .header("host", "a.test")
        .body(body)
        .unwrap();
    let answer = collect(up_sender.send_request(req).await.unwrap()).await;
    assert_eq!(answer.json()["body_bytes"], json!(size));
    let req = Request::get(format!("/download/{size}"))
        .header("host", "a.test")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = h1.send_request(req).await.unwrap();
    let mut body = response.into_body();
    let mut received = 0usize;
    while let Some(frame) = http_body_util::BodyExt::frame(&mut body).await {
        received += frame.unwrap().data_ref().map_or(0, |d| d.len());
    }
    assert_eq!(received, size);
    let peak_kib = peak_rss_kib(pid);
    assert!(
        peak_kib < 96 * 1024,
        "certgate's peak RSS {peak_kib} KiB suggests buffering"
    );
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[tokio::test]
async fn route_rules_for_non_admin_tokens() {
    let (_redis, cg) = instance(&[]).await;
    let admin = cg.admin();
    let token = |name: &'static str| {
        let admin = admin.clone();
        async move {
            admin
                .post("/tokens/", &json!({ "name": name }))
                .await
                .unwrap()
                .json()["token"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let a = cg.client(Some(&token("a").await));
    let b = cg.client(Some(&token("b").await));
    create_self_signed(&a, "a-cert", &["a.test"]).await;
    for upstream in [
        "http://127.0.0.1:8080",
        "http://localhost:9000",
        "http://169.254.169.254",
    ] {
        let r = b
            .post(
                "/proxies/",
                &json!({ "hostname": "b.test", "upstream": upstream }),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 403, "{upstream}: {}", r.json());
    }
    let r = b.post("/proxies/", &json!({ "hostname": "b.test", "upstream": "http://192.0.2.10:8080", "cert_name": "a-cert" })).await.unwrap();
    assert_eq!(r.status, 403, "another owner's certificate");
    let r = b
        .post(
            "/proxies/",
            &json!({ "hostname": "a.test", "upstream": "http://192.0.2.10:8080" }),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 403, "another owner's hostname");
    let r = b
        .post(
            "/proxies/",
            &json!({ "hostname": "b.test", "upstream": "http://192.0.2.10:8080" }),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.json());
    let r = a.post("/proxies/", &json!({ "hostname": "a.test", "upstream": "http://192.0.2.10:8080", "cert_name": "a-cert" })).await.unwrap();
    assert_eq!(r.status, 201);
    assert_eq!(a.delete("/proxies/b.test").await.unwrap().status, 403);
    assert_eq!(
        b.get("/proxies/a.test")
            .await
            .unwrap()
            .json()
            .get("owner_token_hash"),
        None
    );
    let r = admin
        .post(
            "/proxies/",
            &json!({ "hostname": "b.test", "upstream": "http://127.0.0.1:1" }),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 409);
    for (body, field) in [
        (
            json!({ "hostname": "c.test", "upstream": "https://x.test" }),
            "upstream",
        ),
        (
            json!({ "hostname": "*.c.test", "upstream": "http://127.0.0.1:1" }),
            "hostname",
        ),
        (
            json!({ "hostname": "c.test", "upstream": "http://127.0.0.1:1", "cert_name": "nope" }),
            "cert_name",
        ),
        (
            json!({ "hostname": "c.test", "upstream": "http://127.0.0.1:1", "extra": 1 }),
            "extra",
        ),
    ] {
        let r = admin.post("/proxies/", &body).await.unwrap();
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(r.json()["field"], field);
    }
}

#[tokio::test]
async fn changes_are_served_without_restart_and_http_routes() {
    let (_redis, cg) = instance(&[]).await;
    let (one, two) = (upstream::start("one").await, upstream::start("two").await);
    create_self_signed(&cg.admin(), "h", &["h.test", "plain.test"]).await;
    route(&cg, "h.test", &one.url(), Some("h")).await;
    assert_eq!(
        get(cg.https_port, "h.test", "h.test", "/").await.headers["x-upstream"],
        "one"
    );
    let r = cg
        .admin()
        .send(
            http::Method::PUT,
            "/proxies/h.test",
            Some(&json!({ "upstream": two.url(), "cert_name": "h" })),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.json());
    assert_eq!(
        get(cg.https_port, "h.test", "h.test", "/").await.headers["x-upstream"],
        "two"
    );

    let before = chain_of(&cg, "h").await;
    cg.admin()
        .post("/certificates/h/renew", &json!({}))
        .await
        .unwrap();
    common::wait_generation(&cg.admin(), "h", Duration::from_secs(30)).await;
    let after = chain_of(&cg, "h").await;
    assert_ne!(before, after);
    let tls = connect(cg.https_port, "h.test", &[b"http/1.1"]).await;
    assert_eq!(
        served_leaf(&tls),
        leaf_der(&after),
        "renewed certificate served on the next handshake"
    );

    // Plain HTTP: redirected by default, proxied when the route says so.
    let http =
        certgate::client::AdminClient::new(&format!("http://127.0.0.1:{}", cg.http_port), None);
    let r = http
        .send_raw(http::Method::GET, "/p?x=1", &[("host", "h.test")], None)
        .await
        .unwrap();
    assert_eq!(r.status, 308);
    route(&cg, "plain.test", &one.url(), None).await;
    let r = cg
        .admin()
        .send(
            http::Method::PUT,
            "/proxies/plain.test",
            Some(&json!({ "upstream": one.url(), "https_redirect": false })),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let r = http
        .send_raw(http::Method::GET, "/p?x=1", &[("host", "plain.test")], None)
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["headers"]["x-forwarded-proto"], "http");

    // Deleting the route: 404; deleting the certificate: the default certificate.
    assert_eq!(
        cg.admin().delete("/proxies/h.test").await.unwrap().status,
        204
    );
    assert_eq!(
        get(cg.https_port, "h.test", "h.test", "/").await.status,
        404
    );
    assert_eq!(
        cg.admin()
            .delete("/certificates/h?force=true")
            .await
            .unwrap()
            .status,
        204
    );
    let tls = connect(cg.https_port, "h.test", &[b"http/1.1"]).await;
    assert_ne!(served_leaf(&tls), leaf_der(&after));
}

#[tokio::test]
async fn swap_under_load_fails_no_request() {
    let (_redis, cg) = instance(&[]).await;
    let (one, two) = (upstream::start("one").await, upstream::start("two").await);
    create_self_signed(&cg.admin(), "load", &["load.test"]).await;
    route(&cg, "load.test", &one.url(), Some("load")).await;
    let port = cg.https_port;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));

    // Keep-alive HTTP/1.1 and HTTP/2 senders, and one fresh handshake per request.
    let mut workers = Vec::new();
    for kind in 0..3 {
        let stop = stop.clone();
        workers.push(tokio::spawn(async move {
            let (mut ok, mut failed) = (0u32, Vec::new());
            let mut h1 = http1(connect(port, "load.test", &[b"http/1.1"]).await).await;
            let mut h2 = http2(connect(port, "load.test", &[b"h2"]).await).await;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || ok < 700 {
                let status = match kind {
                    0 => {
                        let req = Request::get("/k")
                            .header("host", "load.test")
                            .body(Full::new(Bytes::new()))
                            .unwrap();
                        h1.send_request(req).await.map(|r| r.status().as_u16())
                    }
                    1 => {
                        let req = Request::get("https://load.test/k2")
                            .body(Full::new(Bytes::new()))
                            .unwrap();
                        h2.send_request(req).await.map(|r| r.status().as_u16())
                    }
                    _ => Ok(get(port, "load.test", "load.test", "/fresh").await.status),
                };
                match status {
                    Ok(200) => ok += 1,
                    other => failed.push(format!("{other:?}")),
                }
            }
            (ok, failed)
        }));
    }
    for i in 0..10 {
        cg.admin()
            .post("/certificates/load/renew", &json!({}))
            .await
            .unwrap();
        common::wait_generation(&cg.admin(), "load", Duration::from_secs(30)).await;
        if i == 5 {
            let r = cg
                .admin()
                .send(
                    http::Method::PUT,
                    "/proxies/load.test",
                    Some(&json!({ "upstream": two.url(), "cert_name": "load" })),
                )
                .await
                .unwrap();
            assert_eq!(r.status, 200);
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    for w in workers {
        let (ok, failed) = w.await.unwrap();
        assert!(failed.is_empty(), "failed requests: {failed:?}");
        total += ok;
    }
    assert!(total >= 2000, "only {total} requests");
    let tls = connect(port, "load.test", &[b"http/1.1"]).await;
    assert_eq!(
        served_leaf(&tls),
        leaf_der(&chain_of(&cg, "load").await),
        "a fresh handshake sees the latest certificate"
    );
    assert_eq!(
        get(port, "load.test", "load.test", "/").await.headers["x-upstream"],
        "two"
    );
}

#[tokio::test]
async fn slow_clients_are_cut_off_while_others_are_served() {
    let limits = [
        ("TLS_HANDSHAKE_TIMEOUT_SECONDS", "2"),
        ("HEADER_READ_TIMEOUT_SECONDS", "2"),
        ("IDLE_TIMEOUT_SECONDS", "3"),
    ];
    let (_redis, cg) = instance(&limits).await;
    let up = upstream::start("one").await;
    create_self_signed(&cg.admin(), "s", &["s.test"]).await;
    route(&cg, "s.test", &up.url(), None).await;
    let port = cg.https_port;

    let silent = tokio::spawn(async move {
        let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        closed_after(&mut tcp).await
    });
    let stalled_handshake = tokio::spawn(async move {
        let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        tcp.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
            .await
            .unwrap();
        closed_after(&mut tcp).await
    });
    let dripping = tokio::spawn(async move {
        let mut tls = connect(port, "s.test", &[b"http/1.1"]).await;
        let started = Instant::now();
        for byte in
            b"GET / HTTP/1.1\r\nHost: s.test\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                .iter()
        {
            if tls.write_all(&[*byte]).await.is_err() || tls.flush().await.is_err() {
                return started.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut buf = [0u8; 64];
        let _ = tls.read(&mut buf).await;
        started.elapsed()
    });
    let idle = tokio::spawn(async move {
        let mut tls = connect(port, "s.test", &[b"http/1.1"]).await;
        tls.write_all(b"GET / HTTP/1.1\r\nHost: s.test\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 65536];
        let _ = tls.read(&mut buf).await.unwrap();
        let started = Instant::now();
        loop {
            match tls.read(&mut buf).await {
                Ok(0) | Err(_) => return started.elapsed(),
                Ok(_) => {}
            }
        }
    });
    // Meanwhile, normal requests succeed.
    for _ in 0..20 {
        assert_eq!(get(port, "s.test", "s.test", "/").await.status, 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let margin = Duration::from_millis(1500);
    let t = silent.await.unwrap();
    assert!(
        t >= Duration::from_millis(1900) && t < Duration::from_secs(2) + margin,
        "silent connection closed after {t:?}"
    );
    let t = stalled_handshake.await.unwrap();
    assert!(
        t < Duration::from_secs(2) + margin,
        "stalled handshake closed after {t:?}"
    );
    let t = dripping.await.unwrap();
    assert!(
        t < Duration::from_secs(2) + margin,
        "dripping headers closed after {t:?}"
    );
    let t = idle.await.unwrap();
    assert!(
        t >= Duration::from_millis(2500) && t < Duration::from_secs(3) + margin,
        "idle keep-alive closed after {t:?}"
    );
}

/// Reads until the peer closes; how long that took.
async fn closed_after(tcp: &mut tokio::net::TcpStream) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(30), tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return started.elapsed(),
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn graceful_shutdown_lets_in_flight_requests_finish() {
    let (_redis, mut cg) = instance(&[]).await;
    let up = upstream::start("one").await;
    create_self_signed(&cg.admin(), "g", &["g.test"]).await;
    route(&cg, "g.test", &up.url(), None).await;
    let port = cg.https_port;
    let slow = tokio::spawn(async move { get(port, "g.test", "g.test", "/slow/2000").await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    cg.terminate();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err(),
        "no longer accepting"
    );
    let answer = slow.await.unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, Bytes::from_static(b"slow done"));
    let status = cg.wait_exit();
    assert_eq!(status.code(), Some(0));
}

#[allow(dead_code)]
fn unused(_: Value, _: client::Answer) {}
