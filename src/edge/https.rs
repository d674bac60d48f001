//! The HTTPS listener (`HTTPS_ADDR`): TLS with the certificate chosen by SNI, then forwarding.
//!
//! The handshake starts with a `LazyConfigAcceptor`, so a name missing from the cache can be
//! loaded from Redis (awaited, within the handshake timeout) before rustls asks the resolver;
//! a cached name goes straight through.

use std::sync::Arc;

use http::{Request, Response};
use hyper::body::Incoming;
use rustls::server::Acceptor;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::LazyConfigAcceptor;

use super::accept::accept_loop;
use super::conn::{self, Handler};
use super::context::RequestCtx;
use super::proxy::Proxy;
use super::{ConnInfo, EdgeBody};
use crate::config::Config;
use crate::metrics::METRICS;
use crate::routes::host;
use crate::shutdown::Shutdown;
use crate::tls::resolver::SniResolver;

#[derive(Clone)]
pub struct HttpsEdge {
    pub resolver: Arc<SniResolver>,
    pub tls: Arc<ServerConfig>,
    pub proxy: Proxy,
    pub config: Arc<Config>,
}

impl Handler for Proxy {
    async fn handle(
        &self,
        req: Request<Incoming>,
        conn: &ConnInfo,
        ctx: &mut RequestCtx,
    ) -> Response<EdgeBody> {
        Proxy::handle(self, req, conn, ctx).await
    }
}

impl HttpsEdge {
    /// Serves until `shutdown`.
    pub async fn serve(
        self,
        listener: TcpListener,
        connections: Arc<Semaphore>,
        shutdown: Shutdown,
    ) {
        accept_loop(
            listener,
            connections,
            shutdown,
            move |stream, peer, shutdown| {
                let edge = self.clone();
                async move {
                    let _gauge = crate::metrics::ConnectionGauge::open();
                    let handshake = async {
                        let start = LazyConfigAcceptor::new(Acceptor::default(), stream)
                            .await
                            .ok()?;
                        let sni = start.client_hello().server_name().and_then(host::normalize);
                        if let Some(name) = &sni {
                            edge.resolver.prepare(name).await;
                        }
                        let tls = start.into_stream(edge.tls.clone()).await.ok()?;
                        Some((tls, sni))
                    };
                    let (tls, sni) =
                        match tokio::time::timeout(edge.config.tls_handshake_timeout, handshake)
                            .await
                        {
                            Ok(Some(done)) => done,
                            Ok(None) => {
                                METRICS.tls_handshake_failures.inc(&["error"]);
                                return;
                            }
                            Err(_) => {
                                METRICS.tls_handshake_failures.inc(&["timeout"]);
                                return;
                            }
                        };
                    record_handshake(tls.get_ref().1);
                    let http2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                    let served = edge.resolver.pick(sni.as_deref());
                    let info = ConnInfo {
                        peer,
                        https: true,
                        sni,
                        served,
                    };
                    conn::serve(tls, http2, edge.proxy.clone(), info, &edge.config, shutdown).await;
                }
            },
        )
        .await;
    }
}

/// Counts a completed handshake by kind (full or resumed) and protocol version.
fn record_handshake(session: &rustls::ServerConnection) {
    let kind = match session.handshake_kind() {
        Some(rustls::HandshakeKind::Resumed) => "resumed",
        _ => "full",
    };
    let version = match session.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
        _ => "other",
    };
    METRICS.tls_handshakes.inc(&[kind, version]);
}
