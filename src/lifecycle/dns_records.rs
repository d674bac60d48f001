//! The DNS records an operator publishes once so that a certificate's names validate
//! (dns-persist-01), as its issuer computes them for its ACME account and CA.

use super::Lifecycle;
use crate::certs::issuer::{DnsRecord, IssueError};
use crate::certs::model::CertificateRecord;

impl Lifecycle {
    /// The records `record` needs; `None` until its ACME account (which they name) is
    /// registered by its first order.
    pub async fn dns_records(
        &self,
        record: &CertificateRecord,
    ) -> Result<Option<Vec<DnsRecord>>, IssueError> {
        let Some(issuer) = self.inner.issuers.get(record.issuer) else {
            return Err(IssueError::Rejected(format!(
                "the {} issuer is not available on this instance",
                record.issuer
            )));
        };
        issuer.dns_records(&self.issue_request(record)).await
    }
}
