//! The deadlines and quiet releases of [`super::Guarded`], in paused time over in-memory
//! connections.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

const LIMITS: Limits = Limits {
    header_read: Duration::from_secs(10),
    idle: Duration::from_secs(60),
    tunnel_idle: Duration::from_secs(300),
};

/// A guarded server side of an in-memory connection, and the client side.
fn connection() -> (
    Guarded<tokio::io::DuplexStream>,
    tokio::io::DuplexStream,
    Arc<ConnActivity>,
) {
    let (client, server) = tokio::io::duplex(1024);
    let activity = ConnActivity::new(false);
    (
        Guarded::new(server, activity.clone(), LIMITS),
        client,
        activity,
    )
}

/// How long a read on `io` waits before it fails with the deadline (in paused time).
async fn time_to_timeout(io: &mut Guarded<tokio::io::DuplexStream>) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 16];
    let err = io.read(&mut buf).await.expect_err("the deadline passes");
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    started.elapsed()
}

#[tokio::test(start_paused = true)]
async fn a_silent_new_connection_gets_the_header_deadline() {
    let (mut io, _client, _) = connection();
    assert_eq!(time_to_timeout(&mut io).await, LIMITS.header_read);
}

#[tokio::test(start_paused = true)]
async fn between_requests_the_idle_deadline_runs_from_the_last_byte() {
    let (mut io, mut client, activity) = connection();
    client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 64];
    let _ = io.read(&mut buf).await.unwrap();
    let request = activity.begin_request();
    // No deadline while the request is served, however long it takes.
    tokio::time::sleep(Duration::from_secs(600)).await;
    drop(request);
    assert_eq!(time_to_timeout(&mut io).await, LIMITS.idle);
}

#[tokio::test(start_paused = true)]
async fn a_first_byte_starts_the_header_deadline_again() {
    let (mut io, mut client, activity) = connection();
    drop(activity.begin_request());
    tokio::time::sleep(Duration::from_secs(30)).await;
    client.write_all(b"G").await.unwrap();
    let mut buf = [0u8; 1];
    io.read_exact(&mut buf).await.unwrap();
    assert_eq!(time_to_timeout(&mut io).await, LIMITS.header_read);
}

#[tokio::test(start_paused = true)]
async fn a_tunnel_lives_while_used_and_closes_after_its_silence() {
    let (mut io, mut client, activity) = connection();
    let request = activity.begin_request();
    request.open_tunnel(super::super::tunnel::Tunnel::between(
        hyper::upgrade::on(http::Request::new(())),
        hyper::upgrade::on(http::Request::new(())),
    ));
    drop(request);
    // Traffic every 200 s, past every request deadline: the tunnel stays.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_secs(200)).await;
        client.write_all(b"frame").await.unwrap();
        let mut buf = [0u8; 5];
        io.read_exact(&mut buf).await.unwrap();
    }
    assert_eq!(time_to_timeout(&mut io).await, LIMITS.tunnel_idle);
}

#[tokio::test(start_paused = true)]
async fn the_quiet_watch_waits_out_a_request_without_waking_and_is_woken_at_its_end() {
    let activity = ConnActivity::new(false);
    let quiet = Duration::from_millis(50);
    let request = activity.begin_request();
    let (waker, wakes) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    assert!(activity.poll_quiet_at(quiet, &mut cx).is_pending());
    // A long wait (in line for an upstream): no wake-up, however long.
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(activity.poll_quiet_at(quiet, &mut cx).is_pending());
    assert_eq!(wakes.load(std::sync::atomic::Ordering::SeqCst), 0);
    drop(request);
    assert_eq!(wakes.load(std::sync::atomic::Ordering::SeqCst), 1);
    match activity.poll_quiet_at(quiet, &mut cx) {
        Poll::Ready(at) => assert_eq!(at, Instant::now() + quiet),
        Poll::Pending => panic!("quiet once the request ended"),
    }
}

/// A waker that counts its wakes.
fn counting_waker() -> (Waker, Arc<std::sync::atomic::AtomicUsize>) {
    struct Count(Arc<std::sync::atomic::AtomicUsize>);
    impl std::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let wakes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    (Waker::from(Arc::new(Count(wakes.clone()))), wakes)
}

/// An in-memory connection that counts the times its buffers were given back.
struct CountingReleases {
    io: tokio::io::DuplexStream,
    releases: Arc<std::sync::atomic::AtomicUsize>,
}

impl AsyncRead for CountingReleases {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl ReleaseWhileQuiet for CountingReleases {
    fn release_while_quiet(&mut self) {
        self.releases
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Reads from `io` for `wait` (paused time), expecting nothing to arrive.
async fn read_nothing_for(io: &mut Guarded<CountingReleases>, wait: Duration) {
    let mut buf = [0u8; 16];
    tokio::select! {
        read = io.read(&mut buf) => panic!("nothing was sent, yet the read ended: {read:?}"),
        _ = tokio::time::sleep(wait) => {}
    }
}

/// A guarded HTTP/2 server side that gives its buffers back after `quiet`, the client side,
/// its activity and the count of releases.
#[allow(clippy::type_complexity)]
fn releasing_http2(
    quiet: Duration,
) -> (
    tokio::io::DuplexStream,
    Guarded<CountingReleases>,
    Arc<ConnActivity>,
    Arc<std::sync::atomic::AtomicUsize>,
) {
    let (client, server) = tokio::io::duplex(1024);
    let releases = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let activity = ConnActivity::new(true);
    let io = CountingReleases {
        io: server,
        releases: releases.clone(),
    };
    let mut io = Guarded::new(io, activity.clone(), LIMITS);
    io.release_when_quiet(quiet);
    (client, io, activity, releases)
}

#[tokio::test(start_paused = true)]
async fn an_http2_connection_gives_its_buffers_back_once_quiet_and_not_while_serving() {
    use std::sync::atomic::Ordering::SeqCst;
    let quiet = Duration::from_millis(50);
    let (mut client, mut io, activity, releases) = releasing_http2(quiet);

    // A read that finds nothing before the quiet moment keeps the buffers; the timer wakes
    // it at that moment, and it gives them back once, however long the quiet lasts.
    read_nothing_for(&mut io, quiet - Duration::from_millis(1)).await;
    assert_eq!(releases.load(SeqCst), 0);
    read_nothing_for(&mut io, Duration::from_millis(10)).await;
    assert_eq!(releases.load(SeqCst), 1);
    read_nothing_for(&mut io, Duration::from_secs(1)).await;
    assert_eq!(releases.load(SeqCst), 1);

    // Bytes still arrive after it; while a request is in flight nothing is given back.
    client.write_all(b"frame").await.unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(io.read(&mut buf).await.unwrap(), 5);
    let request = activity.begin_request();
    read_nothing_for(&mut io, Duration::from_secs(1)).await;
    assert_eq!(releases.load(SeqCst), 1);
    // Quiet again from the request's end: given back 50 ms later.
    drop(request);
    read_nothing_for(&mut io, quiet - Duration::from_millis(1)).await;
    assert_eq!(releases.load(SeqCst), 1);
    read_nothing_for(&mut io, Duration::from_millis(10)).await;
    assert_eq!(releases.load(SeqCst), 2);

    // Without `release_when_quiet` (HTTP/1.1, the admin listener) nothing is given back.
    let (_client, server) = tokio::io::duplex(1024);
    let io = CountingReleases {
        io: server,
        releases: releases.clone(),
    };
    let mut io = Guarded::new(io, ConnActivity::new(true), LIMITS);
    read_nothing_for(&mut io, Duration::from_secs(1)).await;
    assert_eq!(releases.load(SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_byte_sent_while_the_read_waits_moves_the_quiet_moment() {
    use std::sync::atomic::Ordering::SeqCst;
    let quiet = Duration::from_millis(50);
    let (_client, mut io, activity, releases) = releasing_http2(quiet);
    let mut buf = [0u8; 16];
    // The read waits for the moment 50 ms from the start; at 30 ms the connection sends a
    // byte, so when the timer fires it has been quiet for 20 ms only.
    tokio::select! {
        read = io.read(&mut buf) => panic!("nothing was sent, yet the read ended: {read:?}"),
        _ = async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            activity.on_write();
            tokio::time::sleep(Duration::from_millis(40)).await;
        } => {}
    }
    assert_eq!(
        releases.load(SeqCst),
        0,
        "given back 40 ms after the last byte"
    );
    // 50 ms after that byte.
    read_nothing_for(&mut io, Duration::from_millis(20)).await;
    assert_eq!(releases.load(SeqCst), 1);
}
