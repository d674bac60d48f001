//! The ACME issuer (instant-acme): accounts, orders, the challenges (HTTP-01, TLS-ALPN-01,
//! dns-01), renewal information, revocation, and the HTTPS client to the CA.
//!
//! It plugs in behind [`Issuer`] like the self-signed issuer; the manager and the API do not know
//! which one signs.

pub mod account;
mod cert_id;
mod challenges;
pub mod dns01;
pub mod dns_exec;
pub mod dns_persist;
pub mod dns_powerdns;
pub mod dns_propagation;
pub mod dns_provider;
pub mod http;
pub mod order;
pub mod problem;
pub mod profiles;
mod renewal_info;
mod retry;

use std::time::Duration;

use async_trait::async_trait;

use crate::certs::issuer::{
    DnsRecord, IssueError, IssueRequest, IssuedCertificate, IssuedRef, Issuer, RenewalAdvice,
    RevocationReason,
};
use crate::certs::model::{ChallengeKind, IssuerKind};
use crate::config::Config;
use crate::store::StoreWriter;
use account::Accounts;
use http::AcmeHttp;
use order::Polling;

/// Why the ACME issuer could not be set up at start-up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// `ACME_CA_BUNDLE` cannot be read or used.
    #[error("ACME_CA_BUNDLE: {0}")]
    CaBundle(String),
    /// The TLS client could not be built.
    #[error("TLS client for ACME: {0}")]
    Tls(String),
    /// The dns-01 settings cannot be used.
    #[error("dns-01: {0}")]
    Dns(String),
}

/// Issues certificates from ACME CAs.
pub struct AcmeIssuer {
    store: StoreWriter,
    http: AcmeHttp,
    accounts: Accounts,
    polling: Polling,
    /// How long a key authorization stays in Redis (the whole polling budget plus a margin).
    challenge_ttl: Duration,
    /// The dns-01 providers configured (`DNS_*`, `PDNS_*`), maybe none.
    dns: dns_provider::DnsProviders,
    /// What each CA's directory says of it (issuer domain names for dns-persist-01).
    directory: profiles::ProfileCatalog,
    /// Waits for published DNS records to reach every authoritative server.
    propagation: dns_propagation::PropagationChecker,
}

impl AcmeIssuer {
    /// Writes back the ACME accounts this instance holds where Redis lacks them (the data-loss
    /// guard's write-back); how many were missing.
    pub async fn write_back_accounts(&self) -> crate::store::StoreResult<usize> {
        self.accounts.write_back_all().await
    }

    /// A catalog of the profiles CAs offer, over this issuer's HTTPS client.
    pub fn profile_catalog(&self) -> profiles::ProfileCatalog {
        profiles::ProfileCatalog::new(self.http.clone())
    }

    /// Builds the issuer; fails when `ACME_CA_BUNDLE` cannot be used.
    pub fn new(store: StoreWriter, config: &Config) -> Result<AcmeIssuer, SetupError> {
        let bundle = match &config.acme.ca_bundle {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| SetupError::CaBundle(format!("{}: {e}", path.display())))?,
            ),
            None => None,
        };
        let http = AcmeHttp::new(bundle.as_deref())?;
        let polling = Polling {
            initial_wait: config.acme.poll_initial_wait,
            interval: config.acme.poll_interval,
            max_attempts: config.acme.poll_max_attempts,
        };
        let challenge_ttl = config.acme.poll_initial_wait
            + config.acme.poll_interval * config.acme.poll_max_attempts
            + Duration::from_secs(300);
        let dns = dns_providers(config, store.clone())?;
        let propagation = dns_propagation::PropagationChecker::new(
            config.acme.dns_propagation.clone(),
            config.acme.dns_update.as_ref().map(|u| u.server.clone()),
        );
        Ok(AcmeIssuer {
            accounts: Accounts::new(store.clone(), http.clone(), bindings(config)),
            dns,
            store,
            directory: profiles::ProfileCatalog::new(http.clone()),
            propagation,
            http,
            polling,
            challenge_ttl,
        })
    }
}

#[async_trait]
impl Issuer for AcmeIssuer {
    fn kind(&self) -> IssuerKind {
        IssuerKind::Acme
    }

    async fn issue(&self, request: &IssueRequest) -> Result<IssuedCertificate, IssueError> {
        let directory = request.directory_url.as_deref().ok_or_else(|| {
            IssueError::Internal("no ACME directory recorded for this certificate".into())
        })?;
        http::with_own_retry_after(async {
            let account = self
                .accounts
                .get(directory, request.email.as_deref())
                .await?;
            if request.challenge == ChallengeKind::DnsPersist01 {
                return self.issue_persist(&account, request).await;
            }
            self.run_order(&account, request).await
        })
        .await
    }

    async fn dns_records(
        &self,
        request: &IssueRequest,
    ) -> Result<Option<Vec<DnsRecord>>, IssueError> {
        let directory = request.directory_url.as_deref().ok_or_else(|| {
            IssueError::Internal("no ACME directory recorded for this certificate".into())
        })?;
        // Only an account some order registered: listing records registers nothing and waits
        // on no registration lock.
        let id = account::account_id(directory, request.email.as_deref());
        let Some(info) = self.store.acme().account_info(&id).await? else {
            return Ok(None);
        };
        let records = self.persist_records(&info.account_url, request).await?;
        Ok(Some(records))
    }

    async fn renewal_info(
        &self,
        cert: &IssuedRef<'_>,
    ) -> Result<Option<RenewalAdvice>, IssueError> {
        http::with_own_retry_after(self.fetch_renewal_info(cert)).await
    }

    async fn revoke(
        &self,
        cert: &IssuedRef<'_>,
        reason: RevocationReason,
    ) -> Result<(), IssueError> {
        http::with_own_retry_after(self.revoke_certificate(cert, reason)).await
    }

    async fn sweep_leftovers(&self) -> Result<(), IssueError> {
        if !self.dns.is_empty() {
            let removed = self.dns.sweep(self.challenge_ttl).await?;
            if removed > 0 {
                tracing::info!(removed, "leftover dns-01 records removed");
            }
        }
        Ok(())
    }
}

impl AcmeIssuer {
    /// The account that ordered `cert` (its directory and e-mail).
    async fn account_for(&self, cert: &IssuedRef<'_>) -> Result<instant_acme::Account, IssueError> {
        let directory = cert.directory_url.ok_or_else(|| {
            IssueError::Internal("no ACME directory recorded for this certificate".into())
        })?;
        self.accounts.get(directory, cert.email).await
    }
}

/// The dns-01 providers configured, named by kind, with `DNS_PROVIDER`'s default.
fn dns_providers(
    config: &Config,
    store: StoreWriter,
) -> Result<dns_provider::DnsProviders, SetupError> {
    use crate::certs::model::DnsProviderKind;
    use dns_provider::DnsProvider;
    let acme = &config.acme;
    let mut providers = Vec::new();
    if let Some(settings) = &acme.dns_update {
        let updater = dns01::DnsUpdater::new(settings)?;
        providers.push((DnsProviderKind::Rfc2136, DnsProvider::Rfc2136(updater)));
    }
    if let Some(api) = acme.powerdns.clone() {
        let api = Box::new(dns_powerdns::PowerDns::new(api));
        providers.push((DnsProviderKind::PowerDns, DnsProvider::PowerDns(api)));
    }
    if let Some(exec) = acme.dns_exec.clone() {
        let program = dns_exec::ExecProvider::new(exec);
        providers.push((DnsProviderKind::Exec, DnsProvider::Exec(program)));
    }
    Ok(dns_provider::DnsProviders::new(
        providers,
        acme.dns_provider,
        store,
    ))
}

/// The External Account Bindings configured, by directory URL.
fn bindings(config: &Config) -> std::collections::HashMap<String, crate::config::Eab> {
    [
        (&config.acme.directory_url, &config.acme.eab),
        (&config.acme.staging_url, &config.acme.staging_eab),
    ]
    .into_iter()
    .filter_map(|(url, eab)| eab.clone().map(|eab| (url.clone(), eab)))
    .collect()
}
