//! The one full pass over the records an instance makes, once per start, in chunks (so memory
//! stays bounded whatever the store holds): it requeues issuances a crash interrupted, and
//! rebuilds the second-step indexes the writes keep — the renewal index, the names by status,
//! the ordered name indexes, the names under each wildcard claim — so an instance that died between a record write and its index
//! write leaves no lasting gap.

use std::collections::HashSet;

use time::OffsetDateTime;

use super::Lifecycle;
use crate::certs::model::CertStatus;
use crate::certs::schedule;
use crate::store::name_pages::Listed;
use crate::store::StoreResult;

/// Records read at a time.
const CHUNK: usize = 500;

impl Lifecycle {
    pub(super) async fn startup_scan(&self) -> StoreResult<()> {
        let store = &self.inner.store;
        for listed in [Listed::Certificates, Listed::Routes] {
            store.rebuild_name_index(listed).await?;
        }
        let ari_on = self.inner.config.acme.ari;
        let now = OffsetDateTime::now_utc();
        let names = store.certs().names().await?;
        let mut scheduled: HashSet<String> = HashSet::new();
        for chunk in names.chunks(CHUNK) {
            let mut entries = Vec::new();
            let mut owners = Vec::new();
            let mut named = Vec::new();
            for record in store.certs().get_many(chunk).await?.into_iter().flatten() {
                for domain in &record.domains {
                    named.push((domain.clone(), record.owner_token_hash.clone()));
                }
                owners.push((record.cert_name.clone(), record.owner_token_hash.clone()));
                if let Some(next) = schedule::next_event(&record, ari_on, now) {
                    scheduled.insert(record.cert_name.clone());
                    entries.push((record.cert_name.clone(), next));
                }
                if record.status == CertStatus::Pending {
                    self.resume_if_orphaned(&record.cert_name).await?;
                }
            }
            store.index_renewals(&entries).await?;
            store.repair_status_index(chunk).await?;
            store.index_owners(&owners).await?;
            store.index_claim_children(&named).await?;
        }
        let routed: Vec<(String, String)> = store
            .routes()
            .list()
            .await?
            .into_iter()
            .map(|r| (r.hostname, r.owner_token_hash))
            .collect();
        for chunk in routed.chunks(CHUNK) {
            store.index_claim_children(chunk).await?;
        }
        for (name, _) in store.certs().renewal_entries().await? {
            if !scheduled.contains(&name) {
                store.index_renewal(&name, None).await?;
            }
        }
        tracing::debug!(
            certificates = names.len(),
            scheduled = scheduled.len(),
            "start-up scan done"
        );
        Ok(())
    }

    /// A certificate still `pending` with no generation waiting (a crash between writing the
    /// record and queueing its job) gets its generation queued again.
    pub(super) async fn resume_if_orphaned(&self, name: &str) -> StoreResult<()> {
        let store = &self.inner.store;
        let running = store
            .certs()
            .generation_status(name)
            .await?
            .is_some_and(|s| s.status.is_running());
        if running {
            store.add_job(name).await
        } else {
            self.renew(name, "resuming interrupted issuance")
                .await
                .map(|_| ())
        }
    }
}
