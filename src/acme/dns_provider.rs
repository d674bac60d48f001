//! The dns-01 providers this instance is configured with — RFC 2136 updates to an
//! authoritative server (`DNS_UPDATE_SERVER`, [`super::dns01`]), PowerDNS's HTTP API
//! (`PDNS_API_URL`, [`super::dns_powerdns`]), a program (`DNS_EXEC_PROGRAM`,
//! [`super::dns_exec`]) — side by side, each named by its kind. A certificate's `dns_provider`
//! picks one; `DNS_PROVIDER` the one for certificates that name none.
//!
//! Every dns-01 record is noted in Redis under its provider's name before it is published, so
//! the recovery loop removes what a crash left through the provider that published it;
//! dns-persist-01 records are meant to stay and are not noted.

use std::time::Duration;

use super::dns01::DnsUpdater;
use super::dns_exec::ExecProvider;
use super::dns_powerdns::PowerDns;
use crate::certs::issuer::IssueError;
use crate::certs::model::DnsProviderKind;
use crate::store::StoreWriter;

/// Publishes and removes TXT records at one provider.
#[derive(Debug)]
pub enum DnsProvider {
    /// RFC 2136 dynamic updates with TSIG.
    Rfc2136(DnsUpdater),
    /// `DNS_EXEC_PROGRAM`.
    Exec(ExecProvider),
    /// PowerDNS Authoritative's HTTP API (`PDNS_API_URL`).
    PowerDns(Box<PowerDns>),
}

impl DnsProvider {
    async fn add_txt(&self, name: &str, value: &str) -> Result<(), IssueError> {
        match self {
            DnsProvider::Rfc2136(p) => p.add_txt(name, value).await,
            DnsProvider::Exec(p) => p.add_txt(name, value).await,
            DnsProvider::PowerDns(p) => p.add_txt(name, value).await,
        }
    }

    async fn remove_txt(&self, name: &str, value: &str) -> Result<(), IssueError> {
        match self {
            DnsProvider::Rfc2136(p) => p.remove_txt(name, value).await,
            DnsProvider::Exec(p) => p.remove_txt(name, value).await,
            DnsProvider::PowerDns(p) => p.remove_txt(name, value).await,
        }
    }
}

/// The configured providers, the default among them, and where their records are noted.
pub struct DnsProviders {
    providers: Vec<(DnsProviderKind, DnsProvider)>,
    default: Option<DnsProviderKind>,
    store: StoreWriter,
}

impl std::fmt::Debug for DnsProviders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsProviders")
            .field("providers", &self.providers)
            .field("default", &self.default)
            .finish_non_exhaustive()
    }
}

/// One provider, chosen for a certificate.
pub struct Picked<'a> {
    kind: DnsProviderKind,
    provider: &'a DnsProvider,
    store: &'a StoreWriter,
}

/// The note's name for a record: `<provider>:<name>` (a DNS name holds no colon).
fn noted_name(kind: DnsProviderKind, name: &str) -> String {
    format!("{}:{name}", kind.as_str())
}

impl DnsProviders {
    /// `providers` by kind, `default` (`DNS_PROVIDER`) among them.
    pub fn new(
        providers: Vec<(DnsProviderKind, DnsProvider)>,
        default: Option<DnsProviderKind>,
        store: StoreWriter,
    ) -> DnsProviders {
        DnsProviders {
            providers,
            default,
            store,
        }
    }

    /// Whether any provider is configured.
    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }

    /// The provider named `chosen` (a certificate's `dns_provider`), else the default; the
    /// error names what is configured.
    pub fn pick(&self, chosen: Option<DnsProviderKind>) -> Result<Picked<'_>, IssueError> {
        let wanted = chosen.or(self.default);
        let found = self
            .providers
            .iter()
            .find(|(kind, _)| Some(*kind) == wanted);
        match found {
            Some((kind, provider)) => Ok(Picked {
                kind: *kind,
                provider,
                store: &self.store,
            }),
            None if self.providers.is_empty() => Err(IssueError::Rejected(
                "dns-01 needs DNS_UPDATE_SERVER, DNS_TSIG_KEY_NAME and DNS_TSIG_SECRET, or PDNS_API_URL and PDNS_API_KEY, or DNS_EXEC_PROGRAM, on this instance"
                    .into(),
            )),
            None => {
                let names: Vec<&str> = self.providers.iter().map(|(k, _)| k.as_str()).collect();
                Err(IssueError::Rejected(format!(
                    "the dns-01 provider {} is not configured on this instance (configured: {})",
                    wanted.map_or("(none chosen)", |k| k.as_str()),
                    names.join(", ")
                )))
            }
        }
    }

    /// Removes records noted in Redis more than `older_than` ago, each through the provider that
    /// published it (a note without a provider's name: the default's): left by a crash, since a
    /// running order removes its own well within that.
    pub async fn sweep(&self, older_than: Duration) -> Result<usize, IssueError> {
        let mut removed = 0;
        for (noted, value) in self.store.acme().stale_dns_records(older_than).await? {
            let (chosen, name) = match noted.split_once(':') {
                Some((kind, name)) => (kind.parse().ok(), name.to_owned()),
                None => (self.default, noted.clone()),
            };
            let outcome = match self.pick(chosen) {
                Ok(picked) => picked.provider.remove_txt(&name, &value).await,
                Err(e) => Err(e),
            };
            match outcome {
                Ok(()) => {
                    self.store.forget_dns_record(&noted, &value).await?;
                    removed += 1;
                }
                Err(e) => {
                    tracing::warn!(name, error = %e, "leftover dns-01 record not removed; will retry")
                }
            }
        }
        Ok(removed)
    }
}

impl Picked<'_> {
    /// Publishes the record proving `name`, noted in Redis first so that a crash leaves no
    /// record the sweep does not know.
    pub async fn add_txt(&self, name: &str, value: &str) -> Result<(), IssueError> {
        let noted = noted_name(self.kind, name);
        self.store.note_dns_record(&noted, value).await?;
        self.provider.add_txt(name, value).await
    }

    /// Removes it, and its note.
    pub async fn remove_txt(&self, name: &str, value: &str) -> Result<(), IssueError> {
        self.provider.remove_txt(name, value).await?;
        let noted = noted_name(self.kind, name);
        self.store.forget_dns_record(&noted, value).await?;
        Ok(())
    }

    /// Publishes a record that stays (dns-persist-01) under `owner` (no trailing dot).
    pub async fn add_persistent(&self, owner: &str, value: &str) -> Result<(), IssueError> {
        match self.provider {
            DnsProvider::Rfc2136(p) => p.add_persistent(owner, value).await,
            DnsProvider::Exec(p) => p.add_persistent(owner, value).await,
            DnsProvider::PowerDns(p) => p.add_persistent(owner, value).await,
        }
    }

    /// Where the record proving `name` is written, without its trailing dot:
    /// `_acme-challenge.<name>`, or the target of its CNAME (RFC 2136, which follows them).
    pub async fn record_owner(&self, name: &str) -> Result<String, IssueError> {
        match self.provider {
            DnsProvider::Rfc2136(p) => p.record_owner(name).await,
            DnsProvider::Exec(_) | DnsProvider::PowerDns(_) => {
                Ok(format!("_acme-challenge.{}", name.trim_start_matches("*.")))
            }
        }
    }
}
