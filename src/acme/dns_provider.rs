//! The dns-01 provider this instance is configured with: RFC 2136 updates to an authoritative
//! server (`DNS_UPDATE_SERVER`, [`super::dns01`]) or a program (`DNS_EXEC_PROGRAM`,
//! [`super::dns_exec`]). Both note each published record in Redis, so the recovery loop can
//! remove what a crash left.

use std::time::Duration;

use super::dns01::DnsUpdater;
use super::dns_exec::ExecProvider;
use crate::certs::issuer::IssueError;

/// Publishes and removes `_acme-challenge` TXT records.
#[derive(Debug)]
pub enum DnsProvider {
    /// RFC 2136 dynamic updates with TSIG.
    Rfc2136(DnsUpdater),
    /// `DNS_EXEC_PROGRAM`.
    Exec(ExecProvider),
}

impl DnsProvider {
    /// Publishes the record proving `name`.
    pub async fn add_txt(&self, name: &str, value: &str) -> Result<(), IssueError> {
        match self {
            DnsProvider::Rfc2136(p) => p.add_txt(name, value).await,
            DnsProvider::Exec(p) => p.add_txt(name, value).await,
        }
    }

    /// Removes it.
    pub async fn remove_txt(&self, name: &str, value: &str) -> Result<(), IssueError> {
        match self {
            DnsProvider::Rfc2136(p) => p.remove_txt(name, value).await,
            DnsProvider::Exec(p) => p.remove_txt(name, value).await,
        }
    }

    /// Waits until the record can be seen: at the authoritative server for RFC 2136; the
    /// program returned once it was published.
    pub async fn wait_visible(&self, name: &str, value: &str) -> Result<(), IssueError> {
        match self {
            DnsProvider::Rfc2136(p) => p.wait_visible(name, value).await,
            DnsProvider::Exec(_) => Ok(()),
        }
    }

    /// Removes records a crash left behind (noted more than `older_than` ago).
    pub async fn sweep(&self, older_than: Duration) -> Result<usize, IssueError> {
        match self {
            DnsProvider::Rfc2136(p) => p.sweep(older_than).await,
            DnsProvider::Exec(p) => p.sweep(older_than).await,
        }
    }
}
