//! Per-connection timeouts that hyper does not give: the first byte, the request headers, and an
//! idle keep-alive, enforced by wrapping the connection's I/O.
//!
//! A connection is in one of three states: waiting for request headers (from its first byte, or
//! from its start: `HEADER_READ_TIMEOUT_SECONDS`), serving requests (no client deadline; the
//! upstream timeout governs), or idle between requests (`IDLE_TIMEOUT_SECONDS` since the last
//! byte either way). When a deadline passes, reads fail with `TimedOut` and hyper closes the
//! connection. HTTP/2 waits for headers only at its start. A connection that became a tunnel
//! (a WebSocket after its `101`) has one deadline left: `TUNNEL_IDLE_TIMEOUT_SECONDS` since the
//! last byte either way.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::tunnel::Tunnel;

/// The client-side deadlines.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// How long a request head may take to arrive (`HEADER_READ_TIMEOUT_SECONDS`).
    pub header_read: Duration,
    /// How long a connection may sit with nothing in flight (`IDLE_TIMEOUT_SECONDS`).
    pub idle: Duration,
    /// Silence both ways after which a tunnel is closed.
    pub tunnel_idle: Duration,
}

impl Limits {
    /// The deadlines `config` sets.
    pub fn of(config: &crate::config::Config) -> Limits {
        Limits {
            header_read: config.limits.header_read_timeout,
            idle: config.limits.idle_timeout,
            tunnel_idle: config.limits.tunnel_idle_timeout,
        }
    }
}

#[derive(Debug)]
struct State {
    in_flight: usize,
    awaiting_headers_since: Option<Instant>,
    last_activity: Instant,
    http2: bool,
    /// The reader parked while a request was in flight (no deadline then): woken when the last
    /// request ends, so it arms the idle deadline. Without this a connection whose read was
    /// polled mid-request never timed out.
    parked_reader: Option<Waker>,
    /// The HTTP/1 connection's wait for a quiet moment to let hyper go ([`ConnActivity::poll_quiet_at`]),
    /// parked while a request was in flight: woken when the last request ends.
    parked_quiet_watch: Option<Waker>,
    /// Requests begun on this connection so far.
    requests: u64,
    /// The HTTP/1 server is letting go of an idle connection to free its buffers
    /// ([`super::conn`]): its shutdown must leave the connection open.
    releasing: bool,
    /// The connection carries a tunnel now: no request deadlines, only the tunnel's idle one.
    tunnelling: bool,
}

/// What one connection is doing, shared by its I/O wrapper and its request handler.
#[derive(Debug)]
pub struct ConnActivity {
    state: Mutex<State>,
    /// A tunnel opened by a request's `101`, waiting for the connection to run it.
    tunnel: Mutex<Option<Tunnel>>,
}

/// Held while a request is being served; dropping it ends the request.
pub struct RequestGuard(Arc<ConnActivity>);

impl RequestGuard {
    /// The request's answer opens `tunnel`: from now on the connection's only deadline is the
    /// tunnel's idle time, and the connection runs the tunnel once the answer is out.
    pub fn open_tunnel(&self, tunnel: Tunnel) {
        self.0.state.lock().expect("activity lock").tunnelling = true;
        *self.0.tunnel.lock().expect("tunnel lock") = Some(tunnel);
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let mut s = self.0.state.lock().expect("activity lock");
        s.in_flight = s.in_flight.saturating_sub(1);
        s.last_activity = Instant::now();
        let (reader, quiet_watch) = if s.in_flight == 0 {
            (s.parked_reader.take(), s.parked_quiet_watch.take())
        } else {
            (None, None)
        };
        drop(s);
        for waker in [reader, quiet_watch].into_iter().flatten() {
            waker.wake();
        }
    }
}

impl ConnActivity {
    /// A new connection's activity; `http2` connections count streams instead of one request.
    pub fn new(http2: bool) -> Arc<ConnActivity> {
        let now = Instant::now();
        Arc::new(ConnActivity {
            state: Mutex::new(State {
                in_flight: 0,
                awaiting_headers_since: Some(now),
                last_activity: now,
                http2,
                parked_reader: None,
                parked_quiet_watch: None,
                requests: 0,
                releasing: false,
                tunnelling: false,
            }),
            tunnel: Mutex::new(None),
        })
    }

    /// A request's headers are complete and it is being served.
    pub fn begin_request(self: &Arc<Self>) -> RequestGuard {
        let mut s = self.state.lock().expect("activity lock");
        s.in_flight += 1;
        s.requests += 1;
        s.awaiting_headers_since = None;
        drop(s);
        RequestGuard(self.clone())
    }

    /// The tunnel a request opened, if one did (taken once).
    pub fn take_tunnel(&self) -> Option<Tunnel> {
        self.tunnel.lock().expect("tunnel lock").take()
    }

    /// How many requests have begun on this connection.
    pub fn requests(&self) -> u64 {
        self.state.lock().expect("activity lock").requests
    }

    /// Ready with when the connection will have been quiet (no request in flight, no byte either
    /// way) for `quiet`. While a request is in flight it is pending, and `cx`'s waker is woken
    /// when the last one ends: a request that waits long (in line for an upstream under
    /// `UPSTREAM_MAX_CONNECTIONS`, say) costs its connection no wake-ups meanwhile. Checking
    /// on a timer instead re-polled every such connection's whole future each time.
    pub fn poll_quiet_at(&self, quiet: Duration, cx: &mut Context<'_>) -> Poll<Instant> {
        let mut s = self.state.lock().expect("activity lock");
        if s.in_flight == 0 {
            return Poll::Ready(s.last_activity + quiet);
        }
        if !s
            .parked_quiet_watch
            .as_ref()
            .is_some_and(|parked| parked.will_wake(cx.waker()))
        {
            s.parked_quiet_watch = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// While set, shutting the I/O down leaves the connection open (see `releasing`).
    pub fn set_releasing(&self, releasing: bool) {
        self.state.lock().expect("activity lock").releasing = releasing;
    }

    fn releasing(&self) -> bool {
        self.state.lock().expect("activity lock").releasing
    }

    fn on_read(&self, bytes: usize) {
        let mut s = self.state.lock().expect("activity lock");
        let now = Instant::now();
        s.last_activity = now;
        if bytes > 0
            && !s.http2
            && !s.tunnelling
            && s.in_flight == 0
            && s.awaiting_headers_since.is_none()
        {
            s.awaiting_headers_since = Some(now);
        }
    }

    fn on_write(&self) {
        self.state.lock().expect("activity lock").last_activity = Instant::now();
    }

    /// The connection's deadline now; `None` while a request is served (then `waker` is kept
    /// and woken when the request ends).
    fn deadline(&self, limits: Limits, waker: &Waker) -> Option<Instant> {
        let mut s = self.state.lock().expect("activity lock");
        if s.tunnelling {
            return Some(s.last_activity + limits.tunnel_idle);
        }
        match (s.awaiting_headers_since, s.in_flight) {
            (Some(since), _) => Some(since + limits.header_read),
            (None, 0) => Some(s.last_activity + limits.idle),
            _ => {
                s.parked_reader = Some(waker.clone());
                None
            }
        }
    }
}

/// I/O that fails reads once the connection's deadline passes.
pub struct Guarded<IO> {
    io: IO,
    activity: Arc<ConnActivity>,
    limits: Limits,
    timer: Pin<Box<Sleep>>,
}

impl<IO> Guarded<IO> {
    /// Wraps a connection's `io` so that reads and writes feed `activity` and its deadlines.
    pub fn new(io: IO, activity: Arc<ConnActivity>, limits: Limits) -> Self {
        Guarded {
            io,
            activity,
            limits,
            timer: Box::pin(tokio::time::sleep(limits.header_read)),
        }
    }

    /// The wrapped I/O.
    pub fn get_mut(&mut self) -> &mut IO {
        &mut self.io
    }
}

fn timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "client too slow: connection deadline passed",
    )
}

impl<IO: AsyncRead + Unpin> AsyncRead for Guarded<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let read = buf.filled().len() - before;
                self.activity.on_read(read);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let Some(deadline) = self.activity.deadline(self.limits, cx.waker()) else {
                    return Poll::Pending;
                };
                if Instant::now() >= deadline {
                    return Poll::Ready(Err(timed_out()));
                }
                self.timer.as_mut().reset(deadline);
                if self.timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(timed_out()));
                }
                Poll::Pending
            }
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Guarded<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &result {
            if *n > 0 {
                self.activity.on_write();
            }
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.activity.releasing() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = &result {
            if *n > 0 {
                self.activity.on_write();
            }
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// A response body that keeps its request in flight until it has been sent (or dropped), so a
/// connection counts as idle only once its last response is out.
pub struct ActivityBody<B> {
    inner: B,
    guard: Option<RequestGuard>,
}

impl<B> ActivityBody<B> {
    /// Wraps a response body so that the request counts as in flight until the body ends.
    pub fn new(inner: B, guard: RequestGuard) -> Self {
        ActivityBody {
            inner,
            guard: Some(guard),
        }
    }
}

impl<B: hyper::body::Body + Unpin> hyper::body::Body for ActivityBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let frame = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(frame, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            self.guard = None;
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
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
}
