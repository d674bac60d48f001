//! dns-persist-01 (draft-ietf-acme-dns-persist-01, March 2026): one TXT record per name,
//! `_validation-persist.<name>`, naming the CA (an issuer domain name from the directory's
//! `meta.caaIdentities`) and the ACME account (`accounturi=`), with `policy=wildcard` when the
//! certificate holds `*.<name>`. It authorises that account at that CA until removed, so a
//! renewal touches no DNS.
//!
//! With a DNS provider configured certgate publishes each record once (noted in Redis); without
//! one the operator publishes what `GET /certificates/{name}/dns-records` lists.

use instant_acme::Account;

use super::AcmeIssuer;
use crate::certs::issuer::{DnsRecord, IssueError, IssueRequest};

/// The label under which the CA looks for the record.
pub const LABEL: &str = "_validation-persist";
/// The challenge type's name in the ACME protocol.
pub const CHALLENGE_TYPE: &str = "dns-persist-01";

/// The record text for an account at a CA; `wildcard` adds the wildcard policy, without which
/// the CA refuses `*.<name>`.
pub fn value(issuer_domain: &str, account_uri: &str, wildcard: bool) -> String {
    let mut text = format!("{issuer_domain}; accounturi={account_uri}");
    if wildcard {
        text.push_str("; policy=wildcard");
    }
    text
}

/// The records a certificate for `domains` needs: one per name without its `*.` (in the order
/// first named), with the wildcard policy where the certificate holds the wildcard.
pub fn records(issuer_domain: &str, account_uri: &str, domains: &[String]) -> Vec<DnsRecord> {
    let mut bases: Vec<(String, Vec<String>)> = Vec::new();
    for domain in domains {
        let base = domain.strip_prefix("*.").unwrap_or(domain).to_owned();
        match bases.iter_mut().find(|(b, _)| *b == base) {
            Some((_, named)) => named.push(domain.clone()),
            None => bases.push((base, vec![domain.clone()])),
        }
    }
    bases
        .into_iter()
        .map(|(base, named)| {
            let wildcard = named.iter().any(|d| d.starts_with("*."));
            DnsRecord {
                name: format!("{LABEL}.{base}"),
                record_type: "TXT",
                value: value(issuer_domain, account_uri, wildcard),
                domains: named,
            }
        })
        .collect()
}

/// The records, `; `-separated, for an error or a log line.
pub fn listed(records: &[DnsRecord]) -> String {
    records
        .iter()
        .map(|r| r.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

impl AcmeIssuer {
    /// The records `request` needs for the account at `account_uri` at its CA, naming the CA by
    /// the first issuer domain name its directory lists.
    pub(super) async fn persist_records(
        &self,
        account_uri: &str,
        request: &IssueRequest,
    ) -> Result<Vec<DnsRecord>, IssueError> {
        let directory = request.directory_url.as_deref().ok_or_else(|| {
            IssueError::Internal("no ACME directory recorded for this certificate".into())
        })?;
        let issuers = self
            .directory
            .issuer_domain_names(directory)
            .await
            .map_err(IssueError::Transient)?;
        let issuer = issuers.first().ok_or_else(|| {
            IssueError::Rejected(format!(
                "the CA at {directory} lists no issuer domain name (meta.caaIdentities) in its \
                 directory, which a {CHALLENGE_TYPE} record must name"
            ))
        })?;
        Ok(records(issuer, account_uri, &request.domains))
    }

    /// With a DNS provider, publishes each record not published before (a renewal writes
    /// nothing); without one, the operator has published them.
    pub(super) async fn publish_persist_records(
        &self,
        request: &IssueRequest,
        records: &[DnsRecord],
    ) -> Result<(), IssueError> {
        if self.dns.is_empty() {
            return Ok(());
        }
        let dns = self.dns.pick(request.dns_provider)?;
        for record in records {
            if self
                .store
                .persist_record_published(&record.name, &record.value)
                .await?
            {
                continue;
            }
            dns.add_persistent(&record.name, &record.value).await?;
            self.propagation.wait(&record.name, &record.value).await?;
            self.store
                .note_persist_record(&record.name, &record.value)
                .await?;
            tracing::info!(record = %record, "dns-persist-01 record published");
        }
        Ok(())
    }

    /// Orders `request` (a dns-persist-01 certificate) once its records are published; when
    /// the CA refuses, the error lists the records, and those certgate published are
    /// forgotten so that the next attempt publishes them again.
    pub(super) async fn issue_persist(
        &self,
        account: &Account,
        request: &IssueRequest,
    ) -> Result<crate::certs::issuer::IssuedCertificate, IssueError> {
        let records = self.persist_records(account.id(), request).await?;
        self.publish_persist_records(request, &records).await?;
        match self.run_order(account, request).await {
            Err(IssueError::Rejected(why)) => {
                for record in &records {
                    let _ = self
                        .store
                        .forget_persist_record(&record.name, &record.value)
                        .await;
                }
                Err(IssueError::Rejected(format!(
                    "{why}; {CHALLENGE_TYPE} needs these records, published once: {} \
                     (GET /certificates/{}/dns-records)",
                    listed(&records),
                    request.cert_name
                )))
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_and_its_apex_share_one_record_with_the_wildcard_policy() {
        let domains: Vec<String> = ["*.a.test", "a.test", "b.test"].map(str::to_owned).to_vec();
        let found = records("ca.test", "https://ca.test/acct/7", &domains);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].name, "_validation-persist.a.test");
        assert_eq!(found[0].domains, vec!["*.a.test", "a.test"]);
        assert_eq!(
            found[0].value,
            "ca.test; accounturi=https://ca.test/acct/7; policy=wildcard"
        );
        assert_eq!(found[1].name, "_validation-persist.b.test");
        assert_eq!(found[1].value, "ca.test; accounturi=https://ca.test/acct/7");
        assert_eq!(
            found[1].to_string(),
            "_validation-persist.b.test TXT \"ca.test; accounturi=https://ca.test/acct/7\""
        );
    }
}
