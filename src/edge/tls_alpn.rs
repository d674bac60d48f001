//! Answering a TLS-ALPN-01 validation handshake (RFC 8737) on the HTTPS listener.
//!
//! A ClientHello offering only `acme-tls/1` is the CA checking a name: it is answered with the
//! challenge certificate the ACME issuer stored in Redis for that identifier (so any instance
//! can answer), and the connection is closed after the handshake. It never reaches routing and
//! never enters the SNI cache; other handshakes for the same name are served as usual.

use std::net::IpAddr;
use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::StartHandshake;

use crate::certs::tls_alpn::ACME_TLS_ALPN;
use crate::store::Store;
use crate::tls::certified;

/// Whether the client offers `acme-tls/1` and nothing else.
pub fn is_validation(hello: &ClientHello<'_>) -> bool {
    hello.alpn().is_some_and(|mut protocols| {
        protocols.next() == Some(ACME_TLS_ALPN) && protocols.next().is_none()
    })
}

/// The identifier a validation handshake asks about: its SNI (a DNS name, or for an IP
/// identifier the reverse name `4.3.2.1.in-addr.arpa`, RFC 8738 §6), else the address the
/// client connected to.
pub fn identifier(sni: Option<&str>, local: Option<IpAddr>) -> Option<String> {
    match sni {
        Some(name) => {
            Some(ip_from_reverse_name(name).map_or_else(|| name.to_owned(), |ip| ip.to_string()))
        }
        None => local.map(|ip| ip.to_string()),
    }
}

/// `4.3.2.1.in-addr.arpa` → `1.2.3.4`; the 32-nibble `ip6.arpa` form → the IPv6 address.
fn ip_from_reverse_name(name: &str) -> Option<IpAddr> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if let Some(rest) = name.strip_suffix(".in-addr.arpa") {
        let mut octets: Vec<u8> = rest
            .split('.')
            .map(|o| o.parse().ok())
            .collect::<Option<_>>()?;
        if octets.len() != 4 {
            return None;
        }
        octets.reverse();
        return Some(IpAddr::from(<[u8; 4]>::try_from(octets).ok()?));
    }
    let rest = name.strip_suffix(".ip6.arpa")?;
    let nibbles: Vec<u8> = rest
        .split('.')
        .map(|n| u8::from_str_radix(n, 16).ok().filter(|_| n.len() == 1))
        .collect::<Option<_>>()?;
    if nibbles.len() != 32 {
        return None;
    }
    let mut bytes = [0u8; 16];
    for (i, pair) in nibbles.rchunks(2).enumerate() {
        bytes[i] = (pair[1] << 4) | pair[0];
    }
    Some(IpAddr::from(bytes))
}

/// Serves one fixed certificate.
#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// Completes the validation handshake with the stored challenge certificate for `identifier`
/// and closes; without one the connection is dropped (the CA sees a failed handshake).
pub async fn answer(start: StartHandshake<TcpStream>, identifier: Option<String>, store: &Store) {
    let Some(identifier) = identifier else {
        return;
    };
    let pem = match store.acme().tls_alpn_challenge(&identifier).await {
        Ok(Some(pem)) => pem,
        Ok(None) => {
            tracing::debug!(identifier, "acme-tls/1 handshake with no challenge pending");
            return;
        }
        Err(e) => {
            tracing::warn!(identifier, error = %e, "acme-tls/1 handshake: challenge unreadable");
            return;
        }
    };
    let key = match certified::build(pem.expose(), pem.expose()) {
        Ok((key, _)) => key,
        Err(e) => {
            tracing::warn!(identifier, error = %e, "stored TLS-ALPN-01 certificate unusable");
            return;
        }
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let Ok(builder) = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
    else {
        return;
    };
    let mut config = builder
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Fixed(key)));
    config.alpn_protocols = vec![ACME_TLS_ALPN.to_vec()];
    match start.into_stream(Arc::new(config)).await {
        Ok(mut tls) => {
            tracing::info!(identifier, "answered a TLS-ALPN-01 validation");
            let _ = tls.shutdown().await;
        }
        Err(e) => tracing::debug!(identifier, error = %e, "TLS-ALPN-01 handshake failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_names_map_to_addresses() {
        assert_eq!(
            identifier(Some("1.0.0.127.in-addr.arpa"), None).as_deref(),
            Some("127.0.0.1")
        );
        let v6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.";
        assert_eq!(identifier(Some(v6), None).as_deref(), Some("2001:db8::1"));
        assert_eq!(
            identifier(Some("a.example.com"), None).as_deref(),
            Some("a.example.com")
        );
        let local = "192.0.2.7".parse().ok();
        assert_eq!(identifier(None, local).as_deref(), Some("192.0.2.7"));
        assert_eq!(
            identifier(Some("9.9.in-addr.arpa"), None).as_deref(),
            Some("9.9.in-addr.arpa")
        );
    }
}
