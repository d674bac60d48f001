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
#[derive(Debug, Clone, PartialEq, Eq)]
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
    sink: Arc<OnceLock<Arc<dyn ChangeSink>>>,
}

impl Events {
    pub fn new() -> Self {
        Events::default()
    }

    /// Sets where changes go; the first call wins.
    pub fn connect(&self, sink: Arc<dyn ChangeSink>) {
        let _ = self.sink.set(sink);
    }

    /// Announces a change and waits until this instance serves it.
    pub async fn publish(&self, change: Change) {
        if let Some(sink) = self.sink.get() {
            sink.apply(&change).await;
        }
    }
}
