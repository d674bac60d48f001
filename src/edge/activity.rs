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
    pub header_read: Duration,
    pub idle: Duration,
    /// Silence both ways after which a tunnel is closed.
    pub tunnel_idle: Duration,
}

impl Limits {
    /// The deadlines `config` sets.
    pub fn of(config: &crate::config::Config) -> Limits {
        Limits {
            header_read: config.header_read_timeout,
            idle: config.idle_timeout,
            tunnel_idle: config.tunnel_idle_timeout,
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
        let reader = (s.in_flight == 0).then(|| s.parked_reader.take()).flatten();
        drop(s);
        if let Some(reader) = reader {
            reader.wake();
        }
    }
}

impl ConnActivity {
    pub fn new(http2: bool) -> Arc<ConnActivity> {
        let now = Instant::now();
        Arc::new(ConnActivity {
            state: Mutex::new(State {
                in_flight: 0,
                awaiting_headers_since: Some(now),
                last_activity: now,
                http2,
                parked_reader: None,
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

    /// When the connection will have been quiet (no request in flight, no byte either way) for
    /// `quiet`; `None` while a request is in flight.
    pub fn quiet_at(&self, quiet: Duration) -> Option<Instant> {
        let s = self.state.lock().expect("activity lock");
        (s.in_flight == 0).then_some(s.last_activity + quiet)
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
    pub fn new(io: IO, activity: Arc<ConnActivity>, limits: Limits) -> Self {
        Guarded {
            io,
            activity,
            limits,
            timer: Box::pin(tokio::time::sleep(limits.header_read)),
        }
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
