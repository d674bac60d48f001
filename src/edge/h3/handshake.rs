//! How a QUIC connection is accepted, decided from its ClientHello before quinn reads it — the
//! same decisions a TCP handshake makes after reading its ClientHello: the name is loaded into
//! the memory cache (or issued on demand) first, and a route with `client_auth` gets its own
//! configuration, whose verifier checks the client's certificate during the handshake.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::CertificateDer;

use super::super::cert_load::load_for_handshake;
use super::super::ClientIdentity;
use super::peek::HelloPeek;
use super::H3Edge;
use crate::routes::{host, Route};
use crate::tls::policy::TlsConfigs;

/// How long an accept waits for the rest of a ClientHello that spans two Initial packets
/// (both are normally sent together; one lost is resent after the client's probe timeout).
const HELLO_WAIT: Duration = Duration::from_millis(500);

/// Client-certificate routes' QUIC configurations kept at most; more are dropped and rebuilt.
const CLIENT_AUTH_KEPT: usize = 1_024;

/// A route's QUIC configuration and the rustls configuration it was made from.
type Built = (Arc<rustls::ServerConfig>, Arc<quinn::ServerConfig>);

/// What accepting a QUIC connection needs beyond the endpoint's own configuration.
pub struct Accepting {
    /// The ClientHellos read from the socket.
    pub peek: Arc<HelloPeek>,
    /// The listener's rustls configurations (client-certificate routes' included).
    tls: TlsConfigs,
    /// The transport settings every QUIC configuration shares.
    transport: Arc<quinn::TransportConfig>,
    /// Client-certificate routes' QUIC configurations, by hostname.
    client_auth: Mutex<HashMap<String, Built>>,
}

/// How one connection attempt is answered.
pub enum Acceptance {
    /// Refused: its route's client-certificate check cannot be built (a CRL not fetched yet).
    Refuse,
    /// Accepted with the endpoint's configuration.
    Listener,
    /// Accepted with the QUIC configuration of a route with `client_auth`, whose check the
    /// handshake is held to.
    ClientAuth(Arc<quinn::ServerConfig>, Arc<Route>),
}

impl Accepting {
    /// What the accept loop of an endpoint with `peek` and `transport` uses.
    pub fn new(
        peek: Arc<HelloPeek>,
        tls: TlsConfigs,
        transport: Arc<quinn::TransportConfig>,
    ) -> Self {
        Accepting {
            peek,
            tls,
            transport,
            client_auth: Mutex::new(HashMap::new()),
        }
    }

    /// The QUIC configuration for `route`'s client-certificate check: its rustls configuration
    /// (rebuilt when the route or its CRLs change) with ALPN `h3` and no early data.
    fn for_client_auth(&self, route: &Route) -> Option<Arc<quinn::ServerConfig>> {
        let tls = self.tls.for_route(Some(route))?;
        let mut built = self.client_auth.lock().expect("QUIC client auth configs");
        if let Some((from, quic)) = built.get(&route.hostname) {
            if Arc::ptr_eq(from, &tls) {
                return Some(quic.clone());
            }
        }
        let quic = match super::quic_config((*tls).clone(), false, &self.transport) {
            Ok((quic, _)) => Arc::new(quic),
            Err(e) => {
                tracing::warn!(hostname = %route.hostname, error = %e, "client_auth unusable over QUIC; handshake refused");
                return None;
            }
        };
        if built.len() >= CLIENT_AUTH_KEPT {
            built.clear();
        }
        built.insert(route.hostname.clone(), (tls, quic.clone()));
        Some(quic)
    }
}

impl H3Edge {
    /// How `incoming` is accepted: its SNI read from the peek; the name loaded into memory (or
    /// issued on demand) before quinn picks the certificate; its route's client-certificate
    /// configuration when it has one. Without a readable SNI, the endpoint's configuration
    /// (the certificate by SNI still, from what memory has).
    pub(super) async fn acceptance(
        &self,
        incoming: &quinn::Incoming,
        accepting: &Accepting,
    ) -> Acceptance {
        let (from, dcid) = (incoming.remote_address(), incoming.orig_dst_cid());
        let sni = accepting.peek.server_name(from, dcid, HELLO_WAIT).await;
        let Some(name) = sni.as_deref().and_then(host::normalize) else {
            return Acceptance::Listener;
        };
        load_for_handshake(&self.resolver, self.on_demand.as_ref(), &name).await;
        let route = self.resolver.routes.get(&name);
        let Some(route) = route.filter(|r| r.client_auth.is_some()) else {
            return Acceptance::Listener;
        };
        match accepting.for_client_auth(&route) {
            Some(config) => Acceptance::ClientAuth(config, route),
            None => Acceptance::Refuse,
        }
    }
}

/// What the client-certificate check of a finished QUIC handshake for `route` established: the
/// chain the client sent (verified by the route's verifier; empty in `request` mode when none).
pub fn client_identity(route: Arc<Route>, conn: &quinn::Connection) -> Arc<ClientIdentity> {
    let chain = conn
        .peer_identity()
        .and_then(|identity| identity.downcast::<Vec<CertificateDer<'static>>>().ok())
        .map(|chain| *chain)
        .unwrap_or_default();
    Arc::new(ClientIdentity { route, chain })
}
