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
//!
//! An HTTP/2 connection's I/O can also give its receive buffer back once the connection has been
//! quiet for a while ([`Guarded::release_when_quiet`]): hyper owns that I/O for the connection's
//! whole life, so the read that finds nothing is the only place that knows it is quiet.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::quiet_io::ReleaseWhileQuiet;
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

    /// Since when the connection has had no request in flight and no byte either way; `None`
    /// while a request is in flight or the connection is a tunnel.
    fn quiet_since(&self) -> Option<Instant> {
        let s = self.state.lock().expect("activity lock");
        (s.in_flight == 0 && !s.tunnelling).then_some(s.last_activity)
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
    /// Give the I/O's receive buffers back after this long quiet ([`Self::release_when_quiet`]).
    release_after: Option<Duration>,
    /// The quiet moment ([`ConnActivity::quiet_since`]) the buffers were last given back for.
    released_for: Option<Instant>,
}

impl<IO> Guarded<IO> {
    /// Wraps a connection's `io` so that reads and writes feed `activity` and its deadlines.
    pub fn new(io: IO, activity: Arc<ConnActivity>, limits: Limits) -> Self {
        Guarded {
            io,
            activity,
            limits,
            timer: Box::pin(tokio::time::sleep(limits.header_read)),
            release_after: None,
            released_for: None,
        }
    }

    /// Once the connection has been quiet for `after` (no request in flight, no byte either
    /// way), a read that finds nothing gives the I/O's receive buffers back, and the deadline
    /// timer wakes the reader for it. For HTTP/2, whose I/O hyper holds for the connection's
    /// life: an idle HTTP/2 connection would otherwise keep rustls' 4 KiB buffer. Waiting for a
    /// quiet moment, instead of releasing at every read that finds nothing, keeps a busy
    /// connection from allocating the buffer again for every request.
    pub fn release_when_quiet(&mut self, after: Duration) {
        self.release_after = Some(after);
    }
}

fn timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "client too slow: connection deadline passed",
    )
}

impl<IO: ReleaseWhileQuiet> Guarded<IO> {
    /// When the reader must be woken next: `deadline`, or earlier to give the buffers back once
    /// the connection has been quiet long enough (given back now if it has).
    fn next_wake(&mut self, deadline: Instant, now: Instant) -> Instant {
        let Some(after) = self.release_after else {
            return deadline;
        };
        let Some(quiet_since) = self.activity.quiet_since() else {
            return deadline;
        };
        if self.released_for == Some(quiet_since) {
            return deadline;
        }
        let release_at = quiet_since + after;
        if now < release_at {
            return release_at.min(deadline);
        }
        self.io.release_while_quiet();
        self.released_for = Some(quiet_since);
        deadline
    }
}

impl<IO: ReleaseWhileQuiet> ReleaseWhileQuiet for Guarded<IO> {
    fn release_while_quiet(&mut self) {
        self.io.release_while_quiet();
    }
}

impl<IO: AsyncRead + ReleaseWhileQuiet + Unpin> AsyncRead for Guarded<IO> {
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
                let now = Instant::now();
                if now >= deadline {
                    return Poll::Ready(Err(timed_out()));
                }
                let mut wake_at = self.next_wake(deadline, now);
                loop {
                    self.timer.as_mut().reset(wake_at);
                    if self.timer.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    if wake_at >= deadline {
                        return Poll::Ready(Err(timed_out()));
                    }
                    // Woken for the quiet moment: `next_wake` gives the buffers back if the
                    // connection is still quiet since then, or names the next moment if a byte
                    // or a request came meanwhile.
                    wake_at = self.next_wake(deadline, Instant::now());
                }
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
mod tests;
