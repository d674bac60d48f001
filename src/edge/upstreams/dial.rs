//! Opening a connection to one upstream: TCP to its own address (whatever host the request
//! names), then TLS for `https://` upstreams, offering by ALPN the protocols the pool asking
//! can speak. Both pools ([`super::http1_pool`], [`super::http2_pool`]) dial through it, so
//! an `https://` connection is driven the same way a plain one is.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::client::SendError;
use super::resolver::UpstreamResolver;
use crate::metrics::registry::Counter;

/// An upstream connection's byte stream: plain TCP, or TLS over it.
pub enum UpstreamIo {
    /// `http://` and `h2c://`.
    Plain(TcpStream),
    /// `https://` (boxed: a TLS connection's state is large, the enum stays small).
    Tls(Box<TlsStream<TcpStream>>),
}

/// TLS toward one upstream: the verifying configuration and the name to verify.
#[derive(Clone)]
pub struct UpstreamTls {
    /// The route's client configuration, with the ALPN offer of the pool it dials for.
    connector: TlsConnector,
    /// The name sent by SNI and verified (the route's `upstream_sni`, else the host).
    server_name: ServerName<'static>,
}

impl UpstreamTls {
    /// `config` (the route's verification) offering `protocols` by ALPN.
    pub fn offering(
        config: &ClientConfig,
        server_name: ServerName<'static>,
        protocols: &[&[u8]],
    ) -> UpstreamTls {
        let mut config = config.clone();
        config.alpn_protocols = protocols.iter().map(|p| p.to_vec()).collect();
        UpstreamTls {
            connector: TlsConnector::from(Arc::new(config)),
            server_name,
        }
    }
}

/// How to open a connection to one upstream.
#[derive(Clone)]
pub struct Dialer {
    connector: HttpConnector<UpstreamResolver>,
    /// `http://host:port` of the upstream (TLS, when wanted, is `tls`).
    target: Uri,
    tls: Option<UpstreamTls>,
    /// `certgate_upstream_connections_opened_total` of the route.
    opened: Counter,
}

impl Dialer {
    /// Dials `target` (its own address, whatever the request names) through `connector`,
    /// then `tls` when given; `opened` counts each connection opened.
    pub fn new(
        connector: HttpConnector<UpstreamResolver>,
        target: Uri,
        tls: Option<UpstreamTls>,
        opened: Counter,
    ) -> Dialer {
        Dialer {
            connector,
            target,
            tls,
            opened,
        }
    }

    /// Whether connections are TLS (where ALPN, not the scheme, decides HTTP/1.1 or HTTP/2).
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// `http://host:port` of the upstream, for logs.
    pub fn target(&self) -> &Uri {
        &self.target
    }

    /// A new connection, and whether the upstream chose HTTP/2 by ALPN (never, without TLS).
    pub async fn dial(&self) -> Result<(UpstreamIo, bool), SendError> {
        use tower_service::Service;
        self.opened.inc();
        let tcp = self
            .connector
            .clone()
            .call(self.target.clone())
            .await
            .map_err(SendError::connect)?
            .into_inner();
        let Some(tls) = &self.tls else {
            return Ok((UpstreamIo::Plain(tcp), false));
        };
        let stream = tls
            .connector
            .connect(tls.server_name.clone(), tcp)
            .await
            .map_err(SendError::connect)?;
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        Ok((UpstreamIo::Tls(Box::new(stream)), h2))
    }
}

impl AsyncRead for UpstreamIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamIo::Plain(s) => Pin::new(s).poll_read(cx, buf),
            UpstreamIo::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for UpstreamIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpstreamIo::Plain(s) => Pin::new(s).poll_write(cx, buf),
            UpstreamIo::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpstreamIo::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            UpstreamIo::Tls(s) => Pin::new(&mut **s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            UpstreamIo::Plain(s) => s.is_write_vectored(),
            UpstreamIo::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamIo::Plain(s) => Pin::new(s).poll_flush(cx),
            UpstreamIo::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamIo::Plain(s) => Pin::new(s).poll_shutdown(cx),
            UpstreamIo::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }
}
