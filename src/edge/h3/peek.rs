//! The UDP socket under the QUIC endpoint, wrapped so that each client's ClientHello is read
//! (from its Initial packets, [`super::initial`]) as the datagrams pass to quinn. The accept
//! loop then asks [`HelloPeek::server_name`] for a connection's SNI before accepting it: a
//! QUIC handshake can wait for a certificate to be loaded or issued, and be held to its
//! route's client-certificate check, as a TCP handshake is.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use quinn::crypto::rustls::QuicServerConfig;
use quinn::udp::{RecvMeta, Transmit};
use quinn::{AsyncUdpSocket, ConnectionId, UdpPoller};
use tokio::sync::Notify;

use super::hello::HelloAssembly;
use super::initial;

/// Connection attempts whose ClientHello is kept at most (a flood of Initials beyond this is
/// left to quinn alone, which then accepts without the peek).
const MAX_ATTEMPTS: usize = 4096;

/// Once the table is half full, attempts nobody asked about for this long are dropped. An
/// attempt is asked about within milliseconds (or after a Retry's round trip, or the wait for
/// a ClientHello's second packet); the ones left behind are the second attempts of retried
/// clients (the accept asks by the first attempt's connection ID) and Initials quinn dropped.
const ATTEMPT_KEPT: Duration = Duration::from_secs(2);

/// The table is scanned for old attempts at most this often.
const PRUNE_EVERY: Duration = Duration::from_millis(100);

/// One connection attempt's ClientHello as it arrives.
struct Attempt {
    hello: HelloAssembly,
    since: Instant,
}

/// Connection attempts by (client address, Destination Connection ID), and when old ones were
/// last dropped.
#[derive(Default)]
struct Attempts {
    by_id: HashMap<(SocketAddr, ConnectionId), Attempt>,
    pruned: Option<Instant>,
}

impl Attempts {
    /// Drops attempts older than [`ATTEMPT_KEPT`] once the table is half full (at most every
    /// [`PRUNE_EVERY`]); then whether there is room for one more.
    fn room(&mut self) -> bool {
        let due = self.pruned.is_none_or(|at| at.elapsed() >= PRUNE_EVERY);
        if self.by_id.len() >= MAX_ATTEMPTS / 2 && due {
            self.by_id.retain(|_, a| a.since.elapsed() < ATTEMPT_KEPT);
            self.pruned = Some(Instant::now());
        }
        self.by_id.len() < MAX_ATTEMPTS
    }
}

/// The ClientHellos read from Initial packets, by (client address, Destination Connection ID).
pub struct HelloPeek {
    attempts: Mutex<Attempts>,
    /// Woken whenever a ClientHello becomes whole.
    arrived: Notify,
    /// The endpoint's QUIC crypto, for the Initial keys.
    keys: Arc<QuicServerConfig>,
}

impl fmt::Debug for HelloPeek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HelloPeek").finish_non_exhaustive()
    }
}

impl HelloPeek {
    /// A peek that derives Initial keys from `keys`.
    pub fn new(keys: Arc<QuicServerConfig>) -> Arc<Self> {
        Arc::new(HelloPeek {
            attempts: Mutex::new(Attempts::default()),
            arrived: Notify::new(),
            keys,
        })
    }

    /// Reads a datagram's Initial packet, if it has one carrying part of a ClientHello.
    fn record(&self, from: SocketAddr, datagram: &[u8]) {
        let Some(crypto) = initial::crypto_frames(datagram, &self.keys) else {
            return;
        };
        let mut attempts = self.attempts.lock().expect("hello peek");
        let key = (from, crypto.dcid);
        if !attempts.by_id.contains_key(&key) && !attempts.room() {
            return;
        }
        let attempt = attempts.by_id.entry(key).or_insert_with(|| Attempt {
            hello: HelloAssembly::default(),
            since: Instant::now(),
        });
        let was_read = attempt.hello.read.is_some();
        for (offset, data) in crypto.frames {
            attempt.hello.add(offset, data);
        }
        if !was_read && attempt.hello.read.is_some() {
            self.arrived.notify_waiters();
        }
    }

    /// The SNI of the connection attempt from `from` to `dcid` (its original Destination
    /// Connection ID), waiting up to `wait` for the rest of its ClientHello. `None`: it has no
    /// SNI, or its ClientHello was not read (the handshake then goes on as quinn's alone).
    pub async fn server_name(
        &self,
        from: SocketAddr,
        dcid: ConnectionId,
        wait: Duration,
    ) -> Option<String> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let arrived = self.arrived.notified();
            {
                let mut attempts = self.attempts.lock().expect("hello peek");
                match attempts.by_id.get(&(from, dcid)) {
                    None => return None,
                    Some(attempt) if attempt.hello.read.is_some() => {
                        let attempt = attempts.by_id.remove(&(from, dcid))?;
                        return attempt.hello.read.flatten();
                    }
                    Some(_) => {}
                }
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                let mut attempts = self.attempts.lock().expect("hello peek");
                attempts.by_id.remove(&(from, dcid));
                return None;
            }
        }
    }
}

/// The endpoint's UDP socket, reading ClientHellos into a [`HelloPeek`] on the way in.
#[derive(Debug)]
pub struct PeekingSocket {
    inner: Arc<dyn AsyncUdpSocket>,
    peek: Arc<HelloPeek>,
}

impl PeekingSocket {
    /// `inner`, with its received Initial packets read into `peek`.
    pub fn new(inner: Arc<dyn AsyncUdpSocket>, peek: Arc<HelloPeek>) -> Self {
        PeekingSocket { inner, peek }
    }
}

impl AsyncUdpSocket for PeekingSocket {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        self.inner.clone().create_io_poller()
    }

    fn try_send(&self, transmit: &Transmit) -> io::Result<()> {
        self.inner.try_send(transmit)
    }

    fn poll_recv(
        &self,
        cx: &mut Context,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let polled = self.inner.poll_recv(cx, bufs, meta);
        if let Poll::Ready(Ok(count)) = &polled {
            for (buf, meta) in bufs.iter().zip(meta.iter()).take(*count) {
                // With GRO one buffer holds several datagrams, `stride` bytes apart.
                for datagram in buf[..meta.len].chunks(meta.stride.max(1)) {
                    if initial::looks_initial(datagram) {
                        self.peek.record(meta.addr, datagram);
                    }
                }
            }
        }
        polled
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn max_transmit_segments(&self) -> usize {
        self.inner.max_transmit_segments()
    }

    fn max_receive_segments(&self) -> usize {
        self.inner.max_receive_segments()
    }

    fn may_fragment(&self) -> bool {
        self.inner.may_fragment()
    }
}
