//! Before a handshake picks its certificate: the name's certificate loaded into the memory
//! cache from Redis if it is missing, and — with `ON_DEMAND` — issued now if none covers it.
//! TCP handshakes (`https.rs`), QUIC handshakes (`h3/handshake.rs`) and the loader behind QUIC
//! handshakes whose ClientHello could not be read (`h3/resolve.rs`) all wait on this.

use crate::on_demand::OnDemand;
use crate::tls::resolver::SniResolver;

/// Loads `host`'s certificate into `resolver`'s cache, issuing it on demand when allowed and
/// nothing covers it.
pub async fn load_for_handshake(resolver: &SniResolver, on_demand: Option<&OnDemand>, host: &str) {
    resolver.prepare(host).await;
    if let Some(on_demand) = on_demand {
        if resolver.pick(Some(host)).is_none() {
            // Boxed: the rare path; every handshake's future is sized for its largest state.
            Box::pin(on_demand.obtain(host, || resolver.pick(Some(host)).is_some())).await;
        }
    }
}
