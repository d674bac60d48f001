//! 0-RTT (`QUIC_0RTT`, off by default): a returning client may send requests with its first
//! flight, before the handshake completes. Such early data can be replayed by anyone who
//! captured it, so only safe methods (GET, HEAD, OPTIONS, TRACE) are served from it; any other
//! request that arrives before the handshake completes is answered `425 Too Early` (RFC 8470),
//! and the client sends it again once the handshake is done.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use http::{Response, StatusCode};

use super::super::{text, EdgeBody};

/// Whether a connection's handshake has completed, for telling early requests apart.
#[derive(Clone)]
pub struct Handshake(Option<Arc<AtomicBool>>);

impl Handshake {
    /// Whether a request accepted now arrived in early data.
    pub fn is_early(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|done| !done.load(Ordering::Acquire))
    }
}

/// The connection of an accepted handshake: with `zero_rtt`, at once (requests may come
/// before the handshake completes, tracked by the [`Handshake`]); else once it is done.
pub async fn establish(
    connecting: quinn::Connecting,
    zero_rtt: bool,
) -> Option<(quinn::Connection, Handshake)> {
    if !zero_rtt {
        return Some((connecting.await.ok()?, Handshake(None)));
    }
    match connecting.into_0rtt() {
        Ok((conn, completed)) => {
            let done = Arc::new(AtomicBool::new(false));
            let flag = done.clone();
            tokio::spawn(async move {
                completed.await;
                flag.store(true, Ordering::Release);
            });
            Some((conn, Handshake(Some(done))))
        }
        Err(connecting) => Some((connecting.await.ok()?, Handshake(None))),
    }
}

/// Resumption by the sessions rustls stores, not by tickets: rustls accepts early data only on
/// a stateful resumption. (Stored sessions are this instance's: a client resuming at another
/// instance gets a full handshake, without early data.)
#[derive(Debug)]
pub struct StatefulOnly;

impl rustls::server::ProducesTickets for StatefulOnly {
    fn enabled(&self) -> bool {
        false
    }
    fn lifetime(&self) -> u32 {
        0
    }
    fn encrypt(&self, _plain: &[u8]) -> Option<Vec<u8>> {
        None
    }
    fn decrypt(&self, _cipher: &[u8]) -> Option<Vec<u8>> {
        None
    }
}

/// `425 Too Early`.
pub fn too_early() -> Response<EdgeBody> {
    text(
        StatusCode::from_u16(425).expect("425 is a status code"),
        "this request may not be served from early data; send it again",
    )
}
