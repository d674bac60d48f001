//! Change events over Redis pub/sub, so a change made through any instance is served by all.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use fred::clients::SubscriberClient;
use fred::prelude::{ClientLike, EventInterface, PubsubInterface};
use serde::{Deserialize, Serialize};

use crate::edge::sync::EdgeTables;
use crate::events::{Change, ChangeSink};
use crate::ids::InstanceId;
use crate::shutdown::Shutdown;
use crate::store::{RedisSettings, Store, StoreWriter};

/// What travels on the channel.
#[derive(Serialize, Deserialize)]
struct Message {
    /// The publishing instance, which already applied the change.
    origin: String,
    kind: String,
    name: String,
}

/// Publishes this instance's changes for the others.
pub struct RedisPublisher {
    store: StoreWriter,
    channel: String,
    origin: String,
}

impl RedisPublisher {
    /// Publishes through `store`, signing each message with `origin` so this instance skips its own.
    pub fn new(store: StoreWriter, origin: &InstanceId) -> RedisPublisher {
        RedisPublisher {
            channel: channel(&store),
            store,
            origin: origin.to_string(),
        }
    }
}

fn channel(store: &Store) -> String {
    format!("{}events", store.keys().prefix())
}

impl ChangeSink for RedisPublisher {
    fn apply<'a>(&'a self, change: &'a Change) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            let (kind, name) = match change {
                Change::Certificate(n) => ("certificate", n),
                Change::Route(h) => ("route", h),
            };
            let message = Message {
                origin: self.origin.clone(),
                kind: kind.into(),
                name: name.clone(),
            };
            // Logged first: a resync finds it even if the message below is lost.
            if let Err(e) = self.store.log_change(kind, name).await {
                tracing::warn!(error = %e, "could not log a change; the other instances get it by pub/sub only");
            }
            let text = serde_json::to_string(&message).unwrap_or_default();
            let sent = self.store.publish(&self.channel, text).await;
            if let Err(e) = sent {
                // The periodic resync delivers it to the others later.
                tracing::warn!(error = %e, "could not publish a change event");
            }
        })
    }
}

/// Subscribes to the channel and applies the other instances' changes; after every reconnect
/// (messages may have been lost meanwhile) the tables are reloaded in full. Should the
/// subscriber's channels close, a new subscriber is made (and the tables reloaded).
pub async fn follow(
    settings: RedisSettings,
    store: Store,
    origin: InstanceId,
    guard: Arc<super::guard::Guard>,
    tables: Arc<EdgeTables>,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    loop {
        let subscriber: SubscriberClient = settings.builder()?.build_subscriber_client()?;
        let ended = follow_with(&subscriber, &store, &origin, &guard, &tables, &shutdown).await;
        let _ = subscriber.quit().await;
        if !ended {
            return Ok(());
        }
        tracing::warn!("change events: the subscriber's channel closed; subscribing anew");
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            _ = shutdown.wait() => return Ok(()),
        }
    }
}

/// Follows the channel with one subscriber until `shutdown` (`false`) or until its channels
/// close (`true`).
async fn follow_with(
    subscriber: &SubscriberClient,
    store: &Store,
    origin: &InstanceId,
    guard: &super::guard::Guard,
    tables: &EdgeTables,
    shutdown: &Shutdown,
) -> bool {
    subscriber.connect();
    let _resubscribe = subscriber.manage_subscriptions();
    let mut messages = subscriber.message_rx();
    let mut reconnects = subscriber.reconnect_rx();
    let name = channel(store);
    let subscribed = {
        let subscriber = subscriber.clone();
        let name = name.clone();
        tokio::spawn(async move {
            // Retries until Redis answers; afterwards `manage_subscriptions` re-subscribes.
            loop {
                if subscriber.subscribe(name.as_str()).await.is_ok() {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
        })
    };
    let ended = loop {
        tokio::select! {
            message = messages.recv() => match received(message) {
                Received::Item(message) => {
                    if let Some(change) = change_from(&message, origin) {
                        tables.apply(&change).await;
                    }
                }
                // Some were dropped locally.
                Received::Missed => reload(guard).await,
                Received::Ended => break true,
            },
            // This fires on the first connection too. That reload is deliberate: changes
            // published between the start-up load and the subscription would be missed.
            reconnected = reconnects.recv() => match received(reconnected) {
                Received::Item(_) | Received::Missed => {
                    tracing::info!("change events (re)subscribed: reloading routes and certificates");
                    reload(guard).await;
                }
                Received::Ended => break true,
            },
            _ = shutdown.wait() => break false,
        }
    };
    subscribed.abort();
    ended
}

/// What one receive from a subscriber's channel brings.
#[derive(Debug, PartialEq, Eq)]
enum Received<T> {
    Item(T),
    /// The receiver fell behind and some items were dropped: reload to catch up.
    Missed,
    /// The channel closed: nothing more will come on it.
    Ended,
}

fn received<T>(result: Result<T, tokio::sync::broadcast::error::RecvError>) -> Received<T> {
    use tokio::sync::broadcast::error::RecvError;
    match result {
        Ok(item) => Received::Item(item),
        Err(RecvError::Lagged(_)) => Received::Missed,
        Err(RecvError::Closed) => Received::Ended,
    }
}

/// The change a message announces, unless this instance sent it (it applied it already).
fn change_from(message: &fred::types::Message, origin: &InstanceId) -> Option<Change> {
    let text = message.value.as_str()?;
    let message = serde_json::from_str::<Message>(&text).ok()?;
    if message.origin == origin.as_str() {
        return None;
    }
    match message.kind.as_str() {
        "certificate" => Some(Change::Certificate(message.name)),
        "route" => Some(Change::Route(message.name)),
        _ => None,
    }
}

async fn reload(guard: &super::guard::Guard) {
    if let Err(e) = guard.resync().await {
        tracing::warn!(error = %e, "reload after missed events failed; the periodic resync will retry");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::broadcast;

    #[tokio::test]
    async fn a_closed_channel_ends_the_follow_and_a_lag_reloads() {
        let (tx, mut rx) = broadcast::channel::<u32>(1);
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        assert_eq!(
            received(rx.recv().await),
            Received::Missed,
            "one was dropped"
        );
        assert_eq!(received(rx.recv().await), Received::Item(2));
        drop(tx);
        assert_eq!(
            received(rx.recv().await),
            Received::Ended,
            "a closed channel is no lag: reloading on it would loop"
        );
    }
}
