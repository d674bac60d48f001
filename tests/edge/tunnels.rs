//! WebSocket tunnels: they live as long as they are used, close after a silence both ways, keep
//! their connection's place under `MAX_CONNECTIONS`, and get the drain grace at shutdown.

use super::*;

use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;

/// Opens a WebSocket-style tunnel to the echo upstream's `/ws` through certgate.
async fn open_tunnel(port: u16, host: &str) -> TokioIo<Upgraded> {
    let mut h1 = http1(connect(port, host, &[b"http/1.1"]).await).await;
    let req = Request::get("/ws")
        .header("host", host)
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = h1.send_request(req).await.unwrap();
    assert_eq!(response.status(), 101);
    TokioIo::new(hyper::upgrade::on(response).await.unwrap())
}

/// Sends `message` and reads its echo (within 5 s).
async fn echo(io: &mut TokioIo<Upgraded>, message: &str) -> Result<(), String> {
    io.write_all(message.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut buf = vec![0u8; message.len()];
    match tokio::time::timeout(Duration::from_secs(5), io.read_exact(&mut buf)).await {
        Ok(Ok(_)) if buf == message.as_bytes() => Ok(()),
        Ok(Ok(_)) => Err(format!("echo differs: {:?}", String::from_utf8_lossy(&buf))),
        Ok(Err(e)) => Err(format!("read: {e}")),
        Err(_) => Err("no echo within 5 s".into()),
    }
}

#[tokio::test]
async fn a_busy_tunnel_outlives_the_request_deadlines_and_a_silent_one_closes() {
    let (_redis, cg) = instance(&[
        ("HEADER_READ_TIMEOUT_SECONDS", "2"),
        ("IDLE_TIMEOUT_SECONDS", "2"),
        ("TUNNEL_IDLE_TIMEOUT_SECONDS", "3"),
    ])
    .await;
    let up = upstream::start("ws").await;
    create_self_signed(&cg.admin(), "ws", &["ws.test"]).await;
    route(&cg, "ws.test", &up.url(), None).await;

    let mut io = open_tunnel(cg.https_port, "ws.test").await;
    // A frame every second for six seconds: three times the header and idle deadlines.
    for i in 0..6 {
        echo(&mut io, &format!("frame {i}"))
            .await
            .unwrap_or_else(|e| panic!("frame {i} of a busy tunnel: {e}"));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // Then silence both ways: closed after TUNNEL_IDLE_TIMEOUT_SECONDS, not before.
    let quiet = closed_after(&mut io).await;
    assert!(
        quiet >= Duration::from_millis(1500) && quiet < Duration::from_secs(8),
        "a silent tunnel closed after {quiet:?}, expected about 3 s (one second already passed)"
    );
}

#[tokio::test]
async fn tunnels_keep_their_connection_place_and_get_the_drain_grace() {
    let (_redis, mut cg) =
        instance(&[("MAX_CONNECTIONS", "3"), ("DRAIN_GRACE_SECONDS", "4")]).await;
    let up = upstream::start("ws").await;
    create_self_signed(&cg.admin(), "ws", &["ws.test"]).await;
    route(&cg, "ws.test", &up.url(), None).await;
    let port = cg.https_port;

    let mut tunnels = Vec::new();
    for i in 0..3 {
        let Ok(mut io) =
            tokio::time::timeout(Duration::from_secs(5), open_tunnel(port, "ws.test")).await
        else {
            panic!("tunnel {i} not opened: {}", cg.log_text());
        };
        echo(&mut io, "hello").await.unwrap();
        tunnels.push(io);
    }
    // Three tunnels fill MAX_CONNECTIONS=3: a fourth client is not served.
    let fourth = tokio::time::timeout(
        Duration::from_millis(1500),
        get(port, "ws.test", "ws.test", "/"),
    )
    .await;
    if let Ok(answer) = &fourth {
        panic!(
            "a request was served while three tunnels held every connection place: {} {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
    }
    // One tunnel ends: its place is free again.
    drop(tunnels.pop());
    let served = tokio::time::timeout(
        Duration::from_secs(10),
        get(port, "ws.test", "ws.test", "/"),
    )
    .await
    .expect("a place freed by a closed tunnel is taken");
    assert_eq!(served.status, 200);

    // At SIGTERM, open tunnels keep working through the grace, then are closed.
    cg.terminate();
    let stopped = Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for (i, io) in tunnels.iter_mut().enumerate() {
        echo(io, "still there")
            .await
            .unwrap_or_else(|e| panic!("tunnel {i}, 1.5 s into the drain: {e}"));
    }
    let mut io = tunnels.pop().unwrap();
    closed_after(&mut io).await;
    let closed = stopped.elapsed();
    assert!(
        closed >= Duration::from_secs(3) && closed < Duration::from_secs(9),
        "a tunnel open at SIGTERM closed {closed:?} after it; DRAIN_GRACE_SECONDS is 4"
    );
    let status = tokio::task::spawn_blocking(move || cg.wait_exit())
        .await
        .unwrap();
    assert!(status.success(), "certgate exited with {status}");
}
