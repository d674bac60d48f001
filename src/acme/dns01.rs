//! dns-01 through RFC 2136 dynamic update, signed with TSIG (RFC 8945) — what BIND, Knot,
//! PowerDNS and every ACME client's `rfc2136` provider speak. hickory-client encodes and signs
//! the messages.
//!
//! A record `_acme-challenge.<name>. 60 IN TXT "<value>"` is added to the zone (appended: a
//! certificate for `example.com` and `*.example.com` needs two values under one name), the
//! challenge is signalled once every authoritative server answers it
//! ([`super::dns_propagation`]), and it is deleted by its value afterwards.
//! Each record is also noted in Redis while it exists, so one a crash left behind is deleted by
//! the recovery loop ([`super::dns_provider::DnsProviders::sweep`]).

use std::sync::Arc;

use hickory_client::client::{Client, ClientHandle};
use hickory_client::proto::dnssec::rdata::tsig::TsigAlgorithm as HickoryTsig;
use hickory_client::proto::dnssec::tsig::TSigner;
use hickory_client::proto::op::{Message, MessageFinalizer, MessageVerifier, ResponseCode};
use hickory_client::proto::rr::rdata::TXT;
use hickory_client::proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_client::proto::xfer::DnsResponse;
use hickory_client::proto::ProtoError;

use super::SetupError;
use crate::certs::issuer::IssueError;
use crate::config::{DnsUpdate, TsigAlgorithm};

/// TTL of the challenge records: short, so a stale value is not cached for long.
const RECORD_TTL: u32 = 60;
/// Allowed clock difference with the DNS server for TSIG (BIND's default too).
const TSIG_FUDGE: u16 = 300;

/// Adds, waits for and removes `_acme-challenge` TXT records at one DNS server.
pub struct DnsUpdater {
    server: String,
    zone: Option<String>,
    signer: Arc<TSigner>,
    /// `DNS_RESOLVER`: where `_acme-challenge` CNAMEs are looked up (`None`: the update server).
    resolver: Option<String>,
}

impl std::fmt::Debug for DnsUpdater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsUpdater")
            .field("server", &self.server)
            .field("zone", &self.zone)
            .finish_non_exhaustive()
    }
}

/// Signs with TSIG like [`TSigner`], and lets through an *error* answer whose signature does not
/// verify: a server that rejects the key (NOTAUTH with BADSIG or BADKEY) cannot sign its answer
/// with it, and the operator needs that answer, not hickory's verification failure. A success
/// answer must still verify.
struct ReportingSigner(Arc<TSigner>);

impl MessageFinalizer for ReportingSigner {
    fn finalize_message(
        &self,
        message: &Message,
        current_time: u32,
    ) -> Result<(Vec<Record>, Option<MessageVerifier>), ProtoError> {
        let (records, verifier) = self.0.finalize_message(message, current_time)?;
        let verifier = verifier.map(|mut verify| -> MessageVerifier {
            Box::new(move |bytes: &[u8]| match verify(bytes) {
                Ok(response) => Ok(response),
                Err(e) => match DnsResponse::from_buffer(bytes.to_vec()) {
                    Ok(answer) if answer.response_code() != ResponseCode::NoError => Ok(answer),
                    _ => Err(e),
                },
            })
        });
        Ok((records, verifier))
    }
}

fn fqdn(text: &str) -> Result<Name, IssueError> {
    let mut name = Name::from_ascii(text)
        .map_err(|e| IssueError::Rejected(format!("{text:?} is not a DNS name: {e}")))?;
    name.set_fqdn(true);
    Ok(name)
}

/// The owner name of the challenge record for `name`.
fn challenge_name(name: &str) -> Result<Name, IssueError> {
    fqdn(&format!("_acme-challenge.{name}"))
}

fn txt_record(owner: &Name, value: &str) -> Record {
    let rdata = RData::TXT(TXT::new(vec![value.to_owned()]));
    Record::from_rdata(owner.clone(), RECORD_TTL, rdata)
}

/// Most CNAME hops followed from `_acme-challenge.<name>`.
const MOST_HOPS: usize = 8;

impl DnsUpdater {
    /// An updater for the server in `settings`; an error when its key or address is unusable.
    pub fn new(settings: &DnsUpdate) -> Result<DnsUpdater, SetupError> {
        let algorithm = match settings.tsig_algorithm {
            TsigAlgorithm::HmacSha256 => HickoryTsig::HmacSha256,
            TsigAlgorithm::HmacSha384 => HickoryTsig::HmacSha384,
            TsigAlgorithm::HmacSha512 => HickoryTsig::HmacSha512,
        };
        let key_name = Name::from_ascii(&settings.tsig_key_name)
            .map_err(|e| SetupError::Dns(format!("DNS_TSIG_KEY_NAME: {e}")))?;
        let signer = TSigner::new(
            settings.tsig_secret.expose().to_vec(),
            algorithm,
            key_name,
            TSIG_FUDGE,
        )
        .map_err(|e| SetupError::Dns(format!("TSIG key: {e}")))?;
        Ok(DnsUpdater {
            server: settings.server.clone(),
            zone: settings.zone.clone(),
            signer: Arc::new(signer),
            resolver: settings.resolver.clone(),
        })
    }

    /// Where `name`'s challenge record goes: `_acme-challenge.<name>`, or — when that is a
    /// CNAME, delegating validation to a zone this server manages — the name it points to
    /// (followed up to [`MOST_HOPS`] hops), as lego and cert-manager do. Asked of
    /// `DNS_RESOLVER`, else of the update server.
    async fn owner_of(&self, name: &str) -> Result<Name, IssueError> {
        let mut owner = challenge_name(name)?;
        let server = self.resolver.as_deref().unwrap_or(&self.server);
        let mut client = self.client_of(server, false).await?;
        for _ in 0..MOST_HOPS {
            let answer = client
                .query(owner.clone(), DNSClass::IN, RecordType::CNAME)
                .await
                .map_err(|e| {
                    IssueError::Transient(format!("CNAME lookup of {owner} at {server}: {e}"))
                })?;
            let target = answer.answers().iter().find_map(|r| match r.data() {
                RData::CNAME(target) if r.name() == &owner => Some(target.0.clone()),
                _ => None,
            });
            match target {
                Some(target) => {
                    tracing::debug!(from = %owner, to = %target, "dns-01 record delegated by CNAME");
                    owner = target;
                }
                None => return Ok(owner),
            }
        }
        Ok(owner)
    }

    /// A client of the DNS server over TCP; `signed` for updates.
    async fn client(&self, signed: bool) -> Result<Client, IssueError> {
        self.client_of(&self.server, signed).await
    }

    /// A client of `server` over TCP; `signed` for updates.
    async fn client_of(&self, server: &str, signed: bool) -> Result<Client, IssueError> {
        let signer = signed
            .then(|| Arc::new(ReportingSigner(self.signer.clone())) as Arc<dyn MessageFinalizer>);
        super::dns_propagation::connect(server, signer).await
    }

    /// The zone holding record `owner`: `DNS_UPDATE_ZONE`, else the owner of the SOA record the
    /// server returns for it.
    async fn zone_for(&self, owner: &Name) -> Result<Name, IssueError> {
        if let Some(zone) = &self.zone {
            return fqdn(zone);
        }
        let name = owner;
        let mut client = self.client(false).await?;
        let answer = client
            .query(owner.clone(), DNSClass::IN, RecordType::SOA)
            .await
            .map_err(|e| {
                IssueError::Transient(format!("SOA lookup for {name} at {}: {e}", self.server))
            })?;
        answer
            .answers()
            .iter()
            .chain(answer.name_servers())
            .find(|r| r.record_type() == RecordType::SOA)
            .map(|r| r.name().clone())
            .ok_or_else(|| {
                IssueError::Rejected(format!(
                    "the DNS server {} is not authoritative for {name} (no SOA in its answer); \
                     set DNS_UPDATE_ZONE",
                    self.server
                ))
            })
    }

    /// Adds the TXT record proving `name`.
    pub async fn add_txt(&self, name: &str, value: &str) -> Result<(), IssueError> {
        let owner = self.owner_of(name).await?;
        let zone = self.zone_for(&owner).await?;
        self.append(&owner, &zone, name, value).await
    }

    /// Adds a TXT record under `owner` (no trailing dot): a dns-persist-01 record, which stays
    /// and is not noted for the sweep.
    pub async fn add_persistent(&self, owner: &str, value: &str) -> Result<(), IssueError> {
        let owner_name = fqdn(owner)?;
        let zone = self.zone_for(&owner_name).await?;
        self.append(&owner_name, &zone, owner, value).await
    }

    /// Where the record proving `name` is written (after any CNAME), without its trailing dot.
    pub async fn record_owner(&self, name: &str) -> Result<String, IssueError> {
        let owner = self.owner_of(name).await?.to_ascii();
        Ok(owner.trim_end_matches('.').to_owned())
    }

    /// Appends `value` under `owner` in `zone` (`name` is what the error calls it).
    async fn append(
        &self,
        owner: &Name,
        zone: &Name,
        name: &str,
        value: &str,
    ) -> Result<(), IssueError> {
        let mut client = self.client(true).await?;
        let answer = client
            .append(txt_record(owner, value), zone.clone(), false)
            .await;
        self.check(answer, "adding", name, zone)?;
        tracing::debug!(name, owner = %owner, zone = %zone, "dns-01 record added");
        Ok(())
    }

    /// Removes the TXT record with this value (other values under the name stay).
    pub async fn remove_txt(&self, name: &str, value: &str) -> Result<(), IssueError> {
        let owner = self.owner_of(name).await?;
        let zone = self.zone_for(&owner).await?;
        let mut client = self.client(true).await?;
        let answer = client
            .delete_by_rdata(txt_record(&owner, value), zone.clone())
            .await;
        self.check(answer, "removing", name, &zone)?;
        tracing::debug!(name, zone = %zone, "dns-01 record removed");
        Ok(())
    }

    /// An update's outcome, with the server's answer in the error.
    fn check(
        &self,
        answer: Result<DnsResponse, hickory_client::ClientError>,
        doing: &str,
        name: &str,
        zone: &Name,
    ) -> Result<(), IssueError> {
        match answer {
            Ok(response) if response.response_code() == ResponseCode::NoError => Ok(()),
            Ok(response) => Err(IssueError::Rejected(format!(
                "the DNS server {} answered {} ({}) when {doing} the dns-01 record for {name} in \
                 zone {zone} (check DNS_TSIG_KEY_NAME, DNS_TSIG_SECRET and the zone's update policy)",
                self.server,
                format!("{:?}", response.response_code()).to_ascii_uppercase(),
                response.response_code()
            ))),
            Err(e) => Err(IssueError::Rejected(format!(
                "no usable answer from the DNS server {} when {doing} the dns-01 record for {name} in zone {zone}: {} \
                 (check DNS_TSIG_KEY_NAME, DNS_TSIG_SECRET and DNS_TSIG_ALGORITHM)",
                self.server,
                describe(&e)
            ))),
        }
    }
}

/// What went wrong, from the inner error (hickory's own message is often just "proto error").
fn describe(error: &hickory_client::ClientError) -> String {
    use hickory_client::ClientErrorKind;
    match error.kind() {
        ClientErrorKind::Proto(inner) => inner.to_string(),
        ClientErrorKind::DnsSec(inner) => inner.to_string(),
        ClientErrorKind::Io(inner) => inner.to_string(),
        _ => error.to_string(),
    }
}
