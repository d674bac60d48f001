//! On-demand certificates: a permitted name no certificate covers gets one at its first TLS
//! handshake (`docs/on-demand.md`).
//!
//! The decision, in order: the name must be a valid public DNS name (no IP literal, no single
//! label); an allow pattern in Redis (`PUT /on-demand/allow/{pattern}`) or the ask URL must
//! permit it; it must not be backing off after a failure; and a new order must fit the
//! cluster-wide rate (`ON_DEMAND_RATE` per minute). Then an ordinary certificate record is
//! created through the lifecycle — its atomic create is the cluster-wide "one order per name":
//! every other handshake, on any instance, finds the record and waits for the same generation.
//! A handshake waits at most `ON_DEMAND_HANDSHAKE_WAIT`, and at most `ON_DEMAND_MAX_CONCURRENT`
//! wait at once per instance; anything refused, limited or late gets the default certificate
//! at once.

mod ask;
mod decide;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

pub use decide::{pattern, Outcome};

use crate::config::{Config, OnDemand as Settings};
use crate::lifecycle::Lifecycle;
use crate::store::StoreWriter;

/// How long the allow patterns read from Redis are used before they are read again.
const PATTERNS_FRESH_FOR: Duration = Duration::from_secs(2);
/// Owner of the certificates made on demand: matches no token, so only the admin manages them.
pub const OWNER: &str = "on-demand";

/// The on-demand service of one instance (cheap to clone).
#[derive(Clone)]
pub struct OnDemand {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    config: Arc<Config>,
    store: StoreWriter,
    lifecycle: Lifecycle,
    asker: Option<ask::Asker>,
    /// Handshakes that may wait for a certificate at once.
    waiting: Semaphore,
    patterns: Mutex<Option<(Instant, Arc<Vec<String>>)>>,
}

impl OnDemand {
    /// `None` unless `ON_DEMAND=true`.
    pub fn new(config: Arc<Config>, store: StoreWriter, lifecycle: Lifecycle) -> Option<OnDemand> {
        let settings = config.on_demand.clone()?;
        Some(OnDemand {
            inner: Arc::new(Inner {
                asker: settings.ask_url.as_deref().map(ask::Asker::new),
                waiting: Semaphore::new(settings.max_concurrent),
                settings,
                config,
                store,
                lifecycle,
                patterns: Mutex::new(None),
            }),
        })
    }

    /// `http://host:port` for hosts with no route (`ON_DEMAND_UPSTREAM`).
    pub fn upstream(&self) -> Option<&str> {
        self.inner.settings.upstream.as_deref()
    }
}
