//! An HTTPS client for edge tests: a fresh TLS config per connection (no resumption), any
//! certificate accepted and reported, HTTP/1.1 or HTTP/2 over it.

#![allow(dead_code)]

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// Accepts any certificate: the tests compare what was served with what they expect.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A TLS connection to 127.0.0.1:`port` with SNI `sni` and the given ALPN protocols.
pub async fn connect(port: u16, sni: &str, alpn: &[&[u8]]) -> TlsStream<TcpStream> {
    try_connect(port, sni, alpn).await.unwrap()
}

/// [`connect`], with a failed connection or handshake as an error.
pub async fn try_connect(
    port: u16,
    sni: &str,
    alpn: &[&[u8]],
) -> Result<TlsStream<TcpStream>, String> {
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    tls_over(tcp, sni, alpn).await
}

/// A TLS handshake over a TCP connection already open (that may have sent bytes before, such
/// as a PROXY header), accepting any server certificate.
pub async fn tls_over(
    tcp: TcpStream,
    sni: &str,
    alpn: &[&[u8]],
) -> Result<TlsStream<TcpStream>, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config.resumption = rustls::client::Resumption::disabled();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(sni.to_owned()).unwrap(), tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))
}

/// The leaf certificate the server presented.
pub fn served_leaf(tls: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    tls.get_ref().1.peer_certificates().unwrap()[0]
        .clone()
        .into_owned()
}

/// The DER of the first certificate in a PEM chain.
pub fn leaf_der(chain_pem: &str) -> CertificateDer<'static> {
    rustls_pemfile::certs(&mut chain_pem.as_bytes())
        .next()
        .unwrap()
        .unwrap()
}

/// A collected response.
pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// An HTTP/1.1 sender over one TLS connection (keep-alive), for bodies of type `B`.
pub async fn http1<B>(tls: TlsStream<TcpStream>) -> hyper::client::conn::http1::SendRequest<B>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn.with_upgrades());
    sender
}

/// An HTTP/2 sender over one TLS connection.
pub async fn http2(
    tls: TlsStream<TcpStream>,
) -> hyper::client::conn::http2::SendRequest<Full<Bytes>> {
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    sender
}

pub async fn collect(response: Response<Incoming>) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    Answer {
        status,
        headers,
        body,
    }
}

/// One GET over a new connection: SNI `sni`, `Host: host`, HTTP/1.1.
pub async fn get(port: u16, sni: &str, host: &str, path: &str) -> Answer {
    let tls = connect(port, sni, &[b"http/1.1"]).await;
    let mut sender = http1(tls).await;
    let req = Request::get(path)
        .header("host", host)
        .body(Full::new(Bytes::new()))
        .unwrap();
    collect(sender.send_request(req).await.unwrap()).await
}

/// What a [`connect_tuned`] client offers.
pub struct Tuning {
    /// Key exchange groups, most preferred first (the client sends a key share for the first).
    pub groups: Vec<&'static dyn rustls::crypto::SupportedKxGroup>,
    /// Protocol versions offered.
    pub versions: &'static [&'static rustls::SupportedProtocolVersion],
    /// The certificate compression algorithms offered (RFC 8879); empty offers none.
    pub decompress: &'static [rustls::CertificateCompressionAlgorithm],
    /// Cipher suites offered, most preferred first; empty offers rustls' default list.
    pub suites: Vec<rustls::SupportedCipherSuite>,
}

/// A TCP stream that counts the bytes read from the server.
pub struct Counted {
    tcp: TcpStream,
    read: Arc<std::sync::atomic::AtomicU64>,
}

impl tokio::io::AsyncRead for Counted {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.tcp).poll_read(cx, buf);
        let n = (buf.filled().len() - before) as u64;
        self.read.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        polled
    }
}

impl tokio::io::AsyncWrite for Counted {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.tcp).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.tcp).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// A handshake with a client that offers exactly `tuning`, ALPN `http/1.1`; the stream and the
/// bytes the server sent during the handshake.
pub async fn connect_tuned(
    port: u16,
    sni: &str,
    tuning: &Tuning,
) -> Result<(TlsStream<Counted>, u64), String> {
    let default = rustls::crypto::aws_lc_rs::default_provider();
    let provider = Arc::new(rustls::crypto::CryptoProvider {
        kx_groups: tuning.groups.clone(),
        cipher_suites: if tuning.suites.is_empty() {
            default.cipher_suites.clone()
        } else {
            tuning.suites.clone()
        },
        ..default
    });
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(tuning.versions)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.resumption = rustls::client::Resumption::disabled();
    config
        .cert_decompressors
        .retain(|d| tuning.decompress.contains(&d.algorithm()));
    let read = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let counted = Counted {
        tcp,
        read: read.clone(),
    };
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(sni.to_owned()).unwrap(), counted)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let bytes = read.load(std::sync::atomic::Ordering::Relaxed);
    Ok((tls, bytes))
}

/// A client certificate chain (leaf first) and its key.
pub type ClientCert = (
    Vec<CertificateDer<'static>>,
    rustls::pki_types::PrivateKeyDer<'static>,
);

/// [`try_connect`] presenting `client` (when given) if the server asks for a certificate.
pub async fn try_connect_as(
    port: u16,
    sni: &str,
    alpn: &[&[u8]],
    client: Option<ClientCert>,
) -> Result<TlsStream<TcpStream>, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)));
    let mut config = match client {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| format!("client certificate: {e}"))?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config.resumption = rustls::client::Resumption::disabled();
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(sni.to_owned()).unwrap(), tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))
}
