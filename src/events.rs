//! In-process change notifications: what the edge's tables must reload.
//!
//! The certificate manager and the admin API announce every change here; the edge listens and
//! swaps in new snapshots. (Across instances the same changes travel over Redis pub/sub.)

use tokio::sync::broadcast;

/// Something whose served form may have changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Certificate(String),
    Route(String),
}

/// A cheap `Clone` handle on the change channel.
#[derive(Clone, Debug)]
pub struct Events {
    sender: broadcast::Sender<Change>,
}

impl Default for Events {
    fn default() -> Self {
        Events::new()
    }
}

impl Events {
    pub fn new() -> Self {
        let (sender, _) = broadcast::channel(1024);
        Events { sender }
    }

    /// Announces a change; no listener is not an error.
    pub fn publish(&self, change: Change) {
        let _ = self.sender.send(change);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.sender.subscribe()
    }
}
