//! Slow clients and graceful shutdown.

use super::*;

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
        closed_after(&mut tls).await
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

/// `UPSTREAM_TIMEOUT_SECONDS` is the upstream's time to answer once the request is sent, not a
/// cap on the upload: a body streamed for three times the timeout to an upstream that reads it
/// whole before answering is answered; an upstream silent after the body ends gets `504`.
#[tokio::test]
async fn the_upstream_timeout_runs_from_the_end_of_the_request() {
    let (_redis, cg) = instance(&[("UPSTREAM_TIMEOUT_SECONDS", "1")]).await;
    let up = upstream::start("upload").await;
    create_self_signed(&cg.admin(), "upload", &["upload.test"]).await;
    route(&cg, "upload.test", &up.url(), None).await;
    let port = cg.https_port;

    let chunks = futures_util::stream::unfold(0u32, |sent| async move {
        if sent == 6 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let frame = hyper::body::Frame::data(Bytes::from(vec![b'u'; 1000]));
        Some((Ok::<_, std::io::Error>(frame), sent + 1))
    });
    let mut sender = http1(connect(port, "upload.test", &[b"http/1.1"]).await).await;
    let req = Request::post("/upload")
        .header("host", "upload.test")
        .body(http_body_util::StreamBody::new(chunks))
        .unwrap();
    let answer = collect(sender.send_request(req).await.unwrap()).await;
    assert_eq!(
        answer.status,
        200,
        "a 3 s upload with a 1 s upstream timeout: {}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(answer.json()["body_bytes"], json!(6000));

    // The body sent, the upstream takes 3 s to answer: 504 after about one second.
    let mut sender = http1(connect(port, "upload.test", &[b"http/1.1"]).await).await;
    let req = Request::post("/slow/3000")
        .header("host", "upload.test")
        .body(Full::new(Bytes::from_static(b"small")))
        .unwrap();
    let started = Instant::now();
    let answer = collect(sender.send_request(req).await.unwrap()).await;
    assert_eq!(answer.status, 504);
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "504 after {:?}",
        started.elapsed()
    );
}
