//! The dns-01 provider this instance is configured with: RFC 2136 updates to an authoritative
//! server (`DNS_UPDATE_SERVER`, [`super::dns01`]), PowerDNS's HTTP API (`PDNS_API_URL`,
//! [`super::dns_powerdns`]) or a program (`DNS_EXEC_PROGRAM`, [`super::dns_exec`]). Each notes
//! every dns-01 record it publishes in Redis, so the recovery loop can remove what a crash left;
//! dns-persist-01 records are meant to stay and are not noted.

use std::time::Duration;

use super::dns01::DnsUpdater;
use super::dns_exec::ExecProvider;
use super::dns_powerdns::PowerDns;
use crate::certs::issuer::IssueError;
use crate::store::StoreWriter;

/// Publishes and removes `_acme-challenge` TXT records.
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
    /// Publishes the record proving `name`.
    pub async fn add_txt(&self, name: &str, value: &str) -> Result<(), IssueError> {
        match self {
            DnsProvider::Rfc2136(p) => p.add_txt(name, value).await,
            DnsProvider::Exec(p) => p.add_txt(name, value).await,
            DnsProvider::PowerDns(p) => p.add_txt(name, value).await,
        }
    }

    /// Removes it.
    pub async fn remove_txt(&self, name: &str, value: &str) -> Result<(), IssueError> {
        match self {
            DnsProvider::Rfc2136(p) => p.remove_txt(name, value).await,
            DnsProvider::Exec(p) => p.remove_txt(name, value).await,
            DnsProvider::PowerDns(p) => p.remove_txt(name, value).await,
        }
    }

    /// Publishes a record that stays (dns-persist-01) under `owner` (no trailing dot).
    pub async fn add_persistent(&self, owner: &str, value: &str) -> Result<(), IssueError> {
        match self {
            DnsProvider::Rfc2136(p) => p.add_persistent(owner, value).await,
            DnsProvider::Exec(p) => p.add_persistent(owner, value).await,
            DnsProvider::PowerDns(p) => p.add_persistent(owner, value).await,
        }
    }

    /// Where the record proving `name` is written, without its trailing dot:
    /// `_acme-challenge.<name>`, or the target of its CNAME (RFC 2136, which follows them).
    pub async fn record_owner(&self, name: &str) -> Result<String, IssueError> {
        match self {
            DnsProvider::Rfc2136(p) => p.record_owner(name).await,
            DnsProvider::Exec(_) | DnsProvider::PowerDns(_) => {
                Ok(format!("_acme-challenge.{}", name.trim_start_matches("*.")))
            }
        }
    }

    /// Removes records noted in `store` more than `older_than` ago: left by a crash, since a
    /// running order removes its own well within that.
    pub async fn sweep(
        &self,
        store: &StoreWriter,
        older_than: Duration,
    ) -> Result<usize, IssueError> {
        let mut removed = 0;
        for (name, value) in store.acme().stale_dns_records(older_than).await? {
            match self.remove_txt(&name, &value).await {
                Ok(()) => removed += 1,
                Err(e) => {
                    tracing::warn!(name, error = %e, "leftover dns-01 record not removed; will retry")
                }
            }
        }
        Ok(removed)
    }
}
