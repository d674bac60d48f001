//! The TLS ClientHello put together from the CRYPTO frames of a client's Initial packets (a
//! post-quantum key share makes it span two), and the server name read from it.

use std::collections::BTreeMap;

use super::initial::Reader;

/// A ClientHello longer than this is not read (the handshake then goes on without the peek).
const MAX_HELLO: usize = 16 * 1024;

/// The TLS handshake message type of a ClientHello.
const CLIENT_HELLO: u8 = 1;

/// The `server_name` extension (RFC 6066).
const SERVER_NAME: u64 = 0;

/// What the Initial packets of one connection attempt have told so far.
#[derive(Default)]
pub struct HelloAssembly {
    /// CRYPTO frame data by offset.
    pieces: BTreeMap<u64, Vec<u8>>,
    held: usize,
    /// Once the ClientHello is whole (or unreadable): its server name, if it has one.
    pub read: Option<Option<String>>,
}

impl HelloAssembly {
    /// Adds a CRYPTO frame; reads the server name once the ClientHello is whole.
    pub fn add(&mut self, offset: u64, data: Vec<u8>) {
        if self.read.is_some() {
            return;
        }
        self.held += data.len();
        if self.held > MAX_HELLO {
            self.read = Some(None);
            return;
        }
        self.pieces.entry(offset).or_insert(data);
        let joined = self.contiguous();
        if joined.len() < 4 {
            return;
        }
        let len = 4
            + (usize::from(joined[1]) << 16 | usize::from(joined[2]) << 8)
            + usize::from(joined[3]);
        if joined[0] != CLIENT_HELLO || len > MAX_HELLO {
            self.read = Some(None);
        } else if joined.len() >= len {
            self.read = Some(server_name(&joined[4..len]));
        }
    }

    /// The bytes from offset 0 up to the first gap.
    fn contiguous(&self) -> Vec<u8> {
        let mut joined: Vec<u8> = Vec::new();
        for (offset, data) in &self.pieces {
            let Ok(offset) = usize::try_from(*offset) else {
                break;
            };
            if offset > joined.len() {
                break;
            }
            let skip = joined.len() - offset;
            if skip < data.len() {
                joined.extend_from_slice(&data[skip..]);
            }
        }
        joined
    }
}

/// The host name of a ClientHello body's `server_name` extension, as sent (the caller
/// normalises it, as for TCP); `None` when it has none or does not parse.
pub fn server_name(body: &[u8]) -> Option<String> {
    let mut hello = Reader::new(body);
    hello.skip(2 + 32)?;
    let session_id = hello.byte()?;
    hello.skip(usize::from(session_id))?;
    let suites = hello.number(2)?;
    hello.skip(usize::try_from(suites).ok()?)?;
    let compression = hello.byte()?;
    hello.skip(usize::from(compression))?;
    let extensions_len = usize::try_from(hello.number(2)?).ok()?;
    let mut extensions = Reader::new(hello.take(extensions_len)?);
    while let Some(kind) = extensions.number(2) {
        let len = usize::try_from(extensions.number(2)?).ok()?;
        let data = extensions.take(len)?;
        if kind != SERVER_NAME {
            continue;
        }
        let mut names = Reader::new(data);
        let list_len = usize::try_from(names.number(2)?).ok()?;
        let mut list = Reader::new(names.take(list_len)?);
        while let Some(name_type) = list.byte() {
            let len = usize::try_from(list.number(2)?).ok()?;
            let name = list.take(len)?;
            if name_type == 0 {
                return std::str::from_utf8(name).ok().map(str::to_owned);
            }
        }
        return None;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real ClientHello (rustls', with the post-quantum key share first, so about 1.3 KB,
    /// more than one Initial packet holds) as a TLS handshake message.
    fn hello_to(name: rustls::pki_types::ServerName<'static>) -> Vec<u8> {
        use rustls::crypto::aws_lc_rs::{default_provider, kx_group};
        let provider = rustls::crypto::CryptoProvider {
            kx_groups: vec![kx_group::X25519MLKEM768, kx_group::X25519],
            ..default_provider()
        };
        let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(provider))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let mut client = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
        let mut record = Vec::new();
        client.write_tls(&mut record).unwrap();
        record.split_off(5)
    }

    fn client_hello(name: &str) -> Vec<u8> {
        hello_to(rustls::pki_types::ServerName::try_from(name.to_owned()).unwrap())
    }

    #[test]
    fn the_name_is_read_from_a_hello_in_pieces_in_any_order() {
        let hello = client_hello("Peek.Example.");
        assert!(hello.len() > 1200, "{}", hello.len());
        let (first, second) = hello.split_at(700);
        let mut assembly = HelloAssembly::default();
        assembly.add(700, second.to_vec());
        assert_eq!(assembly.read, None, "a gap at the start");
        assembly.add(0, first.to_vec());
        assert_eq!(assembly.read, Some(Some("Peek.Example".to_owned())));
    }

    #[test]
    fn a_hello_cut_short_or_not_a_hello_is_not_read() {
        let hello = client_hello("a.test");
        let mut assembly = HelloAssembly::default();
        assembly.add(0, hello[..hello.len() - 1].to_vec());
        assert_eq!(assembly.read, None);
        let mut other = HelloAssembly::default();
        other.add(0, vec![2, 0, 0, 4, 1, 2, 3, 4]);
        assert_eq!(other.read, Some(None), "a ServerHello");
        assert_eq!(server_name(&[1, 2, 3]), None);
    }

    #[test]
    fn a_hello_without_a_name_reads_as_none() {
        let address = rustls::pki_types::ServerName::from(std::net::IpAddr::from([127, 0, 0, 1]));
        let mut assembly = HelloAssembly::default();
        assembly.add(0, hello_to(address));
        assert_eq!(assembly.read, Some(None));
    }
}
