//! The certificate resolver of QUIC handshakes. quinn asks it synchronously, so it cannot wait
//! for Redis or an on-demand issuance; normally it does not need to, because the ClientHello
//! was read from the Initial packets and the name loaded before the connection was accepted
//! ([`super::handshake`]). When that read failed (a ClientHello over 16 KiB, Initial packets
//! lost past the wait, the peek's table full under a flood), a miss is handed here to a
//! background task that does the same loading, and the handshake gets what the cache has now
//! (the default certificate): the client falls back to TCP for this connection and finds the
//! name over HTTP/3 on its next one.
use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::sync::mpsc;

use super::super::cert_load::load_for_handshake;
use crate::on_demand::OnDemand;
use crate::routes::host;
use crate::tls::resolver::SniResolver;

/// Misses waiting for the background loader; more are dropped (the next handshake for the
/// name asks again).
const QUEUED_MISSES: usize = 256;

/// The SNI cache, reporting the names it lacks.
#[derive(Debug)]
pub struct QuicResolver {
    inner: Arc<SniResolver>,
    misses: mpsc::Sender<String>,
}

impl QuicResolver {
    /// A resolver over `inner`, and the task that loads (or issues on demand) the names it
    /// misses; the task ends with the resolver.
    pub fn new(
        inner: Arc<SniResolver>,
        on_demand: Option<OnDemand>,
    ) -> (QuicResolver, impl std::future::Future<Output = ()> + Send) {
        let (misses, mut missed) = mpsc::channel::<String>(QUEUED_MISSES);
        let loader = inner.clone();
        let task = async move {
            while let Some(name) = missed.recv().await {
                // Unknown names are remembered by `prepare` for a while: a flood of random
                // names costs one Redis read each, then nothing.
                load_for_handshake(&loader, on_demand.as_ref(), &name).await;
            }
        };
        (QuicResolver { inner, misses }, task)
    }
}

impl ResolvesServerCert for QuicResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Some(name) = hello.server_name().and_then(host::normalize) {
            if self.inner.pick(Some(&name)).is_none() {
                let _ = self.misses.try_send(name);
            }
        }
        self.inner.resolve(hello)
    }
}
