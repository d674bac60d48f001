//! A WebSocket tunnel: after the upstream's `101`, bytes copied both ways between the client's
//! connection and the upstream's.
//!
//! A tunnel is the rest of its client connection's life, so it runs on that connection's task
//! (`super::conn`) rather than detached: it keeps the connection's place under
//! `MAX_CONNECTIONS`, and at shutdown it gets `DRAIN_GRACE_SECONDS` to end on its own before it
//! is closed. While it runs, the connection's only deadline is `TUNNEL_IDLE_TIMEOUT_SECONDS` of
//! silence in both directions (`super::activity`); a busy tunnel lives as long as it is used.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use crate::shutdown::Shutdown;

/// A tunnel between a client and an upstream, not yet running.
pub struct Tunnel(Pin<Box<dyn Future<Output = ()> + Send>>);

impl std::fmt::Debug for Tunnel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tunnel")
    }
}

impl Tunnel {
    /// The tunnel that opens once both sides have handed over their connections (the client's
    /// once hyper has written the `101`).
    pub fn between(client: OnUpgrade, upstream: OnUpgrade) -> Tunnel {
        Tunnel(Box::pin(async move {
            let (client, upstream) = match (client.await, upstream.await) {
                (Ok(c), Ok(u)) => (c, u),
                _ => return,
            };
            let mut client = TokioIo::new(client);
            let mut upstream = TokioIo::new(upstream);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        }))
    }

    /// Runs until either side closes or goes quiet too long; once `shutdown` fires, for at
    /// most `grace` more.
    pub async fn run(self, shutdown: &Shutdown, grace: Duration) {
        let mut copying = self.0;
        tokio::select! {
            _ = &mut copying => {}
            _ = shutdown.wait() => {
                if tokio::time::timeout(grace, copying).await.is_err() {
                    tracing::debug!("tunnel still open at the end of the drain grace; closed");
                }
            }
        }
    }
}
