//! HTTP/3 on the HTTPS port over UDP (`HTTP3`, on by default): QUIC (quinn) with the
//! certificate picked by SNI from the same cache as TCP handshakes, and each HTTP/3 request
//! (h3) fed to the same proxy phases as HTTP/1.1 and HTTP/2 — routes, `421`, upstreams,
//! retries, header rules, limits, metrics and the access log. TCP answers advertise it with
//! `Alt-Svc`.
//!
//! The ClientHello is read from the client's Initial packets before quinn accepts the
//! connection ([`peek`], [`handshake`]), so, as over TCP, a name missing from the memory cache
//! is loaded (or issued on demand) before the certificate is picked, and a route with
//! `client_auth` has the client's certificate verified in the handshake. When the ClientHello
//! cannot be read, a miss is loaded behind the handshake instead ([`resolve`]).

pub mod body;
pub mod early;
pub mod handshake;
pub mod hello;
pub mod initial;
pub mod peek;
pub mod resolve;
pub mod retry;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use h3::server::RequestResolver;
use http::{HeaderValue, Method, Request, Response};
use quinn::crypto::rustls::{HandshakeData, QuicServerConfig};
use tokio::sync::Semaphore;

use super::conn::{connect_refused, record};
use super::context::RequestCtx;
use super::proxy::Proxy;
use super::ConnInfo;
use crate::config::tls::TlsVersion;
use crate::config::Config;
use crate::routes::host;
use crate::shutdown::Shutdown;
use crate::tls::resolver::SniResolver;

/// Concurrent request streams a client may open on one connection; more wait for a slot.
const MAX_STREAMS: u32 = 100;

/// `Alt-Svc: h3=":PORT"; ma=86400`, for TCP answers when HTTP/3 is on.
pub fn alt_svc(config: &Config) -> Option<HeaderValue> {
    if !config.listeners.http3 {
        return None;
    }
    let port = config.listeners.https_public_port;
    HeaderValue::try_from(format!("h3=\":{port}\"; ma=86400")).ok()
}

/// The UDP socket on `addr` (bound at start-up, so a port in use stops the start).
pub fn bind(addr: SocketAddr) -> Result<std::net::UdpSocket, String> {
    std::net::UdpSocket::bind(addr).map_err(|e| format!("UDP {addr}: {e}"))
}

/// A QUIC endpoint and what accepting its connections needs.
pub struct QuicEndpoint {
    /// The endpoint.
    pub endpoint: quinn::Endpoint,
    /// The ClientHellos its socket reads.
    pub peek: Arc<peek::HelloPeek>,
    /// Its transport settings, shared by the per-route configurations.
    pub transport: Arc<quinn::TransportConfig>,
}

/// The QUIC endpoint on `socket`, with the HTTPS listener's TLS settings restricted to what
/// QUIC takes (TLS 1.3, ALPN `h3`, early data only with `QUIC_0RTT`), and the cluster's
/// stateless-reset key.
pub fn endpoint(
    tls: &Arc<rustls::ServerConfig>,
    resolver: Arc<dyn rustls::server::ResolvesServerCert>,
    socket: std::net::UdpSocket,
    reset_key: &[u8],
    config: &Config,
) -> Result<QuicEndpoint, String> {
    let mut tls = (**tls).clone();
    tls.cert_resolver = resolver;
    let mut transport = quinn::TransportConfig::default();
    transport.max_concurrent_bidi_streams(MAX_STREAMS.into());
    let idle = config.limits.idle_timeout.min(Duration::from_secs(600));
    transport.max_idle_timeout(quinn::IdleTimeout::try_from(idle).ok());
    let transport = Arc::new(transport);
    let (server, crypto) = quic_config(tls, config.listeners.quic_0rtt, &transport)?;
    let reset = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, reset_key);
    let endpoint_config = quinn::EndpointConfig::new(Arc::new(reset));
    let runtime = Arc::new(quinn::TokioRuntime);
    let peek = peek::HelloPeek::new(crypto);
    let socket = quinn::Runtime::wrap_udp_socket(&*runtime, socket)
        .map_err(|e| format!("the QUIC socket: {e}"))?;
    let socket = Arc::new(peek::PeekingSocket::new(socket, peek.clone()));
    let endpoint =
        quinn::Endpoint::new_with_abstract_socket(endpoint_config, Some(server), socket, runtime)
            .map_err(|e| format!("the QUIC endpoint: {e}"))?;
    Ok(QuicEndpoint {
        endpoint,
        peek,
        transport,
    })
}

/// A QUIC configuration from a TCP listener's rustls one: ALPN `h3`, early data only with
/// `zero_rtt`, and `transport`; with its crypto (for the Initial keys).
fn quic_config(
    mut tls: rustls::ServerConfig,
    zero_rtt: bool,
    transport: &Arc<quinn::TransportConfig>,
) -> Result<(quinn::ServerConfig, Arc<QuicServerConfig>), String> {
    tls.alpn_protocols = vec![b"h3".to_vec()];
    // QUIC takes all or nothing: 0xffffffff allows early data, 0 refuses it. rustls takes
    // early data only on a stateful resumption (a session it stored), not from a ticket.
    tls.max_early_data_size = 0;
    if zero_rtt {
        tls.max_early_data_size = u32::MAX;
        tls.ticketer = Arc::new(early::StatefulOnly);
    }
    let crypto = Arc::new(QuicServerConfig::try_from(tls).map_err(|e| e.to_string())?);
    let mut server = quinn::ServerConfig::with_crypto(crypto.clone());
    server.transport_config(transport.clone());
    Ok((server, crypto))
}

/// What each QUIC connection is served with.
pub struct H3Edge {
    /// Forwards requests (the same proxy as the TCP listeners').
    pub proxy: Proxy,
    /// Names the certificate a connection was served, for the `421` check.
    pub resolver: Arc<SniResolver>,
    /// Issues certificates for names the cache misses (`ON_DEMAND=true`).
    pub on_demand: Option<crate::on_demand::OnDemand>,
    /// The settings.
    pub config: Arc<Config>,
}

impl H3Edge {
    /// Accepts QUIC connections until `shutdown`, within the listeners' connection cap; then
    /// every connection sends GOAWAY, and requests in flight get `DRAIN_GRACE` before the
    /// endpoint closes. `tls`: the HTTPS listener's configurations, for the routes that check
    /// client certificates.
    pub async fn serve(
        self,
        quic: QuicEndpoint,
        tls: crate::tls::policy::TlsConfigs,
        caps: Arc<Semaphore>,
        shutdown: Shutdown,
    ) {
        let edge = Arc::new(self);
        let endpoint = quic.endpoint;
        let accepting = Arc::new(handshake::Accepting::new(quic.peek, tls, quic.transport));
        let listeners = &edge.config.listeners;
        let mut retry = retry::RetryPolicy::new(listeners.quic_retry, listeners.quic_retry_above);
        loop {
            let incoming = tokio::select! {
                i = endpoint.accept() => i,
                _ = shutdown.wait() => break,
            };
            let Some(incoming) = incoming else { break };
            let validated = incoming.remote_address_validated();
            if retry.retry(validated, std::time::Instant::now()) {
                crate::metrics::METRICS.quic_retries.inc(&[]);
                let _ = incoming.retry();
                continue;
            }
            let Ok(permit) = caps.clone().try_acquire_owned() else {
                incoming.refuse();
                continue;
            };
            let (edge, shutdown, accepting) = (edge.clone(), shutdown.clone(), accepting.clone());
            tokio::spawn(async move {
                edge.connection(incoming, &accepting, shutdown).await;
                drop(permit);
            });
        }
        let _ = tokio::time::timeout(edge.config.limits.drain_grace, endpoint.wait_idle()).await;
        endpoint.close(quinn::VarInt::from_u32(0x100), b"shutting down");
    }

    /// One QUIC connection: the handshake, then its requests, each on its own task, until the
    /// client closes it or the instance stops (GOAWAY; the requests already begun finish).
    async fn connection(
        self: Arc<Self>,
        incoming: quinn::Incoming,
        accepting: &handshake::Accepting,
        shutdown: Shutdown,
    ) {
        let (connecting, client_route) = match self.acceptance(&incoming, accepting).await {
            handshake::Acceptance::Refuse => return incoming.refuse(),
            handshake::Acceptance::Listener => (incoming.accept(), None),
            handshake::Acceptance::ClientAuth(config, route) => {
                (incoming.accept_with(config), Some(route))
            }
        };
        let Ok(connecting) = connecting else { return };
        let zero_rtt = self.config.listeners.quic_0rtt;
        let Some((conn, handshake)) = early::establish(connecting, zero_rtt).await else {
            return;
        };
        let sni = conn
            .handshake_data()
            .and_then(|data| data.downcast::<HandshakeData>().ok())
            .and_then(|data| data.server_name)
            .and_then(|name| host::normalize(&name));
        let served = self.resolver.pick(sni.as_deref());
        let mut info = ConnInfo::new(
            conn.remote_address(),
            true,
            sni,
            served,
            &self.config.listeners.trusted_proxies,
        );
        info.tls_version = Some(TlsVersion::Tls13);
        info.client = client_route.map(|route| handshake::client_identity(route, &conn));
        let info = Arc::new(info);
        let built = h3::server::builder()
            .max_field_section_size(self.config.limits.max_header_bytes as u64)
            .build::<_, Bytes>(h3_quinn::Connection::new(conn))
            .await;
        let Ok(mut h3) = built else { return };
        loop {
            let accepted = tokio::select! {
                a = h3.accept() => a,
                _ = shutdown.wait() => {
                    // GOAWAY; `accept` then ends once the requests already begun have ended
                    // (dropping the connection sooner would close it under them).
                    let _ = h3.shutdown(0).await;
                    while let Ok(Some(_refused)) = h3.accept().await {}
                    return;
                }
            };
            let Ok(Some(resolver)) = accepted else { return };
            let (edge, info) = (self.clone(), info.clone());
            let early = handshake.is_early();
            tokio::spawn(async move { edge.request(resolver, &info, early).await });
        }
    }

    /// One request stream: the request through the proxy's phases, the answer written back.
    async fn request(
        self: Arc<Self>,
        resolver: RequestResolver<h3_quinn::Connection, Bytes>,
        info: &ConnInfo,
        early: bool,
    ) {
        let Ok((req, stream)) = resolver.resolve_request().await else {
            return;
        };
        let (mut send, recv) = stream.split();
        let (mut parts, ()) = req.into_parts();
        parts.version = http::Version::HTTP_3;
        let req = Request::from_parts(parts, body::H3Body::new(recv));
        let trusted = self.config.access_log_trusted_proxies();
        let mut ctx = RequestCtx::of_request(&req, info.peer.ip(), trusted);
        let response = if req.method() == Method::CONNECT {
            connect_refused()
        } else if early && !req.method().is_safe() {
            early::too_early()
        } else {
            Box::pin(self.proxy.handle(req, info, &mut ctx)).await
        };
        let logged = record(&mut ctx, info, response.status().as_u16(), 2);
        let (mut parts, body) = response.into_parts();
        strip_connection_headers(&mut parts.headers);
        if send
            .send_response(Response::from_parts(parts, ()))
            .await
            .is_err()
        {
            return;
        }
        let sent = match logged {
            Some(pending) => {
                body::send_body(
                    &mut send,
                    super::access_log::body::LoggedBody::new(body, pending),
                )
                .await
            }
            None => body::send_body(&mut send, body).await,
        };
        if let Err(why) = sent {
            tracing::debug!(%why, "HTTP/3 answer cut short");
        }
    }
}

/// Removes the headers HTTP/3 forbids (RFC 9114 §4.2): they name the TCP connection.
fn strip_connection_headers(headers: &mut http::HeaderMap) {
    for name in [
        http::header::CONNECTION,
        http::header::TRANSFER_ENCODING,
        http::header::UPGRADE,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
}
