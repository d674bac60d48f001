//! Answering the CA's challenges, one kind per certificate (`challenge`):
//!
//! - **http-01**: the key authorization is stored in Redis under its token; every instance's
//!   HTTP listener answers `/.well-known/acme-challenge/{token}`.
//! - **tls-alpn-01**: a challenge certificate for the identifier (RFC 8737) is stored in Redis
//!   under it; every instance's HTTPS listener answers an `acme-tls/1` handshake with it.
//! - **dns-01**: a TXT record `_acme-challenge.<name>` is added by RFC 2136 dynamic update, and
//!   the challenge is signalled only once the authoritative server answers it.
//! - **dns-persist-01**: nothing per order; the record `_validation-persist.<name>` was
//!   published once before it ([`super::dns_persist`]), and each challenge is signalled at once.
//!
//! Whatever the outcome, everything published is removed when the order ends
//! ([`AcmeIssuer::unpublish`]); what a crash leaves behind expires (Redis TTLs) or is removed by
//! the recovery loop (DNS records, see `lifecycle::recovery`).

use std::collections::HashSet;

use instant_acme::{AuthorizationStatus, ChallengeType, Identifier, Order};

use super::problem::{retry_delay, to_issue_error};
use super::retry::with_retry;
use super::AcmeIssuer;
use crate::certs::issuer::{IssueError, IssueRequest};
use crate::certs::model::ChallengeKind;
use crate::certs::tls_alpn;
use crate::secret::Secret;

/// Something published for the CA to find; removed when the order ends.
#[derive(Debug)]
pub(super) enum Published {
    /// An HTTP-01 key authorization under this token.
    HttpToken(String),
    /// A TLS-ALPN-01 certificate under this identifier (DNS name or IP address).
    TlsAlpnCertificate(String),
    /// A dns-01 TXT record: the DNS name it proves (without `_acme-challenge.`) and its value.
    DnsTxt { name: String, value: String },
}

fn challenge_type(kind: ChallengeKind) -> ChallengeType {
    match kind {
        ChallengeKind::Http01 => ChallengeType::Http01,
        ChallengeKind::TlsAlpn01 => ChallengeType::TlsAlpn01,
        ChallengeKind::Dns01 => ChallengeType::Dns01,
        ChallengeKind::DnsPersist01 => {
            ChallengeType::Unknown(super::dns_persist::CHALLENGE_TYPE.to_owned())
        }
    }
}

/// An identifier as certgate names it: a DNS name (without `*.`) or an IP address.
fn identifier_text(identifier: &Identifier) -> Result<String, IssueError> {
    match identifier {
        Identifier::Dns(name) => Ok(name.clone()),
        Identifier::Ip(ip) => Ok(ip.to_string()),
        other => Err(IssueError::Rejected(format!(
            "the CA asked to validate {other:?}, which certgate does not order"
        ))),
    }
}

impl AcmeIssuer {
    /// Publishes the answer to each pending authorization's challenge of the certificate's kind
    /// and signals it ready. For dns-01 every record is published first and the challenges are
    /// signalled once the DNS server answers them all. Authorizations already valid (reused by
    /// the CA) are skipped. `published` collects what must be removed afterwards.
    pub(super) async fn prepare_challenges(
        &self,
        order: &mut Order,
        request: &IssueRequest,
        published: &mut Vec<Published>,
    ) -> Result<(), IssueError> {
        let kind = request.challenge;
        let wait_for_dns = kind == ChallengeKind::Dns01;
        let mut done: HashSet<String> = HashSet::new();
        let mut unsignalled: Vec<String> = Vec::new();
        let mut restarts = 0;
        'restart: loop {
            let mut authorizations = order.authorizations();
            while let Some(next) = authorizations.next().await {
                let mut auth = match next {
                    Ok(auth) => auth,
                    Err(e) => match retry_delay(&e, restarts, super::http::retry_after()) {
                        Some(delay) => {
                            restarts += 1;
                            tokio::time::sleep(delay).await;
                            continue 'restart;
                        }
                        None => return Err(to_issue_error("fetching an authorization", e)),
                    },
                };
                if !done.insert(auth.url().to_owned()) {
                    continue;
                }
                let shown = auth.identifier().to_string();
                match auth.status {
                    AuthorizationStatus::Valid => continue,
                    AuthorizationStatus::Pending => {}
                    other => {
                        return Err(IssueError::Rejected(format!(
                            "authorization for {shown} is {other:?}"
                        )))
                    }
                }
                let identifier = identifier_text(auth.identifier().identifier)?;
                let url = auth.url().to_owned();
                let mut challenge = auth.challenge(challenge_type(kind)).ok_or_else(|| {
                    IssueError::Rejected(format!("the CA offers no {kind} challenge for {shown}"))
                })?;
                if let Some(item) = self.publish(request, &challenge, identifier).await? {
                    published.push(item);
                }
                if wait_for_dns {
                    unsignalled.push(url);
                    continue;
                }
                with_retry!(
                    "signalling the challenge ready",
                    challenge.set_ready().await
                )?;
                tracing::debug!(cert_name = %request.cert_name, identifier = %shown, challenge = %kind, "challenge ready");
            }
            break;
        }
        if unsignalled.is_empty() {
            return Ok(());
        }
        self.signal_once_visible(order, request, published, &unsignalled)
            .await
    }

    /// Publishes the answer to one challenge where the CA will look for it: the key
    /// authorization in Redis (http-01), the challenge certificate in Redis (tls-alpn-01), the
    /// TXT record at the DNS server (dns-01); nothing for dns-persist-01, whose record stays.
    async fn publish(
        &self,
        request: &IssueRequest,
        challenge: &instant_acme::ChallengeHandle<'_>,
        identifier: String,
    ) -> Result<Option<Published>, IssueError> {
        let kind = request.challenge;
        let key_authorization = challenge.key_authorization();
        Ok(Some(match kind {
            ChallengeKind::Http01 => {
                let token = challenge.token.clone();
                self.store
                    .put_challenge(
                        &token,
                        &Secret::new(key_authorization.as_str()),
                        self.challenge_ttl,
                    )
                    .await?;
                Published::HttpToken(token)
            }
            ChallengeKind::TlsAlpn01 => {
                let pem = tls_alpn::challenge_certificate(
                    &identifier,
                    key_authorization.digest().as_ref(),
                )
                .map_err(|e| IssueError::Internal(format!("TLS-ALPN-01 certificate: {e}")))?;
                self.store
                    .put_tls_alpn_challenge(&identifier, &pem, self.challenge_ttl)
                    .await?;
                Published::TlsAlpnCertificate(identifier)
            }
            ChallengeKind::Dns01 => {
                let dns = self.dns.pick(request.dns_provider)?;
                let value = key_authorization.dns_value();
                dns.add_txt(&identifier, &value).await?;
                Published::DnsTxt {
                    name: identifier,
                    value,
                }
            }
            ChallengeKind::DnsPersist01 => return Ok(None),
        }))
    }

    /// dns-01: once every authoritative server answers every published record, signals the challenges of
    /// the authorizations in `unsignalled` ready.
    async fn signal_once_visible(
        &self,
        order: &mut Order,
        request: &IssueRequest,
        published: &[Published],
        unsignalled: &[String],
    ) -> Result<(), IssueError> {
        let dns = self.dns.pick(request.dns_provider)?;
        for item in published.iter() {
            if let Published::DnsTxt { name, value } = item {
                let owner = dns.record_owner(name).await?;
                self.propagation.wait(&owner, value).await?;
            }
        }
        let mut authorizations = order.authorizations();
        while let Some(next) = authorizations.next().await {
            let mut auth = next.map_err(|e| to_issue_error("fetching an authorization", e))?;
            if !unsignalled.iter().any(|u| u == auth.url()) {
                continue;
            }
            let Some(mut challenge) = auth.challenge(ChallengeType::Dns01) else {
                continue;
            };
            with_retry!(
                "signalling the challenge ready",
                challenge.set_ready().await
            )?;
        }
        tracing::debug!(cert_name = %request.cert_name, records = unsignalled.len(), "dns-01 challenges ready");
        Ok(())
    }

    /// Removes what `prepare_challenges` published; failures are logged (Redis entries expire,
    /// DNS records are swept by the recovery loop).
    pub(super) async fn unpublish(&self, request: &IssueRequest, published: &[Published]) {
        for item in published {
            let outcome = match item {
                Published::HttpToken(token) => self
                    .store
                    .delete_challenge(token)
                    .await
                    .map_err(|e| e.to_string()),
                Published::TlsAlpnCertificate(identifier) => self
                    .store
                    .delete_tls_alpn_challenge(identifier)
                    .await
                    .map_err(|e| e.to_string()),
                Published::DnsTxt { name, value } => match self.dns.pick(request.dns_provider) {
                    Ok(dns) => dns.remove_txt(name, value).await.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                },
            };
            if let Err(e) = outcome {
                tracing::warn!(cert_name = %request.cert_name, item = ?item, error = %e, "could not remove a challenge answer; it expires or is swept later");
            }
        }
    }
}
