//! The HTTP/3 listener's wiring: the UDP socket bound at start-up (a port in use stops the start),
//! then — once the cluster's stateless-reset key is read from Redis — the QUIC endpoint, the
//! loader of names its handshakes miss, and the listener.

use std::sync::Arc;
use std::time::Duration;

use super::{Caps, Wiring};
use crate::edge::h3::{self, resolve::QuicResolver, H3Edge};
use crate::tls::policy::TlsConfigs;

impl Wiring {
    /// The HTTP/3 listener on the HTTPS listener's address, over UDP.
    pub(super) fn http3(
        &mut self,
        edge: H3Edge,
        tls: &TlsConfigs,
        addr: std::net::SocketAddr,
        caps: &Caps,
    ) -> anyhow::Result<()> {
        let socket = h3::bind(addr)
            .map_err(|e| anyhow::anyhow!("HTTP/3 listener: {e} (HTTP3=false turns it off)"))?;
        let (store, config, tls) = (self.store.writer(), self.config.clone(), tls.clone());
        let (cap, stop) = (caps.edge.clone(), self.stop.clone());
        self.tasks.spawn("HTTP/3 listener", async move {
            let key = shared_reset_key(&store).await;
            let (resolver, loader) =
                QuicResolver::new(edge.resolver.clone(), edge.on_demand.clone());
            tokio::spawn(loader);
            match h3::endpoint(&tls.listener, Arc::new(resolver), socket, &key, &config) {
                Ok(quic) => {
                    tracing::info!(%addr, "HTTP/3 listener (UDP) started");
                    edge.serve(quic, tls, cap, stop).await;
                }
                Err(e) => tracing::error!(%addr, error = %e, "HTTP/3 listener not started"),
            }
        });
        Ok(())
    }
}

/// The QUIC stateless-reset key from Redis (shared by the cluster); a key of this instance's own
/// when Redis does not answer within 3 s (resets then come from this instance only).
async fn shared_reset_key(store: &crate::store::StoreWriter) -> Vec<u8> {
    let shared = tokio::time::timeout(Duration::from_secs(3), store.quic_reset_key()).await;
    match shared {
        Ok(Ok(key)) => key,
        _ => {
            tracing::warn!(
                "QUIC stateless-reset key not read from Redis; using one of this instance's own"
            );
            let mut key = vec![0u8; 32];
            aws_lc_rs::rand::fill(&mut key).expect("system RNG available");
            key
        }
    }
}
