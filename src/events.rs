//! Change notifications: what the edge's tables must reload.
//!
//! The certificate manager and the admin API announce every change here. The change is applied
//! to this instance's tables before `publish` returns, so an API answer or a `completed` status
//! means the change is already served here; (across instances the same changes travel over
//! Redis pub/sub). Both sinks are given when the channel is made, before anything can announce,
//! so no announcement is ever made to nobody.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Something whose served form may have changed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Change {
    /// The certificate of this name was created, changed or deleted.
    Certificate(String),
    /// The route of this hostname was created, changed or deleted.
    Route(String),
}

/// Receives changes (the edge's tables).
pub trait ChangeSink: Send + Sync {
    /// Brings the sink's state in line with `change` (reading the current record from Redis).
    fn apply<'a>(&'a self, change: &'a Change) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>;
}

/// A cheap `Clone` handle on the change channel.
#[derive(Clone)]
pub struct Events {
    /// This instance's tables.
    local: Arc<dyn ChangeSink>,
    /// The other instances (Redis pub/sub); `None` for an instance alone (tools, tests).
    remote: Option<Arc<dyn ChangeSink>>,
}

impl Events {
    /// The channel to this instance's tables and, when given, to the other instances.
    pub fn new(local: Arc<dyn ChangeSink>, remote: Option<Arc<dyn ChangeSink>>) -> Self {
        Events { local, remote }
    }

    /// Announces a change: applied here (awaited, so it is served when this returns), then
    /// sent to the other instances.
    pub async fn publish(&self, change: Change) {
        self.local.apply(&change).await;
        if let Some(sink) = &self.remote {
            sink.apply(&change).await;
        }
    }
}

/// A sink that drops every change (an instance without tables: tools and tests).
pub struct Unheard;

impl ChangeSink for Unheard {
    fn apply<'a>(&'a self, _change: &'a Change) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(std::future::ready(()))
    }
}
