//! The lifecycle service: the one owner of every state change.
//!
//! Every write of certificates, routes, tokens and hostname claims goes through [`Lifecycle`]:
//! it writes Redis, then announces the change through [`Events`] — in that order and in this
//! module only, so "write, then publish" cannot be forgotten by a caller. The admin handlers
//! validate input and call it; they never write the store's records or publish.
//!
//! It also runs generations (issuances and renewals) in the background. Redis is the record of
//! pending work (the `jobs` set and each certificate's status hash); the in-memory queue only
//! wakes workers. At most `CERT_GEN_MAX_WORKERS` generations per issuer kind run at once per
//! instance (ACME and self-signed have separate lanes), and each
//! runs under a Redis lease, so across instances a certificate is worked on by one worker at a
//! time. Work interrupted by a crash is found by the recovery loop (`recovery.rs`) and resumed.
//!
//! The one write outside it is the data-loss guard's write-back (`cluster::guard`): it restores
//! what the edge already serves, so there is nothing to announce.

mod ari;
mod certificates;
mod claims;
mod dns_records;
mod finished;
mod job;
mod key_rotation;
mod on_demand_allow;
mod queue;
mod recovery;
mod renewal;
mod revocation;
mod routes;
mod startup_scan;
mod tokens;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, Notify, Semaphore};

pub use certificates::{Created, Deleted};
pub use revocation::RevokeError;
pub use routes::RouteCreated;
pub use tokens::bootstrap_admin_token;

use crate::certs::issuer::Issuer;
use crate::certs::model::IssuerKind;
use crate::config::Config;
use crate::events::{Change, Events};
use crate::ids::InstanceId;
use crate::shutdown::Shutdown;
use crate::store::{Store, StoreWriter};
use crate::tasks::Tasks;

/// The issuers available to this instance, by kind.
#[derive(Clone)]
pub struct Issuers {
    /// The self-signed issuer (always available).
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

/// A cheap `Clone` handle on the service.
#[derive(Clone)]
pub struct Lifecycle {
    inner: Arc<Inner>,
}

struct Inner {
    store: StoreWriter,
    config: Arc<Config>,
    issuers: Issuers,
    events: Events,
    /// Identifies this process in lease values.
    instance: InstanceId,
    wake: mpsc::UnboundedSender<String>,
    /// Names queued or running here, so one name is never queued twice locally.
    local: Mutex<HashSet<String>>,
    /// Wakes the renewal loop early when a renewal moment moved closer (an ARI answer).
    renewal_wake: Notify,
    /// One lane of `CERT_GEN_MAX_WORKERS` permits per issuer kind, so a slow or failing CA
    /// never holds up self-signed generations (and the other way round).
    lanes: Lanes,
    /// Statuses of the generations finished here, for the data-loss guard's write-back.
    finished: finished::FinishedStatuses,
}

/// Worker permits by issuer kind.
struct Lanes {
    acme: Arc<Semaphore>,
    self_signed: Arc<Semaphore>,
}

impl Lanes {
    fn get(&self, kind: IssuerKind) -> Arc<Semaphore> {
        match kind {
            IssuerKind::Acme => self.acme.clone(),
            IssuerKind::SelfSigned => self.self_signed.clone(),
        }
    }
}

impl Lifecycle {
    /// Starts the generation dispatcher, the recovery loop and the renewal loop on `tasks`; all
    /// three stop at `shutdown`.
    pub fn start(
        store: StoreWriter,
        config: Arc<Config>,
        issuers: Issuers,
        events: Events,
        instance: InstanceId,
        tasks: &mut Tasks,
        shutdown: &Shutdown,
    ) -> Lifecycle {
        let (wake, queue) = mpsc::unbounded_channel();
        let lifecycle = Lifecycle {
            inner: Arc::new(Inner {
                lanes: Lanes {
                    acme: Arc::new(Semaphore::new(config.certificates.gen_max_workers)),
                    self_signed: Arc::new(Semaphore::new(config.certificates.gen_max_workers)),
                },
                store,
                config,
                issuers,
                events,
                instance,
                wake,
                local: Mutex::new(HashSet::new()),
                renewal_wake: Notify::new(),
                finished: Default::default(),
            }),
        };
        tasks.spawn(
            "generation dispatcher",
            lifecycle.clone().dispatch(queue, shutdown.clone()),
        );
        tasks.spawn(
            "generation recovery",
            lifecycle.clone().recover(shutdown.clone()),
        );
        tasks.spawn(
            "renewal loop",
            lifecycle.clone().renew_due(shutdown.clone()),
        );
        lifecycle
    }

    /// The store, for reads (writes go through this service's methods).
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Announces a change that was just written: applied to this instance's tables, then sent
    /// to the others. Every write method of this service ends here.
    async fn announce(&self, change: Change) {
        self.inner.events.publish(change).await;
    }

    /// Notes an operator-visible event in the cluster's recent events (`GET /events/`).
    async fn note(&self, kind: &str, name: &str, outcome: &str) {
        self.inner
            .store
            .note_event(&crate::store::recent_events::RecentEvent {
                at: crate::timefmt::now_string(),
                kind: kind.to_owned(),
                name: name.to_owned(),
                outcome: outcome.to_owned(),
                message: String::new(),
            })
            .await;
    }
}
