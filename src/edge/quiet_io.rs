//! What a connection's I/O gives back while its client is quiet.
//!
//! rustls reads records into a 4 KiB buffer and, as published, keeps it for the connection's
//! life: the largest single part of an idle TLS connection here. certgate's copy of rustls
//! (`vendor/README.md`) can free it on request and allocates it again only once bytes arrive.
//! Freeing it after every read instead cost 39 % more instructions per proxied HTTP/1.1 request
//! (glibc consolidates its small free chunks on each 4 KiB allocation), so it is freed only where
//! the connection is known to be quiet: HTTP/1.1 waiting for a request without hyper
//! (`super::conn`), that is on a new connection and once one has been quiet for its hold after
//! a request (`super::release_hold`); HTTP/2 once it has been quiet for `RELEASE_AFTER`, at a
//! read that finds nothing (`super::activity::Guarded::release_when_quiet`).

use tokio::net::TcpStream;

/// I/O that can free what it holds only to receive.
pub trait ReleaseWhileQuiet {
    /// Frees receive buffers that hold nothing; the next read that brings bytes allocates
    /// them again.
    fn release_while_quiet(&mut self);
}

impl ReleaseWhileQuiet for TcpStream {
    /// The kernel's buffers only: nothing to free.
    fn release_while_quiet(&mut self) {}
}

impl<IO> ReleaseWhileQuiet for tokio_rustls::server::TlsStream<IO> {
    fn release_while_quiet(&mut self) {
        self.get_mut().1.release_receive_buffer();
    }
}

impl<IO: ReleaseWhileQuiet + ?Sized> ReleaseWhileQuiet for Box<IO> {
    fn release_while_quiet(&mut self) {
        (**self).release_while_quiet();
    }
}

/// In-memory connections of unit tests: nothing to free.
#[cfg(test)]
impl ReleaseWhileQuiet for tokio::io::DuplexStream {
    fn release_while_quiet(&mut self) {}
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use rustls::pki_types::{PrivateKeyDer, ServerName};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A TLS server stream and its client over a real loopback socket.
    async fn pair() -> (
        tokio_rustls::server::TlsStream<TcpStream>,
        tokio_rustls::client::TlsStream<TcpStream>,
    ) {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(ca.self_signed(&ca_key).unwrap().der().clone())
            .unwrap();
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["quiet.test".to_owned()])
            .unwrap()
            .signed_by(&key, &Issuer::new(ca, ca_key))
            .unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
            )
            .unwrap();
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connect = async {
            let tcp = TcpStream::connect(addr).await.unwrap();
            tokio_rustls::TlsConnector::from(Arc::new(client))
                .connect(ServerName::try_from("quiet.test").unwrap(), tcp)
                .await
                .unwrap()
        };
        let accept = async {
            let (tcp, _) = listener.accept().await.unwrap();
            tokio_rustls::TlsAcceptor::from(Arc::new(server))
                .accept(tcp)
                .await
                .unwrap()
        };
        let (client, server) = tokio::join!(connect, accept);
        (server, client)
    }

    #[tokio::test]
    async fn a_released_connection_reads_small_and_large_records_as_before() {
        let (mut server, mut client) = pair().await;
        // Released before anything arrived, between messages, and while the client is
        // between records of a message larger than one record (16 KiB) and than the 4 KiB
        // the first read after a release takes.
        let messages: Vec<Vec<u8>> = vec![
            b"GET / HTTP/1.1\r\n\r\n".to_vec(),
            (0..100_000u32).map(|i| (i % 251) as u8).collect(),
            b"x".to_vec(),
        ];
        for message in &messages {
            server.release_while_quiet();
            let mut nothing = [0u8; 1];
            // Nothing has been sent: the read waits (and must not have failed).
            assert!(tokio::time::timeout(
                std::time::Duration::from_millis(20),
                server.read(&mut nothing)
            )
            .await
            .is_err());
            client.write_all(message).await.unwrap();
            client.flush().await.unwrap();
            let mut got = vec![0u8; message.len()];
            let mut filled = 0;
            while filled < got.len() {
                server.release_while_quiet();
                let n = server.read(&mut got[filled..]).await.unwrap();
                assert!(n > 0);
                filled += n;
            }
            assert_eq!(&got, message);
        }
        server.write_all(b"answer").await.unwrap();
        server.flush().await.unwrap();
        let mut answer = [0u8; 6];
        client.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"answer");
    }
}
