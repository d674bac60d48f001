//! Findings of the outside attack-and-fault run: h2c smuggling, CONNECT, and each client
//! deadline measured in its own state.

use super::*;

use common::upstream::{self as up, Received};

fn all_bytes(received: &Received) -> String {
    let all = received.lock().unwrap();
    all.iter()
        .map(|c| String::from_utf8_lossy(c).to_string())
        .collect::<Vec<_>>()
        .join("\n----\n")
}

/// Sends raw bytes over TLS and returns everything read until the server closes or `wait`
/// passes.
async fn raw_exchange(port: u16, sni: &str, first: &str, then: &str, wait: Duration) -> String {
    let mut tls = connect(port, sni, &[b"http/1.1"]).await;
    tls.write_all(first.as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    let mut buf = vec![0u8; 8192];
    if let Ok(Ok(n)) = tokio::time::timeout(wait, tls.read(&mut buf)).await {
        seen.extend_from_slice(&buf[..n]);
    }
    let _ = tls.write_all(then.as_bytes()).await;
    let deadline = Instant::now() + wait;
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline.into(), tls.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&seen).to_string()
}

#[tokio::test]
async fn h2c_upgrades_are_never_tunnelled() {
    let (_redis, cg) = instance(&[]).await;
    let (upstream, received) = up::recording(true).await;
    create_self_signed(&cg.admin(), "h", &["h2c.test"]).await;
    route(&cg, "h2c.test", &upstream.url(), None).await;
    let smuggle = "GET / HTTP/1.1\r\nHost: h2c.test\r\nConnection: Upgrade, HTTP2-Settings\r\n\
                   Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n";
    let inner = "GET /internal-only HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let answer = raw_exchange(
        cg.https_port,
        "h2c.test",
        smuggle,
        inner,
        Duration::from_secs(2),
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 502"),
        "an unasked-for 101 is refused: {answer}"
    );
    let seen = all_bytes(&received);
    assert!(seen.contains("GET / HTTP/1.1"), "{seen}");
    let lower = seen.to_ascii_lowercase();
    assert!(
        !lower.contains("upgrade: h2c") && !lower.contains("http2-settings"),
        "upgrade headers stripped before forwarding: {seen}"
    );
    assert!(
        !seen.contains("/internal-only"),
        "nothing was tunnelled to the upstream: {seen}"
    );

    // A real WebSocket handshake answered with a 101 for another protocol: refused too.
    let ws = "GET /ws HTTP/1.1\r\nHost: h2c.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let answer = raw_exchange(cg.https_port, "h2c.test", ws, inner, Duration::from_secs(2)).await;
    assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");
    assert!(!all_bytes(&received).contains("/internal-only"));
}

#[tokio::test]
async fn connect_gets_405_on_http1_and_http2_and_never_goes_upstream() {
    let (_redis, cg) = instance(&[]).await;
    let (upstream, received) = up::recording(false).await;
    create_self_signed(&cg.admin(), "c", &["c.test"]).await;
    route(&cg, "c.test", &upstream.url(), None).await;

    let answer = raw_exchange(
        cg.https_port,
        "c.test",
        "CONNECT c.test:22 HTTP/1.1\r\nHost: c.test:22\r\n\r\n",
        "SSH-2.0-probe\r\n",
        Duration::from_millis(500),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("\r\nallow: "),
        "{answer}"
    );

    let tls = connect(cg.https_port, "c.test", &[b"h2"]).await;
    let mut h2 = http2(tls).await;
    let req = Request::builder()
        .method(http::Method::CONNECT)
        .uri("c.test:22")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let sent = tokio::time::timeout(Duration::from_secs(5), h2.send_request(req)).await;
    let answer = collect(sent.expect("HTTP/2 CONNECT answered").unwrap()).await;
    assert_eq!(answer.status, 405);
    assert!(answer.headers.contains_key("allow"));

    // Over plain HTTP too.
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", cg.http_port))
        .await
        .unwrap();
    tcp.write_all(b"CONNECT c.test:22 HTTP/1.1\r\nHost: c.test:22\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
        .await
        .expect("plain CONNECT answered")
        .unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 405"));

    assert_eq!(all_bytes(&received), "", "the upstream saw nothing");
}

/// Each client deadline governs exactly its own state. The header and idle deadlines are set
/// above 30 s: hyper's own 30 s header timer used to close both at 30 s whatever was set.
#[tokio::test]
async fn each_timeout_governs_its_own_state() {
    let limits = [
        ("HEADER_READ_TIMEOUT_SECONDS", "32"),
        ("IDLE_TIMEOUT_SECONDS", "33"),
        ("BODY_READ_TIMEOUT_SECONDS", "2"),
        ("BODY_MIN_RATE_BYTES_PER_SECOND", "100"),
    ];
    let (_redis, cg) = instance(&limits).await;
    let echo = upstream::start("one").await;
    let (recorder, received) = up::recording(false).await;
    create_self_signed(&cg.admin(), "t", &["t.test", "rec.test"]).await;
    route(&cg, "t.test", &echo.url(), None).await;
    route(&cg, "rec.test", &recorder.url(), None).await;
    let port = cg.https_port;

    // Headers begun but never finished: closed at HEADER_READ_TIMEOUT_SECONDS.
    let headers = tokio::spawn(async move {
        let mut tls = connect(port, "t.test", &[b"http/1.1"]).await;
        tls.write_all(b"GET / HTTP/1.1\r\nHost: t.test\r\n")
            .await
            .unwrap();
        closed_after(&mut tls).await
    });
    // Idle after one answered request: closed at IDLE_TIMEOUT_SECONDS.
    let idle = tokio::spawn(async move {
        let mut tls = connect(port, "t.test", &[b"http/1.1"]).await;
        tls.write_all(b"GET / HTTP/1.1\r\nHost: t.test\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 65536];
        let _ = tls.read(&mut buf).await.unwrap();
        closed_after(&mut tls).await
    });
    // A body that stalls after its head, and one that drips a byte every 400 ms: 408 at about
    // BODY_READ_TIMEOUT_SECONDS, and the upstream request is aborted.
    let body_case = |drip: bool| async move {
        let mut tls = connect(port, "rec.test", &[b"http/1.1"]).await;
        tls.write_all(
            b"POST /upload HTTP/1.1\r\nHost: rec.test\r\nContent-Length: 100000\r\n\r\nx",
        )
        .await
        .unwrap();
        let started = Instant::now();
        let mut buf = vec![0u8; 4096];
        loop {
            let read = tokio::time::timeout(Duration::from_millis(400), tls.read(&mut buf)).await;
            match read {
                Ok(Ok(0)) | Ok(Err(_)) => return (started.elapsed(), String::new()),
                Ok(Ok(n)) => {
                    return (
                        started.elapsed(),
                        String::from_utf8_lossy(&buf[..n]).to_string(),
                    )
                }
                Err(_) if drip => {
                    let _ = tls.write_all(b"x").await;
                }
                Err(_) => {}
            }
            assert!(started.elapsed() < Duration::from_secs(20), "never cut off");
        }
    };
    let (stalled, dripping) = tokio::join!(body_case(false), body_case(true));
    for (what, (took, answer)) in [("stalled", stalled), ("dripping", dripping)] {
        assert!(
            answer.starts_with("HTTP/1.1 408"),
            "{what} body: {answer:?}"
        );
        assert!(
            took >= Duration::from_millis(1500) && took < Duration::from_secs(5),
            "{what} body cut after {took:?}"
        );
        println!("body deadline ({what}): {took:?}");
    }
    assert_eq!(
        received.lock().unwrap().len(),
        2,
        "both uploads reached the upstream"
    );

    let t = headers.await.unwrap();
    println!("header deadline: {t:?}");
    assert!(
        t >= Duration::from_secs(31) && t < Duration::from_secs(35),
        "unfinished headers closed after {t:?} (HEADER_READ_TIMEOUT_SECONDS=32)"
    );
    let t = idle.await.unwrap();
    println!("idle deadline: {t:?}");
    assert!(
        t >= Duration::from_secs(32) && t < Duration::from_secs(36),
        "idle keep-alive closed after {t:?} (IDLE_TIMEOUT_SECONDS=33)"
    );
}

/// With the process at 256 descriptors, 300 idle admin connections (no token needed to hold
/// one) used to starve the public listeners. The admin listener now has its own cap sized from
/// the limit, so HTTPS and the HTTP listener's /health keep answering; and an admin client that
/// never finishes its headers is cut off like an edge client.
#[tokio::test]
async fn admin_connections_cannot_starve_the_public_listeners() {
    let redis = Redis::start().await;
    let mut env = common::base_env(&redis.url(), "fd:");
    env.push(("HEADER_READ_TIMEOUT_SECONDS".into(), "2".into()));
    let cg = Certgate::start_limited(env, Some(256)).await;
    let echo = upstream::start("one").await;
    create_self_signed(&cg.admin(), "fd", &["fd.test"]).await;
    route(&cg, "fd.test", &echo.url(), None).await;
    let log = std::fs::read_to_string(&cg.log).unwrap();
    assert!(
        log.contains("connection caps sized from the open-file limit") && log.contains("256"),
        "start-up logs the figures: {log}"
    );

    let mut held = Vec::new();
    for _ in 0..300 {
        match tokio::net::TcpStream::connect(("127.0.0.1", cg.admin_port)).await {
            Ok(tcp) => held.push(tcp),
            Err(_) => break,
        }
    }
    // Give the accept loop time to take what it may.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..10 {
        let answer = tokio::time::timeout(
            Duration::from_secs(5),
            get(cg.https_port, "fd.test", "fd.test", "/"),
        )
        .await
        .expect("HTTPS answers while admin connections are held");
        assert_eq!(answer.status, 200);
    }
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", cg.http_port))
        .await
        .unwrap();
    tcp.write_all(b"GET /health HTTP/1.1\r\nHost: fd.test\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
        .await
        .expect("/health on the HTTP listener answers")
        .unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    drop(held);

    // The admin listener's header deadline.
    let mut slow = tokio::net::TcpStream::connect(("127.0.0.1", cg.admin_port))
        .await
        .unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
    let t = closed_after(&mut slow).await;
    assert!(
        t >= Duration::from_millis(1500) && t < Duration::from_secs(5),
        "unfinished admin headers closed after {t:?}"
    );
}

/// While Redis is known to be down, a handshake for a name not in the cache gets the default
/// certificate at once (it used to stall for the 3 s command timeout).
#[tokio::test]
async fn handshakes_fail_fast_while_redis_is_down() {
    let (mut redis, cg) = instance(&[("SELF_SIGNED_DAYS", "2")]).await;
    redis.stop();
    let admin = cg.admin();
    common::wait_store_down(&admin).await;
    let mut lifetimes = Vec::new();
    for i in 0..3 {
        let started = Instant::now();
        let tls = connect(cg.https_port, &format!("unknown{i}.test"), &[b"http/1.1"]).await;
        let took = started.elapsed();
        let leaf = served_leaf(&tls);
        let info = certgate::certs::pem::leaf_info_der(&leaf).unwrap();
        assert_eq!(info.names, vec!["certgate.invalid".to_owned()]);
        lifetimes.push(info.not_after - info.not_before);
        println!("handshake with Redis down: {took:?}");
        assert!(
            took < Duration::from_millis(1000),
            "handshake took {took:?}"
        );
    }
}
