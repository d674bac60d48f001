//! One shutdown signal for the whole instance (the shape of tokio's mini-redis `Shutdown`).
//!
//! [`Trigger::fire`] is called once, by `app::run` when its shutdown future completes; every
//! long-running loop holds a [`Shutdown`] and selects on [`Shutdown::wait`]. A `Shutdown` whose
//! trigger is gone counts as fired, so a dropped trigger cannot leave a loop running forever.

use tokio::sync::watch;

/// The sending side: fires the signal for every [`Shutdown`] made from it.
#[derive(Debug)]
pub struct Trigger {
    sender: watch::Sender<bool>,
}

/// The receiving side: a cheap `Clone` handle each task keeps.
#[derive(Clone, Debug)]
pub struct Shutdown {
    receiver: watch::Receiver<bool>,
}

/// A new, unfired signal.
pub fn channel() -> (Trigger, Shutdown) {
    let (sender, receiver) = watch::channel(false);
    (Trigger { sender }, Shutdown { receiver })
}

impl Trigger {
    /// Tells every [`Shutdown`] to stop; later calls do nothing more.
    pub fn fire(&self) {
        self.sender.send_replace(true);
    }

    /// Another receiver of this signal.
    pub fn subscribe(&self) -> Shutdown {
        Shutdown {
            receiver: self.sender.subscribe(),
        }
    }
}

impl Shutdown {
    /// Whether the signal has fired (or its trigger is gone).
    pub fn is_shutdown(&self) -> bool {
        *self.receiver.borrow() || self.receiver.has_changed().is_err()
    }

    /// Resolves once the signal has fired; at once if it already has.
    pub async fn wait(&self) {
        let mut receiver = self.receiver.clone();
        let _ = receiver.wait_for(|fired| *fired).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_receiver_sees_one_fire() {
        let (trigger, shutdown) = channel();
        let other = trigger.subscribe();
        assert!(!shutdown.is_shutdown());
        let waiting = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { shutdown.wait().await }
        });
        trigger.fire();
        waiting.await.unwrap();
        other.wait().await;
        assert!(shutdown.is_shutdown() && other.is_shutdown());
    }

    #[tokio::test]
    async fn a_dropped_trigger_counts_as_fired() {
        let (trigger, shutdown) = channel();
        drop(trigger);
        shutdown.wait().await;
        assert!(shutdown.is_shutdown());
    }
}
