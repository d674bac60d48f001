//! The PROXY protocol on the HTTP and HTTPS listeners (`PROXY_PROTOCOL`): behind a TCP load
//! balancer, the client's address arrives in a header before the client's own bytes. The
//! header is read by peeking, so a connection without one (`optional`) loses nothing, and then
//! exactly its bytes are consumed.
//!
//! Only `PROXY_PROTOCOL_TRUSTED` sources may send one: from anyone else a header would let a
//! client choose the address that IP rules, rate limits and logs see, so the connection is
//! closed.

pub mod parse;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::config::traffic::{ProxyProtocol, ProxyProtocolSettings};
use parse::Parsed;

/// The addresses a connection is served under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Addresses {
    /// The client's: the TCP peer, or the header's source.
    pub client: SocketAddr,
    /// The address the client connected to, when a header gave it.
    pub destination: Option<SocketAddr>,
}

/// The addresses of a connection just accepted from `peer` (the PROXY header read when the
/// settings ask for one); `None` when it must be closed (logged at debug, counted).
pub async fn addresses_of(
    stream: &mut TcpStream,
    peer: SocketAddr,
    settings: &ProxyProtocolSettings,
    deadline: Duration,
) -> Option<Addresses> {
    if settings.mode == ProxyProtocol::Off {
        return Some(Addresses {
            client: peer,
            destination: None,
        });
    }
    // Boxed: only connections that read a header carry its state.
    match Box::pin(accept(stream, peer, settings, deadline)).await {
        Ok(addresses) => Some(addresses),
        Err(why) => {
            crate::metrics::METRICS.proxy_protocol_refusals.inc(&[]);
            tracing::debug!(%peer, why, "connection closed: PROXY protocol");
            None
        }
    }
}

/// Reads the connection's PROXY header as the settings require; `Err` with the reason to close
/// it. With the protocol off, the peer as it is, at once.
pub async fn accept(
    stream: &mut TcpStream,
    peer: SocketAddr,
    settings: &ProxyProtocolSettings,
    deadline: Duration,
) -> Result<Addresses, &'static str> {
    let as_is = Addresses {
        client: peer,
        destination: None,
    };
    if settings.mode == ProxyProtocol::Off {
        return Ok(as_is);
    }
    let trusted = super::forwarded::is_trusted(peer.ip(), &settings.trusted);
    let parsed = tokio::time::timeout(deadline, peek_header(stream))
        .await
        .map_err(|_| "no complete PROXY header in time")??;
    match parsed {
        Parsed::Header { .. } if !trusted => Err("PROXY header from an untrusted source"),
        Parsed::Header { len, addresses } => {
            let mut consumed = vec![0; len];
            stream
                .read_exact(&mut consumed)
                .await
                .map_err(|_| "connection lost in its PROXY header")?;
            Ok(addresses.map_or(as_is, |(client, destination)| Addresses {
                client,
                destination: Some(destination),
            }))
        }
        Parsed::Absent if settings.mode == ProxyProtocol::Required => {
            Err("no PROXY header (PROXY_PROTOCOL=required)")
        }
        Parsed::Absent => Ok(as_is),
        Parsed::Invalid(why) => Err(why),
        Parsed::Incomplete => Err("connection closed in its PROXY header"),
    }
}

/// Peeks until the first bytes say what they are. A header arrives in one segment in
/// practice; when it does not, the next peek waits a moment rather than spin on the same bytes.
async fn peek_header(stream: &TcpStream) -> Result<Parsed, &'static str> {
    let mut buf = vec![0; parse::V2_LONGEST];
    let mut seen = 0;
    loop {
        let n = stream
            .peek(&mut buf)
            .await
            .map_err(|_| "connection lost before its first bytes")?;
        match parse::parse(&buf[..n]) {
            Parsed::Incomplete if n == 0 => return Ok(Parsed::Incomplete),
            Parsed::Incomplete => {
                if n == seen {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                seen = n;
            }
            done => return Ok(done),
        }
    }
}
