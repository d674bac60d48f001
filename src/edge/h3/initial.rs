//! Reading a client's Initial packet (RFC 9000 §17.2.2) before quinn does, for the TLS
//! ClientHello it carries. Initial packets are protected with keys anyone can derive from the
//! packet's Destination Connection ID (RFC 9001 §5.2), so the edge can learn the SNI — and pick
//! the certificate, the route's client-certificate check and wait for an on-demand issuance —
//! before it hands the connection to quinn, just as a TCP handshake reads the ClientHello first.

use bytes::BytesMut;
use quinn::crypto::ServerConfig as _;
use quinn::ConnectionId;

/// QUIC version 1 (RFC 9000); Initial packets of other versions are left to quinn alone.
const QUIC_V1: u32 = 1;

/// A client's Initial datagram is at least this long (RFC 9000 §14.1); quinn drops shorter ones.
const MIN_INITIAL_DATAGRAM: usize = 1200;

/// The longest connection ID QUIC v1 allows.
const MAX_CID: usize = 20;

/// Whether `datagram` starts with a long-header Initial packet (type bits `00`): the only
/// packets worth decrypting here. One comparison per datagram, so the data path pays nothing.
pub fn looks_initial(datagram: &[u8]) -> bool {
    datagram.first().is_some_and(|b| b & 0xf0 == 0xc0) && datagram.len() >= MIN_INITIAL_DATAGRAM
}

/// A decrypted client Initial: its Destination Connection ID and its CRYPTO frames
/// (offset, data) — pieces of the TLS ClientHello.
pub struct InitialCrypto {
    /// The packet's Destination Connection ID (the client's choice, or the Retry's).
    pub dcid: ConnectionId,
    /// The CRYPTO frames, in packet order.
    pub frames: Vec<(u64, Vec<u8>)>,
}

/// Decrypts the QUIC v1 Initial packet at the start of `datagram` with the keys its DCID
/// gives (`keys` is the endpoint's QUIC crypto). `None`: not a v1 Initial, it does not
/// authenticate, or it carries no CRYPTO frame (an acknowledgement only).
pub fn crypto_frames(
    datagram: &[u8],
    keys: &quinn::crypto::rustls::QuicServerConfig,
) -> Option<InitialCrypto> {
    if !looks_initial(datagram) {
        return None;
    }
    let mut header = Reader::new(datagram);
    header.skip(1)?;
    let version = u32::from_be_bytes(header.take(4)?.try_into().ok()?);
    if version != QUIC_V1 {
        return None;
    }
    let dcid_len = usize::from(header.byte()?);
    if dcid_len > MAX_CID {
        return None;
    }
    let dcid = ConnectionId::new(header.take(dcid_len)?);
    let scid_len = usize::from(header.byte()?);
    header.take(scid_len)?;
    let token_len = header.varint()?;
    header.take(usize::try_from(token_len).ok()?)?;
    let length = usize::try_from(header.varint()?).ok()?;
    let pn_offset = header.pos;
    let end = pn_offset.checked_add(length)?;
    if end > datagram.len() || length < 20 {
        return None;
    }
    let keys = keys.initial_keys(version, &dcid).ok()?;
    let mut packet = BytesMut::from(&datagram[..end]);
    keys.header.remote.decrypt(pn_offset, &mut packet);
    let pn_len = usize::from(packet[0] & 0x03) + 1;
    // A client's first packets are numbered from 0, so the truncated number is the number.
    let number = Reader::new(&packet[pn_offset..]).number(pn_len)?;
    let header_bytes = packet.split_to(pn_offset + pn_len);
    keys.packet
        .remote
        .decrypt(number, &header_bytes, &mut packet)
        .ok()?;
    let frames = crypto_of(&packet);
    (!frames.is_empty()).then_some(InitialCrypto { dcid, frames })
}

/// The CRYPTO frames of a decrypted Initial payload, up to the first frame that is neither
/// PADDING, PING nor CRYPTO (an ACK: a client's later Initial, not its ClientHello).
fn crypto_of(payload: &[u8]) -> Vec<(u64, Vec<u8>)> {
    let mut frames = Vec::new();
    let mut reader = Reader::new(payload);
    while let Some(kind) = reader.varint() {
        match kind {
            0x00 | 0x01 => {}
            0x06 => {
                let (Some(offset), Some(len)) = (reader.varint(), reader.varint()) else {
                    break;
                };
                let Some(data) = usize::try_from(len).ok().and_then(|l| reader.take(l)) else {
                    break;
                };
                frames.push((offset, data.to_vec()));
            }
            _ => break,
        }
    }
    frames
}

/// A cursor over bytes that never reads past the end.
pub(super) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A cursor at the start of `bytes`.
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    /// The next `n` bytes.
    pub(super) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let taken = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(taken)
    }

    /// Skips `n` bytes.
    pub(super) fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }

    /// The next byte.
    pub(super) fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    /// The next big-endian integer of `n` bytes (n ≤ 8).
    pub(super) fn number(&mut self, n: usize) -> Option<u64> {
        Some(
            self.take(n)?
                .iter()
                .fold(0u64, |v, b| v << 8 | u64::from(*b)),
        )
    }

    /// A QUIC variable-length integer (RFC 9000 §16).
    fn varint(&mut self) -> Option<u64> {
        let first = self.byte()?;
        let len = 1usize << (first >> 6);
        let rest = self.number(len - 1)?;
        Some(u64::from(first & 0x3f) << (8 * (len - 1)) | rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_read_in_all_four_lengths() {
        // RFC 9000 §A.1's examples.
        for (bytes, want) in [
            (&[0x25][..], 37),
            (&[0x7b, 0xbd][..], 15_293),
            (&[0x9d, 0x7f, 0x3e, 0x7d][..], 494_878_333),
            (
                &[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c][..],
                151_288_809_941_952_652,
            ),
        ] {
            assert_eq!(Reader::new(bytes).varint(), Some(want));
        }
        assert_eq!(Reader::new(&[0x40]).varint(), None, "cut short");
    }

    #[test]
    fn crypto_frames_are_read_past_padding_and_stop_at_an_ack() {
        let payload = [
            0x00, 0x01, 0x06, 0x00, 0x02, b'h', b'i', 0x02, 0x06, 0x00, 0x01, b'x',
        ];
        assert_eq!(crypto_of(&payload), vec![(0, b"hi".to_vec())]);
    }

    #[derive(Debug)]
    struct NoCertificate;

    impl rustls::server::ResolvesServerCert for NoCertificate {
        fn resolve(
            &self,
            _: rustls::server::ClientHello<'_>,
        ) -> Option<std::sync::Arc<rustls::sign::CertifiedKey>> {
            None
        }
    }

    /// A quinn client's first datagrams, caught on a plain UDP socket, are read back to the
    /// server name it sent — across two packets, with a post-quantum key share.
    #[tokio::test]
    async fn a_quinn_clients_initial_packets_give_its_server_name() {
        use std::sync::Arc;
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let server = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(NoCertificate));
        let keys = quinn::crypto::rustls::QuicServerConfig::try_from(server).unwrap();
        let catcher = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        use rustls::crypto::aws_lc_rs::{default_provider, kx_group};
        let provider = rustls::crypto::CryptoProvider {
            kx_groups: vec![kx_group::X25519MLKEM768, kx_group::X25519],
            ..default_provider()
        };
        let mut client_tls = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        client_tls.alpn_protocols = vec![b"h3".to_vec()];
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(client_tls).unwrap();
        let mut client = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        client.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
        let connecting = client
            .connect(catcher.local_addr().unwrap(), "Caught.Example")
            .unwrap();
        let mut hello = super::super::hello::HelloAssembly::default();
        let mut buf = vec![0u8; 65_536];
        let mut packets = 0;
        while hello.read.is_none() {
            let (len, _) = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                catcher.recv_from(&mut buf),
            )
            .await
            .expect("the client's Initial packets")
            .unwrap();
            let crypto = crypto_frames(&buf[..len], &keys).expect("a client Initial");
            packets += 1;
            for (offset, data) in crypto.frames {
                hello.add(offset, data);
            }
        }
        assert_eq!(hello.read, Some(Some("Caught.Example".to_owned())));
        assert_eq!(
            packets, 2,
            "the ML-KEM key share makes the ClientHello span two"
        );
        drop(connecting);
        let mut junk = buf[..1200].to_vec();
        junk[40] ^= 1;
        assert!(
            crypto_frames(&junk, &keys).is_none(),
            "a changed byte fails to decrypt"
        );
    }

    #[test]
    fn short_or_short_header_datagrams_are_not_initials() {
        assert!(!looks_initial(&[0xc0; 100]));
        assert!(!looks_initial(&[0x40; 1200]));
        assert!(looks_initial(&[0xc3; 1200]));
    }
}
