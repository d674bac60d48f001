//! Forwarding rules: status codes, headers, upgrades, large bodies, route permissions. The
//! upstream connection pool is in `upstream_connections.rs`.

use super::*;

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

    // Heads larger than hyper's first read and write buffers (2 KiB in the vendored copy, 8 KiB
    // as published) pass whole both ways, and the connection goes on with a small request.
    let cookie = "c".repeat(12_000);
    let req = Request::get("/echo")
        .header("host", "a.test")
        .header("cookie", &cookie)
        .header("x-mirror", &cookie)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let answer = collect(h1.send_request(req).await.unwrap()).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["headers"]["cookie"], cookie.as_str());
    assert_eq!(answer.headers["x-mirror"], cookie.as_str());
    let req = Request::get("/echo")
        .header("host", "a.test")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let answer = collect(h1.send_request(req).await.unwrap()).await;
    assert_eq!(answer.status, 200);
    assert!(answer.json()["headers"].get("cookie").is_none());

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
    let mut up_sender = http1(connect(cg.https_port, "a.test", &[b"http/1.1"]).await).await;
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
        // IPv6 forms that embed a loopback or link-local IPv4 address.
        "http://[::ffff:127.0.0.1]:8080",
        "http://[::127.0.0.1]:8080",
        "http://[64:ff9b::7f00:1]:8080",
        "http://[64:ff9b:1::a9fe:a9fe]",
        "http://[2002:7f00:1::1]:8080",
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
            json!({ "hostname": "c.test", "upstream": "ftp://x.test" }),
            "upstream",
        ),
        (
            json!({ "hostname": "*.c.test", "upstream": "http://127.0.0.1:1" }),
            "hostname",
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
    // A well-formed name of a certificate that does not exist: the state refuses it.
    let body =
        json!({ "hostname": "c.test", "upstream": "http://127.0.0.1:1", "cert_name": "nope" });
    let r = admin.post("/proxies/", &body).await.unwrap();
    assert_eq!(r.status, 409, "{}", r.json());
    assert_eq!(r.json()["error"], "unavailable");
    assert_eq!(r.json()["field"], "cert_name");
}

/// Forwarding failures say which side failed (metrics label `reason`), and the client's own
/// broken body is its fault: a malformed chunked body gets `400`, not `502`.
#[tokio::test]
async fn upstream_failures_say_which_side_failed() {
    let (_redis, cg) = instance(&[("UPSTREAM_TIMEOUT_SECONDS", "1")]).await;
    let up = upstream::start("one").await;
    // Reads the request head, then closes without answering.
    let resetting = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let reset_addr = resetting.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = resetting.accept().await {
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf).await;
        }
    });
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    create_self_signed(&cg.admin(), "f", &["ok.test", "reset.test", "refused.test"]).await;
    route(&cg, "ok.test", &up.url(), None).await;
    route(&cg, "reset.test", &format!("http://{reset_addr}"), None).await;
    route(&cg, "refused.test", &format!("http://{closed}"), None).await;
    let port = cg.https_port;

    assert_eq!(get(port, "reset.test", "reset.test", "/").await.status, 502);
    assert_eq!(
        get(port, "refused.test", "refused.test", "/").await.status,
        502
    );
    let malformed = "POST /echo HTTP/1.1\r\nHost: ok.test\r\nTransfer-Encoding: chunked\r\n\r\n\
                     5\r\nhello\r\nzz-not-a-size\r\n\r\n";
    assert_eq!(raw_status(port, "ok.test", malformed).await, 400);

    let r = cg.client(None).get("/metrics").await.unwrap();
    let metrics = String::from_utf8_lossy(&r.body).to_string();
    for series in [
        r#"certgate_upstream_failures_total{route="reset.test",reason="upstream_reset"} 1"#,
        r#"certgate_upstream_failures_total{route="refused.test",reason="upstream_connect"} 1"#,
        r#"certgate_upstream_failures_total{route="ok.test",reason="client_body"} 1"#,
    ] {
        assert!(metrics.contains(series), "{series} missing in:\n{metrics}");
    }
}
