//! Waiting until a published TXT record is answered where the CA will look: by every
//! authoritative server of the record's zone (its NS records), each asked directly — not by one
//! resolver, whose cache may still hold the old answer, nor by the primary alone, when its
//! secondaries have not transferred the zone yet (`DNS_PROPAGATION_CHECK`).
//!
//! The zone, its NS names and their addresses are looked up at `DNS_RESOLVER`, else the RFC 2136
//! server, else the first nameserver of `/etc/resolv.conf`; the servers are asked on
//! `DNS_AUTHORITATIVE_PORT` (53).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_client::client::{Client, ClientHandle};
use hickory_client::proto::op::MessageFinalizer;
use hickory_client::proto::rr::{DNSClass, Name, RData, RecordType};
use hickory_client::proto::runtime::TokioRuntimeProvider;
use hickory_client::proto::tcp::TcpClientStream;
use hickory_client::proto::xfer::DnsResponse;

use crate::certs::issuer::IssueError;
use crate::config::{DnsPropagation, PropagationCheck};

/// One DNS request's time limit.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The pause between two rounds of asking.
const ROUND_PAUSE: Duration = Duration::from_millis(500);

/// A client of `server` (`host:port`) over TCP, signing with `finalizer` when given.
pub(super) async fn connect(
    server: &str,
    finalizer: Option<Arc<dyn MessageFinalizer>>,
) -> Result<Client, IssueError> {
    let unreachable =
        |e: String| IssueError::Transient(format!("DNS server {server} unreachable: {e}"));
    let address = tokio::net::lookup_host(server)
        .await
        .map_err(|e| unreachable(e.to_string()))?
        .next()
        .ok_or_else(|| unreachable("the name has no address".into()))?;
    let (stream, sender) = TcpClientStream::new(
        address,
        None,
        Some(REQUEST_TIMEOUT),
        TokioRuntimeProvider::new(),
    );
    let (client, background) = Client::with_timeout(stream, sender, REQUEST_TIMEOUT, finalizer)
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    tokio::spawn(background);
    Ok(client)
}

/// Whether `answer` holds a TXT record with exactly `value`.
pub(super) fn answers_txt(answer: &DnsResponse, value: &str) -> bool {
    answer.answers().iter().any(|r| match r.data() {
        RData::TXT(txt) => txt.txt_data().iter().any(|d| &d[..] == value.as_bytes()),
        _ => false,
    })
}

/// Waits for records to reach every authoritative server of their zone.
#[derive(Debug)]
pub struct PropagationChecker {
    settings: DnsPropagation,
    /// The RFC 2136 server, asked for NS records when `DNS_RESOLVER` is unset.
    update_server: Option<String>,
}

/// One authoritative server: its NS name and the address it is asked at.
struct Authority {
    name: Name,
    address: SocketAddr,
}

impl PropagationChecker {
    /// A checker with these settings; `update_server` is the RFC 2136 server, if any.
    pub fn new(settings: DnsPropagation, update_server: Option<String>) -> PropagationChecker {
        PropagationChecker {
            settings,
            update_server,
        }
    }

    /// Waits until every authoritative server of `owner`'s zone answers `value` under
    /// `owner` (a name without its trailing dot), at most `DNS_PROPAGATION_TIMEOUT`; the error
    /// names the servers that did not.
    pub async fn wait(&self, owner: &str, value: &str) -> Result<(), IssueError> {
        if self.settings.check == PropagationCheck::Off {
            return Ok(());
        }
        let deadline = Instant::now() + self.settings.timeout;
        let owner_name = Name::from_ascii(format!("{}.", owner.trim_end_matches('.')))
            .map_err(|e| IssueError::Rejected(format!("{owner:?} is no DNS name: {e}")))?;
        let (zone, mut waiting) = self.authorities(&owner_name).await?;
        loop {
            let mut still = Vec::new();
            for authority in waiting {
                if !self.answered_by(&authority, &owner_name, value).await {
                    still.push(authority);
                }
            }
            waiting = still;
            if waiting.is_empty() {
                tracing::debug!(owner, zone = %zone, "record answered by every authoritative server");
                return Ok(());
            }
            if Instant::now() >= deadline {
                let names: Vec<String> = waiting
                    .iter()
                    .map(|a| format!("{} ({})", a.name, a.address))
                    .collect();
                return Err(IssueError::Transient(format!(
                    "the TXT record {owner} is not answered by {} — authoritative for {zone} — \
                     within {} s (DNS_PROPAGATION_TIMEOUT; DNS_PROPAGATION_CHECK=off skips the check)",
                    names.join(", "),
                    self.settings.timeout.as_secs()
                )));
            }
            tokio::time::sleep(ROUND_PAUSE).await;
        }
    }

    /// Whether `authority` answers `value` under `owner` now.
    async fn answered_by(&self, authority: &Authority, owner: &Name, value: &str) -> bool {
        let Ok(mut client) = connect(&authority.address.to_string(), None).await else {
            return false;
        };
        client
            .query(owner.clone(), DNSClass::IN, RecordType::TXT)
            .await
            .is_ok_and(|answer| answers_txt(&answer, value))
    }

    /// Where zones, NS records and addresses are looked up.
    fn discovery_server(&self) -> Result<String, IssueError> {
        if let Some(server) = self
            .settings
            .resolver
            .clone()
            .or(self.update_server.clone())
        {
            return Ok(server);
        }
        let conf = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        conf.lines()
            .filter_map(|l| l.trim().strip_prefix("nameserver"))
            .filter_map(|ip| ip.trim().parse::<IpAddr>().ok())
            .map(|ip| SocketAddr::new(ip, 53).to_string())
            .next()
            .ok_or_else(|| {
                IssueError::Rejected(
                    "no DNS server to find the authoritative servers at: set DNS_RESOLVER (or \
                     DNS_PROPAGATION_CHECK=off)"
                        .into(),
                )
            })
    }

    /// The zone holding `owner` and its authoritative servers with their addresses.
    async fn authorities(&self, owner: &Name) -> Result<(Name, Vec<Authority>), IssueError> {
        let server = self.discovery_server()?;
        let mut client = connect(&server, None).await?;
        let failed = |what: &str, e: String| {
            IssueError::Transient(format!("{what} lookup for {owner} at {server}: {e}"))
        };
        let soa = client
            .query(owner.clone(), DNSClass::IN, RecordType::SOA)
            .await
            .map_err(|e| failed("SOA", e.to_string()))?;
        let zone = soa
            .answers()
            .iter()
            .chain(soa.name_servers())
            .find(|r| r.record_type() == RecordType::SOA)
            .map(|r| r.name().clone())
            .ok_or_else(|| failed("SOA", "no SOA in the answer".into()))?;
        let ns = client
            .query(zone.clone(), DNSClass::IN, RecordType::NS)
            .await
            .map_err(|e| failed("NS", e.to_string()))?;
        let mut authorities = Vec::new();
        for record in ns.answers() {
            let RData::NS(target) = record.data() else {
                continue;
            };
            for ip in self.addresses_of(&mut client, &ns, &target.0).await {
                authorities.push(Authority {
                    name: target.0.clone(),
                    address: SocketAddr::new(ip, self.settings.port),
                });
            }
        }
        if authorities.is_empty() {
            return Err(IssueError::Rejected(format!(
                "{server} names no authoritative server with an address for {zone} (NS records); \
                 set DNS_RESOLVER, or DNS_PROPAGATION_CHECK=off"
            )));
        }
        Ok((zone, authorities))
    }

    /// The addresses of NS `name`: the glue in `ns`'s additional section, else A and AAAA
    /// lookups at the discovery server.
    async fn addresses_of(
        &self,
        client: &mut Client,
        ns: &DnsResponse,
        name: &Name,
    ) -> Vec<IpAddr> {
        let from = |records: &[hickory_client::proto::rr::Record]| -> Vec<IpAddr> {
            records
                .iter()
                .filter(|r| r.name() == name)
                .filter_map(|r| match r.data() {
                    RData::A(a) => Some(IpAddr::V4(a.0)),
                    RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                    _ => None,
                })
                .collect()
        };
        let glue = from(ns.additionals());
        if !glue.is_empty() {
            return glue;
        }
        let mut found = Vec::new();
        for kind in [RecordType::A, RecordType::AAAA] {
            if let Ok(answer) = client.query(name.clone(), DNSClass::IN, kind).await {
                found.extend(from(answer.answers()));
            }
        }
        found
    }
}
