//! Change notifications: what the edge's tables must reload.
//!
//! The certificate manager and the admin API announce every change here. The change is applied
//! to this instance's tables before `publish` returns, so an API answer or a `completed` status
//! means the change is already served here; (across instances the same changes travel over
//! Redis pub/sub).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

/// Something whose served form may have changed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Change {
    Certificate(String),
    Route(String),
}

/// Receives changes (the edge's tables).
pub trait ChangeSink: Send + Sync {
    fn apply<'a>(&'a self, change: &'a Change) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>;
}

/// A cheap `Clone` handle on the change channel.
#[derive(Clone, Default)]
pub struct Events {
    /// This instance's tables.
    local: Arc<OnceLock<Arc<dyn ChangeSink>>>,
    /// The other instances (Redis pub/sub).
    remote: Arc<OnceLock<Arc<dyn ChangeSink>>>,
}

impl Events {
    pub fn new() -> Self {
        Events::default()
    }

    /// Sets where this instance applies changes; the first call wins.
    pub fn connect_local(&self, sink: Arc<dyn ChangeSink>) {
        let _ = self.local.set(sink);
    }

    /// Sets how changes reach the other instances; the first call wins.
    pub fn connect_remote(&self, sink: Arc<dyn ChangeSink>) {
        let _ = self.remote.set(sink);
    }

    /// Announces a change: applied here (awaited, so it is served when this returns), then
    /// sent to the other instances.
    pub async fn publish(&self, change: Change) {
        if let Some(sink) = self.local.get() {
            sink.apply(&change).await;
        }
        if let Some(sink) = self.remote.get() {
            sink.apply(&change).await;
        }
    }
}
