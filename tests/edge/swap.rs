//! Changes served without restart, also under continuous load.

use super::*;

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
