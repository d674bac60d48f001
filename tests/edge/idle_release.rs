//! An idle HTTP/1.1 connection gives its hyper buffers back after a quiet spell
//! (`edge::release_hold`: 50 ms, 250 ms for a client that came back sooner than that) and
//! is served again when its client speaks: the bytes
//! read before the release (a pipelined, half-sent request) and WebSocket upgrades survive it.
//! An HTTP/2 connection gives rustls' receive buffer back after as long a quiet spell and goes
//! on serving.

use super::*;

/// Reads from `tls` until `needle` has been seen `times` times in total; returns all read.
async fn read_until<S: tokio::io::AsyncRead + Unpin>(
    tls: &mut S,
    needle: &str,
    times: usize,
) -> String {
    let mut seen = String::new();
    let mut buf = vec![0u8; 16384];
    while seen.matches(needle).count() < times {
        let n = tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf))
            .await
            .expect("answer within 5 s")
            .expect("read");
        assert!(n > 0, "connection closed; read so far: {seen:?}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    seen
}

#[tokio::test]
async fn keep_alive_connections_are_served_across_idle_releases() {
    let (_redis, cg) = instance(&[]).await;
    let echo = upstream::start("one").await;
    create_self_signed(&cg.admin(), "r", &["r.test"]).await;
    route(&cg, "r.test", &echo.url(), None).await;
    let mut tls = connect(cg.https_port, "r.test", &[b"http/1.1"]).await;

    // One request, and half of the next one pipelined behind it: hyper has read those bytes
    // when the connection goes quiet and lets go of it.
    tls.write_all(b"GET /first HTTP/1.1\r\nHost: r.test\r\n\r\nGET /second HTTP/1.1\r\nHo")
        .await
        .unwrap();
    let first = read_until(&mut tls, "\"uri\":", 1).await;
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    assert!(first.contains("/first"), "{first}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    tls.write_all(b"st: r.test\r\n\r\n").await.unwrap();
    let second = read_until(&mut tls, "\"uri\":", 1).await;
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");
    assert!(
        second.contains("/second"),
        "the half-sent request was kept: {second}"
    );
    assert!(
        !second.to_ascii_lowercase().contains("connection: close"),
        "{second}"
    );

    // Quiet again (nothing pending this time), then a WebSocket upgrade on the same connection.
    tokio::time::sleep(Duration::from_millis(800)).await;
    tls.write_all(
        b"GET /ws HTTP/1.1\r\nHost: r.test\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let upgraded = read_until(&mut tls, "\r\n\r\n", 1).await;
    assert!(upgraded.starts_with("HTTP/1.1 101"), "{upgraded}");
    tls.write_all(b"ping after release").await.unwrap();
    let echoed = read_until(&mut tls, "ping after release", 1).await;
    assert!(echoed.contains("ping after release"), "{echoed}");
}

#[tokio::test]
async fn http2_connections_are_served_across_quiet_spells() {
    // An HTTP/2 connection gives rustls' receive buffer back once it has been quiet for
    // `RELEASE_AFTER` (`edge::activity::Guarded::release_when_quiet`): the requests after each
    // quiet spell, one of them with a body, are answered whole on the same connection.
    let (_redis, cg) = instance(&[]).await;
    let echo = upstream::start("one").await;
    create_self_signed(&cg.admin(), "r2", &["r2.test"]).await;
    route(&cg, "r2.test", &echo.url(), None).await;
    let tls = connect(cg.https_port, "r2.test", &[b"h2"]).await;
    let mut h2 = http2(tls).await;
    for (round, body) in [Bytes::new(), Bytes::from(vec![b'b'; 40_000]), Bytes::new()]
        .into_iter()
        .enumerate()
    {
        let bytes = body.len();
        let request = Request::post(format!("https://r2.test/round/{round}"))
            .body(Full::new(body))
            .unwrap();
        let answer = collect(h2.send_request(request).await.unwrap()).await;
        assert_eq!(answer.status, 200, "round {round}");
        assert_eq!(answer.json()["uri"], format!("/round/{round}"));
        assert_eq!(answer.json()["body_bytes"], bytes, "round {round}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
