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
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};

use super::proxy_protocol;
use tokio::sync::Semaphore;
use tokio_rustls::{LazyConfigAcceptor, StartHandshake};

use super::accept::accept_loop;
use super::cert_load::load_for_handshake;
use super::conn::{self, Handler};
use super::context::RequestCtx;
use super::proxy::Proxy;
use super::signing_turns::{SigningTurns, Turn};
use super::tls_alpn;
use super::{ClientIdentity, ConnInfo, EdgeBody};
use crate::config::tls::TlsVersion;
use crate::config::Config;
use crate::metrics::METRICS;
use crate::on_demand::OnDemand;
use crate::routes::host;
use crate::shutdown::Shutdown;
use crate::store::Store;
use crate::tls::cipher_order;
use crate::tls::policy::TlsConfigs;
use crate::tls::resolver::{AsHost, SniResolver};

#[derive(Clone)]
/// The HTTPS listener's shared parts: what each accepted connection is served with.
pub struct HttpsEdge {
    /// Picks each handshake's certificate by SNI.
    pub resolver: Arc<SniResolver>,
    /// The rustls server configurations (the listener's, and TLS 1.3 only for routes that
    /// require it).
    pub tls: TlsConfigs,
    /// Forwards requests to routes' upstreams.
    pub proxy: Proxy,
    /// The settings (deadlines, limits).
    pub config: Arc<Config>,
    /// Where TLS-ALPN-01 challenge certificates are read.
    pub store: Store,
    /// Certificates at the first handshake (`ON_DEMAND=true`).
    pub on_demand: Option<OnDemand>,
    /// Handshakes' crypto takes turns with the requests of open connections.
    pub signing: Arc<SigningTurns>,
    /// `Alt-Svc` for every answer when HTTP/3 is on (made once: [`super::h3::alt_svc`]).
    pub alt_svc: Option<http::HeaderValue>,
}

impl Handler for Proxy {
    // Not `async`: `Proxy::handle` returns its future directly (see there why).
    fn handle<'a>(
        &'a self,
        req: Request<Incoming>,
        conn: &'a ConnInfo,
        ctx: &'a mut RequestCtx,
    ) -> impl std::future::Future<Output = Response<EdgeBody>> + Send + 'a {
        Proxy::handle(self, req, conn, ctx)
    }
}

impl HttpsEdge {
    /// The TLS configuration for a handshake without SNI to `address`: the certificate naming
    /// that address when one is served, else the shared configuration (default certificate).
    fn config_for_address(&self, address: &str) -> Arc<ServerConfig> {
        if self.resolver.pick(Some(address)).is_none() {
            return self.tls.listener.clone();
        }
        let mut config = (*self.tls.listener).clone();
        config.cert_resolver = Arc::new(AsHost {
            resolver: self.resolver.clone(),
            host: address.to_owned(),
        });
        Arc::new(config)
    }

    /// Serves until `shutdown`.
    pub async fn serve(
        self,
        listener: TcpListener,
        connections: Arc<Semaphore>,
        shutdown: Shutdown,
    ) {
        // Shared, not cloned per connection: a connection's task holds one pointer to it.
        let edge = Arc::new(self);
        accept_loop(
            listener,
            connections,
            shutdown,
            move |stream, peer, shutdown| edge.clone().connection(stream, peer, shutdown),
        )
        .await;
    }

    /// One client connection: the TLS handshake (within its time limit), then its requests.
    async fn connection(
        self: Arc<Self>,
        mut stream: TcpStream,
        peer: SocketAddr,
        shutdown: Shutdown,
    ) {
        let _gauge = crate::metrics::ConnectionGauge::open();
        let Some(addresses) = proxy_protocol::addresses_of(
            &mut stream,
            peer,
            &self.config.traffic.proxy_protocol,
            self.config.limits.tls_handshake_timeout,
        )
        .await
        else {
            return;
        };
        // The address the client connected to picks a certificate for a handshake without SNI:
        // the load balancer's, when a PROXY header gave it.
        let local_ip = addresses
            .destination
            .or_else(|| stream.local_addr().ok())
            .map(|a| a.ip().to_canonical());
        // A first handshake may wait for its on-demand certificate on top.
        let limit = self.config.limits.tls_handshake_timeout
            + self
                .config
                .on_demand
                .as_ref()
                .map_or(std::time::Duration::ZERO, |o| o.handshake_wait);
        // Boxed: the handshake's state is freed once it is done, instead of sizing the
        // connection's task for its whole life.
        let handshake = Box::pin(tokio::time::timeout(
            limit,
            self.handshake(stream, local_ip),
        ));
        let Handshaken {
            tls,
            sni,
            name,
            client,
        } = match handshake.await {
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
        let info = self.conn_info(addresses.client, &tls, sni, name, client);
        let alt_svc = self.alt_svc.clone();
        // Boxed, like the handshake: a connection waiting for its handshake (most of them, in a
        // burst) then holds no room for serving.
        Box::pin(conn::serve(
            tls,
            http2,
            self.proxy.clone(),
            info,
            alt_svc,
            &self.config,
            shutdown,
        ))
        .await;
    }

    /// What the requests of a connection are told about it: the client's address, the names
    /// and certificate of the handshake, the client certificate's check, the TLS version.
    fn conn_info(
        &self,
        client_addr: SocketAddr,
        tls: &tokio_rustls::server::TlsStream<TcpStream>,
        sni: Option<String>,
        name: Option<String>,
        client: Option<Arc<ClientIdentity>>,
    ) -> ConnInfo {
        let served = self.resolver.pick(name.as_deref());
        let mut info = ConnInfo::new(
            client_addr,
            true,
            sni,
            served,
            &self.config.listeners.trusted_proxies,
        );
        info.client = client;
        info.tls_version = match tls.get_ref().1.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => Some(TlsVersion::Tls13),
            Some(_) => Some(TlsVersion::Tls12),
            None => None,
        };
        info
    }

    /// The TLS handshake: the ClientHello read, the certificate for its SNI (or the address
    /// connected to) loaded or issued on demand when missing, the key exchange in this task's
    /// turn. `None` when it failed, or was a TLS-ALPN-01 validation (answered and closed).
    ///
    /// Most of a burst's connections wait here for their turn, so this future is laid out for
    /// that wait: the ClientHello is read by [`read_hello`], which hands the handshake back
    /// (borrowed here, it would keep a slot of its own next to the key exchange's), and the
    /// rustls state is moved into the key exchange only once the turn has come.
    async fn handshake(
        &self,
        stream: TcpStream,
        local_ip: Option<std::net::IpAddr>,
    ) -> Option<Handshaken> {
        let start = LazyConfigAcceptor::new(Acceptor::default(), stream)
            .await
            .ok()?;
        let (start, sni, name, client_order) = match read_hello(start, local_ip) {
            Hello::Validation(start, identifier) => {
                Box::pin(tls_alpn::answer(start, identifier, &self.store)).await;
                return None;
            }
            Hello::Handshake {
                start,
                sni,
                name,
                client_order,
            } => (start, sni, name, client_order),
        };
        let Ready {
            start,
            route,
            config,
            turn,
        } = self
            .ready(start, sni.as_deref(), name.as_deref(), client_order)
            .await?;
        // The key exchange and signature run here, in this task's turn.
        let tls = turn.hold_for(start.into_stream(config)).await.ok()?;
        let client = route
            .filter(|r| r.client_auth.is_some())
            .map(|route| ClientIdentity::of(route, tls.get_ref().1));
        // Boxed once here: the stream (1.2 KB) is moved down through several nested futures,
        // and each would otherwise keep its own slot for it in the connection's task.
        Some(Handshaken {
            tls: Box::new(tls),
            sni,
            name,
            client,
        })
    }

    /// Gets a handshake ready for its key exchange: the certificate for its name loaded (or
    /// issued on demand) when missing, its configuration chosen, and this task's turn come.
    /// A future of its own so that the handshake's state (1.4 KB) has one slot, here, while
    /// it waits, and none while the key exchange runs.
    ///
    /// Not an `async fn`, whose arguments are copied into its body: the handshake is moved in
    /// once.
    #[allow(clippy::manual_async_fn)]
    fn ready<'a>(
        &'a self,
        start: StartHandshake<TcpStream>,
        sni: Option<&'a str>,
        name: Option<&'a str>,
        client_order: bool,
    ) -> impl std::future::Future<Output = Option<Ready<'a>>> + Send + 'a {
        async move {
            match (sni, name) {
                (Some(host), _) => {
                    load_for_handshake(&self.resolver, self.on_demand.as_ref(), host).await;
                }
                (None, Some(address)) => self.resolver.prepare(address).await,
                (None, None) => {}
            }
            // The route decides the oldest version and whether a client certificate is verified.
            let route = sni.and_then(|host| self.resolver.routes.get(host));
            let config = match (sni, name) {
                (None, Some(address)) => self.config_for_address(address),
                _ => self.tls.for_route(route.as_deref())?,
            };
            let config = if client_order {
                self.tls.in_client_order(&config)
            } else {
                config
            };
            let turn = self.signing.turn().await;
            Some(Ready {
                start,
                route,
                config,
                turn,
            })
        }
    }
}

/// What a ClientHello asks for, with the handshake it was read from (handed back, not
/// borrowed, so that the handshake's future does not keep a second slot for it).
enum Hello {
    /// A TLS-ALPN-01 validation, for this identifier.
    Validation(StartHandshake<TcpStream>, Option<String>),
    /// A handshake to go on with.
    Handshake {
        start: StartHandshake<TcpStream>,
        /// The SNI name, normalised.
        sni: Option<String>,
        /// The name the certificate is chosen for: the SNI, else the address connected to
        /// (never issued on demand).
        name: Option<String>,
        /// The client lists ChaCha20-Poly1305 first (no AES hardware): its order of cipher
        /// suites is followed instead of the server's (`tls::cipher_order`).
        client_order: bool,
    },
}

/// A handshake ready for its key exchange ([`HttpsEdge::ready`]).
struct Ready<'a> {
    start: StartHandshake<TcpStream>,
    route: Option<Arc<crate::routes::Route>>,
    config: Arc<ServerConfig>,
    turn: Turn<'a>,
}

/// Reads the ClientHello of `start`.
fn read_hello(start: StartHandshake<TcpStream>, local_ip: Option<std::net::IpAddr>) -> Hello {
    let hello = start.client_hello();
    let sni = hello.server_name().and_then(host::normalize);
    if tls_alpn::is_validation(&hello) {
        let identifier = tls_alpn::identifier(hello.server_name(), local_ip);
        return Hello::Validation(start, identifier);
    }
    let name = sni.clone().or_else(|| local_ip.map(|ip| ip.to_string()));
    let client_order = cipher_order::client_prefers_chacha(hello.cipher_suites());
    Hello::Handshake {
        start,
        sni,
        name,
        client_order,
    }
}

/// A finished handshake.
struct Handshaken {
    tls: Box<tokio_rustls::server::TlsStream<TcpStream>>,
    /// The SNI name, normalised.
    sni: Option<String>,
    /// The name the certificate was chosen for (the SNI, else the address connected to).
    name: Option<String>,
    /// What the client-certificate check established, for a route with `client_auth`.
    client: Option<Arc<ClientIdentity>>,
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
    let group = session
        .negotiated_key_exchange_group()
        .map_or("none", |g| group_name(g.name()));
    METRICS.tls_handshakes.inc(&[kind, version, group]);
}

/// The IANA name of a key exchange group, as the metric labels it.
fn group_name(group: rustls::NamedGroup) -> &'static str {
    match group {
        rustls::NamedGroup::X25519MLKEM768 => "X25519MLKEM768",
        rustls::NamedGroup::secp256r1MLKEM768 => "SECP256R1MLKEM768",
        rustls::NamedGroup::X25519 => "X25519",
        rustls::NamedGroup::secp256r1 => "secp256r1",
        rustls::NamedGroup::secp384r1 => "secp384r1",
        rustls::NamedGroup::MLKEM768 => "MLKEM768",
        rustls::NamedGroup::MLKEM1024 => "MLKEM1024",
        _ => "other",
    }
}
