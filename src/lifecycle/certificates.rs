//! Certificate writes: create (with its hostname claims), renew, delete.

use super::claims::Claimed;
use super::Lifecycle;
use crate::certs::model::{CertificateRecord, GenerationState, GenerationStatus};
use crate::events::Change;
use crate::store::claims::{ClaimRef, Conflict};
use crate::store::status::Begin;
use crate::store::StoreResult;
use crate::timefmt;

/// What a create request produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// Recorded and queued for its first issuance.
    Queued,
    /// A certificate of that name exists.
    NameTaken,
    /// A hostname belongs to another token (nothing was written).
    HostnameClaimed(Conflict),
}

/// What a delete request produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deleted {
    /// Deleted, with its key and claims.
    Deleted,
    /// Routes name the certificate and the delete was not forced (nothing was written).
    InUse(Vec<String>),
}

impl Lifecycle {
    /// Claims the record's hostnames for `record.owner_token_hash`, writes the record, announces
    /// it, and queues its first issuance. A claim is released again when the record cannot be
    /// written, so a refused create leaves nothing behind.
    pub async fn create_certificate(
        &self,
        record: &CertificateRecord,
        caller_is_admin: bool,
    ) -> StoreResult<Created> {
        let store = &self.inner.store;
        let now = timefmt::now_string();
        let status = GenerationStatus {
            status: GenerationState::Pending,
            message: "queued for issuance".into(),
            created_at: now.clone(),
            updated_at: now,
            started_at: None,
            finished_at: None,
        };
        let claimed = self
            .create_claimed(
                &record.domains,
                &record.owner_token_hash,
                ClaimRef::Cert(&record.cert_name),
                caller_is_admin,
                store.create_certificate(record, &status),
            )
            .await?;
        match claimed {
            Claimed::Written => {}
            Claimed::NotWritten => return Ok(Created::NameTaken),
            Claimed::OwnedByAnother(host) => return Ok(Created::HostnameClaimed(host)),
        }
        self.announce(Change::Certificate(record.cert_name.clone()))
            .await;
        store.add_job(&record.cert_name).await?;
        self.enqueue(&record.cert_name);
        tracing::info!(cert_name = %record.cert_name, issuer = %record.issuer, domains = record.domains.len(), "certificate requested");
        Ok(Created::Queued)
    }

    /// Queues a renewal (new key), or joins the generation already waiting or running.
    pub async fn renew(&self, name: &str, reason: &str) -> StoreResult<Begin> {
        let now = timefmt::now_string();
        let begin = self
            .inner
            .store
            .begin_generation(name, reason, &now)
            .await?;
        if begin == Begin::Started {
            self.inner.store.add_job(name).await?;
            self.enqueue(name);
        }
        Ok(begin)
    }

    /// Deletes the certificate and releases its hostnames; refused while routes use it unless
    /// `force`.
    pub async fn delete_certificate(
        &self,
        record: &CertificateRecord,
        force: bool,
    ) -> StoreResult<Deleted> {
        let store = &self.inner.store;
        let name = &record.cert_name;
        let routes = store.routes().using_certificate(name).await?;
        if !routes.is_empty() && !force {
            return Ok(Deleted::InUse(routes));
        }
        store.delete_certificate(name).await?;
        store.index_renewal(name, None).await?;
        store
            .release_hostnames(&record.domains, ClaimRef::Cert(name))
            .await?;
        self.announce(Change::Certificate(name.clone())).await;
        self.note("certificate", name, "deleted").await;
        tracing::info!(cert_name = %name, forced = force, "certificate deleted");
        Ok(Deleted::Deleted)
    }
}
