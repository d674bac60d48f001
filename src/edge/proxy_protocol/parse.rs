//! The PROXY protocol header (HAProxy's spec, versions 1 and 2), parsed from the first bytes
//! of a connection without consuming them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Version 2's signature.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// Version 1's prefix.
const V1_PREFIX: &[u8; 6] = b"PROXY ";
/// Version 1's longest header, CRLF included (the spec's 107).
const V1_LONGEST: usize = 107;
/// The longest version 2 header accepted (addresses and TLVs); the spec allows 64 KiB, load
/// balancers send a few hundred bytes.
pub const V2_LONGEST: usize = 16 + 1024;

/// What the first bytes of a connection are.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Too few bytes to tell yet.
    Incomplete,
    /// Not a PROXY header: HTTP or TLS from the client itself.
    Absent,
    /// A header of `len` bytes; the client's and the connected-to addresses when it carries
    /// them (`LOCAL`, `UNKNOWN` and non-IP families do not).
    Header {
        /// The header's length, to consume before the client's bytes.
        len: usize,
        /// The client's address and the address it connected to.
        addresses: Option<(SocketAddr, SocketAddr)>,
    },
    /// A header that breaks the protocol.
    Invalid(&'static str),
}

/// Parses what has arrived so far.
pub fn parse(bytes: &[u8]) -> Parsed {
    let starts = |prefix: &[u8]| {
        let n = bytes.len().min(prefix.len());
        bytes[..n] == prefix[..n]
    };
    if starts(V2_SIGNATURE) {
        if bytes.len() < 16 {
            return Parsed::Incomplete;
        }
        return parse_v2(bytes);
    }
    if starts(V1_PREFIX) {
        if bytes.len() < V1_PREFIX.len() {
            return Parsed::Incomplete;
        }
        return parse_v1(bytes);
    }
    Parsed::Absent
}

fn parse_v1(bytes: &[u8]) -> Parsed {
    let window = &bytes[..bytes.len().min(V1_LONGEST)];
    let Some(end) = window.windows(2).position(|w| w == b"\r\n") else {
        return if bytes.len() >= V1_LONGEST {
            Parsed::Invalid("PROXY v1 header longer than 107 bytes")
        } else {
            Parsed::Incomplete
        };
    };
    let len = end + 2;
    let Ok(line) = std::str::from_utf8(&bytes[V1_PREFIX.len()..end]) else {
        return Parsed::Invalid("PROXY v1 header is not text");
    };
    let fields: Vec<&str> = line.split(' ').collect();
    match fields.as_slice() {
        ["UNKNOWN", ..] => Parsed::Header {
            len,
            addresses: None,
        },
        [family @ ("TCP4" | "TCP6"), source, destination, source_port, destination_port] => {
            let v6 = *family == "TCP6";
            let address = |ip: &str, port: &str| -> Option<SocketAddr> {
                let ip: IpAddr = ip.parse().ok()?;
                // Decimal without leading zeros, as the spec writes ports.
                let number: u16 = port.parse().ok().filter(|n: &u16| n.to_string() == port)?;
                (ip.is_ipv6() == v6).then_some(SocketAddr::new(ip, number))
            };
            match (
                address(source, source_port),
                address(destination, destination_port),
            ) {
                (Some(s), Some(d)) => Parsed::Header {
                    len,
                    addresses: Some((s, d)),
                },
                _ => Parsed::Invalid("PROXY v1 header with malformed addresses"),
            }
        }
        _ => Parsed::Invalid("PROXY v1 header of an unknown form"),
    }
}

fn parse_v2(bytes: &[u8]) -> Parsed {
    let version_command = bytes[12];
    let family = bytes[13];
    let body = usize::from(u16::from_be_bytes([bytes[14], bytes[15]]));
    let len = 16 + body;
    if version_command >> 4 != 2 {
        return Parsed::Invalid("PROXY v2 header of an unknown version");
    }
    if len > V2_LONGEST {
        return Parsed::Invalid("PROXY v2 header longer than certgate accepts (1,040 bytes)");
    }
    if bytes.len() < len {
        return Parsed::Incomplete;
    }
    let local = match version_command & 0x0f {
        0 => true,
        1 => false,
        _ => return Parsed::Invalid("PROXY v2 header with an unknown command"),
    };
    let b = &bytes[16..len];
    let addresses = match family >> 4 {
        _ if local => None,
        1 if b.len() >= 12 => {
            let ip = |at: usize| IpAddr::V4(Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3]));
            let port = |at: usize| u16::from_be_bytes([b[at], b[at + 1]]);
            Some((
                SocketAddr::new(ip(0), port(8)),
                SocketAddr::new(ip(4), port(10)),
            ))
        }
        2 if b.len() >= 36 => {
            let ip = |at: usize| {
                let octets: [u8; 16] = b[at..at + 16].try_into().expect("16 bytes");
                IpAddr::V6(Ipv6Addr::from(octets))
            };
            let port = |at: usize| u16::from_be_bytes([b[at], b[at + 1]]);
            Some((
                SocketAddr::new(ip(0), port(32)),
                SocketAddr::new(ip(16), port(34)),
            ))
        }
        1 | 2 => return Parsed::Invalid("PROXY v2 header too short for its addresses"),
        // UNSPEC and UNIX: no IP address to use.
        _ => None,
    };
    Parsed::Header { len, addresses }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn version_1_lines() {
        let line = b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET / HTTP/1.1\r\n";
        assert_eq!(
            parse(line),
            Parsed::Header {
                len: 45,
                addresses: Some((addr("192.0.2.1:56324"), addr("198.51.100.2:443")))
            }
        );
        let v6 = b"PROXY TCP6 2001:db8::1 2001:db8::2 1000 443\r\n";
        assert!(
            matches!(parse(v6), Parsed::Header { addresses: Some((s, _)), .. } if s == addr("[2001:db8::1]:1000"))
        );
        assert_eq!(
            parse(b"PROXY UNKNOWN\r\n"),
            Parsed::Header {
                len: 15,
                addresses: None
            }
        );
        assert_eq!(parse(b"PROXY TCP4 192.0.2.1"), Parsed::Incomplete);
        assert_eq!(parse(b"PRO"), Parsed::Incomplete);
        assert!(matches!(
            parse(b"PROXY TCP4 2001:db8::1 192.0.2.2 1 2\r\n"),
            Parsed::Invalid(_)
        ));
        assert!(matches!(
            parse(b"PROXY TCP4 192.0.2.1 192.0.2.2 99999 2\r\n"),
            Parsed::Invalid(_)
        ));
        assert!(matches!(
            parse(b"PROXY TCP4 192.0.2.1 192.0.2.2 01 2\r\n"),
            Parsed::Invalid(_)
        ));
        assert!(matches!(
            parse(&[b'P', b'R', b'O', b'X', b'Y', b' ', b'A'].repeat(20)),
            Parsed::Invalid(_)
        ));
    }

    #[test]
    fn anything_else_is_the_client_itself() {
        assert_eq!(parse(b"POST / HTTP/1.1\r\n"), Parsed::Absent);
        assert_eq!(parse(&[0x16, 0x03, 0x01]), Parsed::Absent);
        assert_eq!(parse(b""), Parsed::Incomplete);
    }

    fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
        let mut header = V2_SIGNATURE.to_vec();
        header.push(0x20 | command);
        header.push(family);
        header.extend_from_slice(&(body.len() as u16).to_be_bytes());
        header.extend_from_slice(body);
        header
    }

    #[test]
    fn version_2_headers() {
        let body = [
            192, 0, 2, 1, 198, 51, 100, 2, 0xdc, 0x04, 0x01, 0xbb, 0x03, 0, 1, 0,
        ];
        let header = v2(1, 0x11, &body);
        assert_eq!(
            parse(&header),
            Parsed::Header {
                len: 32,
                addresses: Some((addr("192.0.2.1:56324"), addr("198.51.100.2:443")))
            }
        );
        assert_eq!(parse(&header[..20]), Parsed::Incomplete);
        let mut six = vec![0u8; 36];
        six[15] = 1;
        six[31] = 2;
        six[32..34].copy_from_slice(&4000u16.to_be_bytes());
        let parsed = parse(&v2(1, 0x21, &six));
        assert!(
            matches!(parsed, Parsed::Header { addresses: Some((s, _)), .. } if s == addr("[::1]:4000"))
        );
        assert_eq!(
            parse(&v2(0, 0x00, &[])),
            Parsed::Header {
                len: 16,
                addresses: None
            }
        );
        assert!(matches!(
            parse(&v2(1, 0x11, &body[..8])),
            Parsed::Invalid(_)
        ));
        let mut wrong_version = header.clone();
        wrong_version[12] = 0x11;
        assert!(matches!(parse(&wrong_version), Parsed::Invalid(_)));
        let mut huge = v2(1, 0x11, &body);
        huge[14..16].copy_from_slice(&5000u16.to_be_bytes());
        assert!(matches!(parse(&huge), Parsed::Invalid(_)));
    }
}
