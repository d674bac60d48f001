//! `h2c://` upstreams: one HTTP/2 connection carries every request at once, is opened again
//! when the upstream closes it (`GOAWAY`), and is closed once idle for
//! `UPSTREAM_IDLE_TIMEOUT_SECONDS`; an upstream that cannot be reached is a `502`.

use std::sync::atomic::Ordering;

use super::*;

#[tokio::test]
async fn concurrent_requests_share_one_connection_closed_when_idle() {
    let (_redis, cg) = instance(&[("UPSTREAM_IDLE_TIMEOUT_SECONDS", "1")]).await;
    let (up, counts) = upstream::start_h2c("h2c").await;
    create_self_signed(&cg.admin(), "h2c", &["h2c.test"]).await;
    route(&cg, "h2c.test", &format!("h2c://{}", up.addr), None).await;

    // 40 requests at once, each on a client connection of its own, each held 200 ms at the
    // upstream: all in flight together, on one upstream connection.
    let port = cg.https_port;
    let requests: Vec<_> = (0..40)
        .map(|_| tokio::spawn(async move { get(port, "h2c.test", "h2c.test", "/slow/200").await }))
        .collect();
    for request in requests {
        let answer = request.await.unwrap();
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        assert_eq!(answer.headers["x-upstream"], "h2c");
    }
    assert_eq!(
        counts.accepted.load(Ordering::SeqCst),
        1,
        "upstream connections for 40 concurrent requests"
    );
    assert_eq!(connections_opened(&cg, "h2c.test").await, Some(1));

    // Idle for the timeout (1 s; checked at least once a second): closed.
    common::wait_until(
        "the idle HTTP/2 upstream connection to close",
        Duration::from_secs(6),
        || {
            let open = counts.open.clone();
            async move { open.load(Ordering::SeqCst) == 0 }
        },
    )
    .await;
    // The next request opens a new one.
    let answer = get(port, "h2c.test", "h2c.test", "/").await;
    assert_eq!(answer.status, 200);
    assert_eq!(counts.accepted.load(Ordering::SeqCst), 2);
    assert_eq!(connections_opened(&cg, "h2c.test").await, Some(2));
}

#[tokio::test]
async fn a_connection_the_upstream_closes_is_replaced_without_failing_a_request() {
    let (_redis, cg) = instance(&[]).await;
    let (up, counts) = upstream::start_h2c("h2c").await;
    create_self_signed(&cg.admin(), "h2c", &["goaway.test"]).await;
    route(&cg, "goaway.test", &format!("h2c://{}", up.addr), None).await;
    let port = cg.https_port;

    // Every `/goaway` is answered, then its connection is shut down (GOAWAY): the next
    // request, sent right after, is answered all the same, on a new connection.
    for round in 1..=5 {
        let answer = get(port, "goaway.test", "goaway.test", "/goaway").await;
        assert_eq!(answer.status, 200, "round {round}: {:?}", answer.body);
        let uri = answer.json()["uri"].as_str().unwrap_or_default().to_owned();
        assert!(uri.ends_with("/goaway"), "round {round}: {uri}");
    }
    let answer = get(port, "goaway.test", "goaway.test", "/").await;
    assert_eq!(answer.status, 200);
    // A request that reaches the old connection between the upstream's first GOAWAY (last
    // stream "any") and its final one is still answered there; so 2 to 6 connections.
    let accepted = counts.accepted.load(Ordering::SeqCst);
    assert!((2..=6).contains(&accepted), "{accepted} connections");
    assert_eq!(
        connections_opened(&cg, "goaway.test").await,
        Some(accepted as u64)
    );
}

#[tokio::test]
async fn an_unreachable_h2c_upstream_is_a_502_for_every_waiting_request() {
    let (_redis, cg) = instance(&[]).await;
    create_self_signed(&cg.admin(), "down", &["down.test"]).await;
    let closed_port = common::free_port();
    route(
        &cg,
        "down.test",
        &format!("h2c://127.0.0.1:{closed_port}"),
        None,
    )
    .await;
    let port = cg.https_port;
    // Requests arriving together wait for the same connection attempt and all get its error.
    let requests: Vec<_> = (0..10)
        .map(|_| tokio::spawn(async move { get(port, "down.test", "down.test", "/").await }))
        .collect();
    for request in requests {
        let answer = request.await.unwrap();
        assert_eq!(answer.status, 502);
        // Unreachable, or (after a few such failures) out of rotation by passive health.
        let text = String::from_utf8_lossy(&answer.body).to_string();
        assert!(
            text.contains("upstream unreachable") || text.contains("no healthy upstream"),
            "{text}"
        );
    }
    let attempts = connections_opened(&cg, "down.test").await.unwrap();
    assert!(
        (1..=10).contains(&attempts),
        "connection attempts for 10 requests: {attempts}"
    );
}
