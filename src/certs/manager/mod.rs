//! The certificate manager: runs generations (issuances and renewals) in the background.
//!
//! Redis is the record of pending work (the `jobs` set and each certificate's status hash); the
//! in-memory queue only wakes workers. At most `CERT_GEN_MAX_WORKERS` generations run at once
//! per instance, and each runs under a Redis lease, so across instances a certificate is worked
//! on by one worker at a time. Work interrupted by a crash is found by [`recovery`] and resumed.

mod job;
mod recovery;
mod renewal;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch, Semaphore};

use crate::certs::issuer::Issuer;
use crate::certs::model::{CertificateRecord, GenerationState, GenerationStatus, IssuerKind};
use crate::config::Config;
use crate::events::Events;
use crate::store::status::Begin;
use crate::store::{Store, StoreResult};
use crate::timefmt;

/// The issuers available to this instance, by kind.
#[derive(Clone)]
pub struct Issuers {
    pub self_signed: Arc<dyn Issuer>,
    /// `None` until an ACME issuer is configured.
    pub acme: Option<Arc<dyn Issuer>>,
}

impl Issuers {
    fn get(&self, kind: IssuerKind) -> Option<Arc<dyn Issuer>> {
        match kind {
            IssuerKind::SelfSigned => Some(self.self_signed.clone()),
            IssuerKind::Acme => self.acme.clone(),
        }
    }
}

/// What a create request produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    Queued,
    NameTaken,
}

/// A cheap `Clone` handle on the manager.
#[derive(Clone)]
pub struct CertManager {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    config: Arc<Config>,
    issuers: Issuers,
    events: Events,
    /// Identifies this process in lease values.
    instance_id: String,
    wake: mpsc::UnboundedSender<String>,
    /// Names queued or running here, so one name is never queued twice locally.
    local: Mutex<HashSet<String>>,
    permits: Arc<Semaphore>,
}

impl CertManager {
    /// Starts the dispatcher and the recovery loop; both stop when `shutdown` turns `true`.
    pub fn start(
        store: Store,
        config: Arc<Config>,
        issuers: Issuers,
        events: Events,
        shutdown: watch::Receiver<bool>,
    ) -> CertManager {
        let (wake, queue) = mpsc::unbounded_channel();
        let manager = CertManager {
            inner: Arc::new(Inner {
                permits: Arc::new(Semaphore::new(config.cert_gen_max_workers)),
                store,
                config,
                issuers,
                events,
                instance_id: random_hex(8),
                wake,
                local: Mutex::new(HashSet::new()),
            }),
        };
        tokio::spawn(manager.clone().dispatch(queue, shutdown.clone()));
        tokio::spawn(manager.clone().recover(shutdown.clone()));
        tokio::spawn(manager.clone().renew_due(shutdown));
        manager
    }

    /// Records a new certificate and queues its first issuance.
    pub async fn create(&self, record: &CertificateRecord) -> StoreResult<Created> {
        let now = timefmt::now_string();
        let status = GenerationStatus {
            status: GenerationState::Pending,
            message: "queued for issuance".into(),
            created_at: now.clone(),
            updated_at: now,
            started_at: None,
            finished_at: None,
        };
        if !self.inner.store.create_certificate(record, &status).await? {
            return Ok(Created::NameTaken);
        }
        self.inner
            .events
            .publish(crate::events::Change::Certificate(record.cert_name.clone()))
            .await;
        self.inner.store.add_job(&record.cert_name).await?;
        self.enqueue(&record.cert_name);
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

    /// Wakes a worker for `name` unless it is already queued or running here.
    fn enqueue(&self, name: &str) {
        let fresh = self
            .inner
            .local
            .lock()
            .expect("manager lock")
            .insert(name.to_owned());
        if fresh && self.inner.wake.send(name.to_owned()).is_err() {
            self.inner.local.lock().expect("manager lock").remove(name);
        }
    }

    /// Takes names off the queue and runs each under a worker permit.
    async fn dispatch(
        self,
        mut queue: mpsc::UnboundedReceiver<String>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            let name = tokio::select! {
                name = queue.recv() => match name { Some(n) => n, None => return },
                _ = shutdown.wait_for(|stop| *stop) => return,
            };
            let permit = match self.inner.permits.clone().acquire_owned().await {
                Ok(p) => p,
                Err(_) => return,
            };
            let manager = self.clone();
            tokio::spawn(async move {
                manager.run_job(&name).await;
                drop(permit);
                manager
                    .inner
                    .local
                    .lock()
                    .expect("manager lock")
                    .remove(&name);
                // A renewal requested while this run was finishing found the name still local.
                if let Ok(Some(s)) = manager.inner.store.get_status(&name).await {
                    if s.status == GenerationState::Pending {
                        manager.enqueue(&name);
                    }
                }
            });
        }
    }
}

/// `n` random bytes as hex (lease values, instance ids).
pub(crate) fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut bytes).expect("system RNG available");
    hex::encode(bytes)
}
