//! How upstream names become addresses: the system resolver, or — with `UPSTREAM_DNS_SERVER` —
//! A and AAAA queries to that DNS server (a service-discovery DNS, or a split-horizon one). The
//! route checks at creation and the connect-time guard both resolve through here, so they see
//! the same answers.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_client::client::{Client, ClientHandle};
use hickory_client::proto::rr::{DNSClass, Name, RData, RecordType};
use hickory_client::proto::runtime::TokioRuntimeProvider;
use hickory_client::proto::tcp::TcpClientStream;

/// How long one DNS query may take.
const QUERY_TIMEOUT: Duration = Duration::from_secs(3);

/// The addresses of `host:port`: an IP literal as it is; else through `dns` when given, the
/// system resolver when not.
pub async fn lookup(host: &str, port: u16, dns: Option<SocketAddr>) -> io::Result<Vec<SocketAddr>> {
    if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let Some(server) = dns else {
        return Ok(tokio::net::lookup_host((host, port)).await?.collect());
    };
    let failed = |why: String| io::Error::other(format!("{host} via DNS server {server}: {why}"));
    let name = Name::from_ascii(format!("{}.", host.trim_end_matches('.')))
        .map_err(|e| failed(e.to_string()))?;
    let (stream, sender) = TcpClientStream::new(
        server,
        None,
        Some(QUERY_TIMEOUT),
        TokioRuntimeProvider::new(),
    );
    let (mut client, background) = Client::with_timeout(stream, sender, QUERY_TIMEOUT, None)
        .await
        .map_err(|e| failed(e.to_string()))?;
    let running = tokio::spawn(background);
    let mut found = Vec::new();
    for kind in [RecordType::A, RecordType::AAAA] {
        let answer = client
            .query(name.clone(), DNSClass::IN, kind)
            .await
            .map_err(|e| failed(e.to_string()))?;
        for record in answer.answers() {
            match record.data() {
                RData::A(a) => found.push(SocketAddr::new(IpAddr::V4(a.0), port)),
                RData::AAAA(a) => found.push(SocketAddr::new(IpAddr::V6(a.0), port)),
                _ => {}
            }
        }
    }
    running.abort();
    if found.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{host} has no A or AAAA record at DNS server {server}"),
        ));
    }
    Ok(found)
}
