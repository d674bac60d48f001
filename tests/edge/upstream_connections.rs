//! The connections to upstreams: a bounded, expiring pool; reuse; a connection the upstream
//! closes is replaced without failing the request; a request body still being sent is not
//! waited for.

use super::*;

/// The upstream pool keeps at most UPSTREAM_MAX_IDLE_PER_HOST idle connections after a burst and
/// closes them after UPSTREAM_IDLE_TIMEOUT_SECONDS.
#[tokio::test]
async fn upstream_pool_is_bounded_and_expires() {
    use std::sync::atomic::Ordering;
    let (_redis, cg) = instance(&[
        ("UPSTREAM_MAX_IDLE_PER_HOST", "3"),
        ("UPSTREAM_IDLE_TIMEOUT_SECONDS", "1"),
    ])
    .await;
    let (up, open) = upstream::start_counting("pool").await;
    create_self_signed(&cg.admin(), "pool", &["pool.test"]).await;
    route(&cg, "pool.test", &up.url(), None).await;
    let port = cg.https_port;
    let burst: Vec<_> = (0..20)
        .map(|_| {
            tokio::spawn(async move { get(port, "pool.test", "pool.test", "/slow/300").await })
        })
        .collect();
    let sampler = {
        let open = open.clone();
        tokio::spawn(async move {
            let mut peak = 0;
            for _ in 0..40 {
                peak = peak.max(open.load(Ordering::SeqCst));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            peak
        })
    };
    for request in burst {
        assert_eq!(request.await.unwrap().status, 200);
    }
    let peak = sampler.await.unwrap();
    assert!(
        peak > 3,
        "the burst needed more than 3 upstream connections ({peak})"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = open.load(Ordering::SeqCst);
    assert!(
        idle <= 3,
        "{idle} upstream connections kept after the burst"
    );
    common::wait_until(
        "idle upstream connections to expire",
        Duration::from_secs(5),
        || {
            let open = open.clone();
            async move { open.load(Ordering::SeqCst) == 0 }
        },
    )
    .await;
}

/// Requests one after another share one upstream connection; a connection the upstream closed
/// while it sat idle (at once, or a while later) is never used again, and the request goes on a
/// new one without an error.
#[tokio::test]
async fn upstream_connections_are_reused_and_replaced_when_closed_while_idle() {
    use std::sync::atomic::Ordering;
    let (_redis, cg) = instance(&[]).await;
    let (up, open) = upstream::start_counting("reuse").await;
    let (closes_at_once, accepted_at_once) = upstream::closing_after(Duration::ZERO).await;
    let (closes_later, accepted_later) = upstream::closing_after(Duration::from_millis(100)).await;
    create_self_signed(
        &cg.admin(),
        "reuse",
        &["reuse.test", "at-once.test", "later.test"],
    )
    .await;
    route(&cg, "reuse.test", &up.url(), None).await;
    route(&cg, "at-once.test", &closes_at_once.url(), None).await;
    route(&cg, "later.test", &closes_later.url(), None).await;
    let port = cg.https_port;

    for _ in 0..10 {
        assert_eq!(get(port, "reuse.test", "reuse.test", "/").await.status, 200);
    }
    assert_eq!(
        open.load(Ordering::SeqCst),
        1,
        "ten requests in a row opened more than one upstream connection"
    );

    for i in 0..10 {
        let answer = get(port, "at-once.test", "at-once.test", "/").await;
        assert_eq!(
            answer.status, 200,
            "request {i} to an upstream closing at once"
        );
    }
    for i in 0..4 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let answer = get(port, "later.test", "later.test", "/").await;
        assert_eq!(
            answer.status, 200,
            "request {i} to an upstream closing later"
        );
    }
    assert_eq!(accepted_at_once.load(Ordering::SeqCst), 10);
    assert_eq!(accepted_later.load(Ordering::SeqCst), 4);
}

/// An upstream that closes a kept-alive connection just as the next request arrives on it (its
/// keep-alive timeout, racing the request) costs an idempotent request nothing: it goes again,
/// on a new connection, before any answer byte was seen. A `POST` is not sent twice: `502`.
#[tokio::test]
async fn a_request_on_a_connection_the_upstream_closes_goes_again_on_a_new_one() {
    use std::sync::atomic::Ordering;
    let (_redis, cg) = instance(&[]).await;
    let (up, accepted, lines) = upstream::dropping_second_request().await;
    create_self_signed(&cg.admin(), "race", &["race.test"]).await;
    route(&cg, "race.test", &up.url(), None).await;
    let port = cg.https_port;

    assert_eq!(
        get(port, "race.test", "race.test", "/first").await.status,
        200
    );
    let again = get(port, "race.test", "race.test", "/second").await;
    assert_eq!(
        again.status,
        200,
        "a GET the upstream dropped on a reused connection: {}",
        String::from_utf8_lossy(&again.body)
    );
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        2,
        "the GET went again on a new connection"
    );

    let mut sender = http1(connect(port, "race.test", &[b"http/1.1"]).await).await;
    let post = Request::post("/order")
        .header("host", "race.test")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let posted = collect(sender.send_request(post).await.unwrap()).await;
    assert_eq!(posted.status, 502, "a POST is never sent twice");
    assert_eq!(
        *lines.lock().unwrap(),
        [
            "GET /first HTTP/1.1",
            "GET /second HTTP/1.1",
            "GET /second HTTP/1.1",
            "POST /order HTTP/1.1"
        ]
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

/// An upstream may answer before it has read the request's body (a `413`, say). Its connection
/// is still busy taking the rest of that body, so the next request must not wait behind it:
/// it goes on another connection.
#[tokio::test]
async fn a_connection_still_sending_a_request_body_is_not_waited_for() {
    let (_redis, cg) = instance(&[]).await;
    let (early, _accepted) = upstream::closing_after(Duration::from_secs(30)).await;
    create_self_signed(&cg.admin(), "early", &["early.test"]).await;
    route(&cg, "early.test", &early.url(), None).await;
    let port = cg.https_port;

    // A body that sends one chunk and then stalls (held open by `_stall`).
    let (stall_tx, stall_rx) =
        tokio::sync::mpsc::channel::<Result<hyper::body::Frame<Bytes>, std::io::Error>>(1);
    stall_tx
        .send(Ok(hyper::body::Frame::data(Bytes::from_static(b"first"))))
        .await
        .unwrap();
    let _stall = stall_tx;
    let body = http_body_util::StreamBody::new(tokio_stream_from(stall_rx));
    let mut sender = http1(connect(port, "early.test", &[b"http/1.1"]).await).await;
    let req = Request::post("/upload")
        .header("host", "early.test")
        .header("content-length", "1000000")
        .body(body)
        .unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), async {
        collect(sender.send_request(req).await.unwrap()).await
    })
    .await
    .expect("the early answer arrives while the body is still being sent");
    assert_eq!(answer.status, 200);

    let next = tokio::time::timeout(
        Duration::from_secs(3),
        get(port, "early.test", "early.test", "/"),
    )
    .await
    .expect("the next request waited behind the stalled upload's connection");
    assert_eq!(next.status, 200);
}

/// Clients that go away mid-exchange leave their upstream connections to later requests: HTTP/2
/// streams reset while the upstream is still working on them (before the answer's head) and
/// while their answer's body is on its way. Each exchange is finished on a task of its own and
/// its connection goes back to the pool, so the upstream sees no new connection after them.
#[tokio::test]
async fn a_client_going_away_mid_exchange_leaves_its_upstream_connection_in_the_pool() {
    use std::sync::atomic::Ordering;
    let (_redis, cg) = instance(&[]).await;
    let (up, open) = upstream::start_counting("abandon").await;
    create_self_signed(&cg.admin(), "abandon", &["abandon.test"]).await;
    route(&cg, "abandon.test", &up.url(), None).await;
    let port = cg.https_port;

    // Four streams at once on one client connection, each abandoned 100 ms after it was sent,
    // while the upstream works on it (it takes 500 ms): four upstream connections, none closed.
    let mut client = http2(connect(port, "abandon.test", &[b"h2"]).await).await;
    for _ in 0..4 {
        let req = Request::get("https://abandon.test/slow/500")
            .body(http_body_util::Full::new(Bytes::new()))
            .unwrap();
        let pending = client.send_request(req);
        tokio::spawn(tokio::time::timeout(Duration::from_millis(100), pending));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(client);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        connections_opened(&cg, "abandon.test").await.unwrap_or(0),
        4
    );
    assert_eq!(
        open.load(Ordering::SeqCst),
        4,
        "the abandoned exchanges' connections stay open"
    );

    // A large answer abandoned after its head: its body is read to the end and the connection
    // kept. Then four requests at once find four idle connections.
    let mut client = http2(connect(port, "abandon.test", &[b"h2"]).await).await;
    let req = Request::get("https://abandon.test/download/200000")
        .body(http_body_util::Full::new(Bytes::new()))
        .unwrap();
    let answer = client.send_request(req).await.unwrap();
    assert_eq!(answer.status(), 200);
    drop(answer);
    drop(client);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let later: Vec<_> = (0..4)
        .map(|_| {
            tokio::spawn(
                async move { get(port, "abandon.test", "abandon.test", "/slow/100").await },
            )
        })
        .collect();
    for answer in later {
        assert_eq!(answer.await.unwrap().status, 200);
    }
    assert_eq!(
        connections_opened(&cg, "abandon.test").await.unwrap_or(0),
        4,
        "no connection was opened after the abandoned exchanges"
    );
}

/// A stream over an mpsc receiver (tokio's own wrapper is in tokio-stream, not a dependency).
fn tokio_stream_from<T: Send + 'static>(
    rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|t| (t, rx)) })
}

/// Answers of every size, one after another on one kept-alive upstream connection, arrive
/// whole: the vendored hyper reads the next answer into the room the last one left in its
/// buffer while the last one's head and body still share that buffer (`vendor/README.md`), so
/// answers are split across that room and a new buffer at every size.
#[tokio::test]
async fn answers_of_every_size_on_one_upstream_connection_arrive_whole() {
    use std::sync::atomic::Ordering;
    let (_redis, cg) = instance(&[]).await;
    let (up, open) = upstream::start_counting("sizes").await;
    create_self_signed(&cg.admin(), "sizes", &["sizes.test"]).await;
    route(&cg, "sizes.test", &up.url(), None).await;
    let tls = connect(cg.https_port, "sizes.test", &[b"h2"]).await;
    let mut h2 = http2(tls).await;
    // Mirrored header sizes around 2 KiB (the first buffer), half of it, and past 8 KiB.
    let sizes = [
        10, 700, 1_000, 1_500, 2_100, 50, 3_000, 900, 9_000, 1, 4_100, 1_020,
    ];
    for (i, size) in sizes.iter().cycle().take(48).enumerate() {
        let mirror = format!("{i:04}-{}", "m".repeat(*size));
        let req = Request::get(format!("/n/{i}"))
            .header("host", "sizes.test")
            .header("x-mirror", &mirror)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let answer = collect(h2.send_request(req).await.unwrap()).await;
        assert_eq!(answer.status, 200, "request {i}");
        assert_eq!(answer.headers["x-mirror"], mirror.as_str(), "request {i}");
        assert_eq!(answer.json()["uri"], format!("/n/{i}"), "request {i}");
    }
    assert_eq!(
        open.load(Ordering::SeqCst),
        1,
        "one upstream connection answered them all"
    );
}
