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
use crate::store::{RedisSettings, Store};

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
    store: Store,
    channel: String,
    origin: String,
}

impl RedisPublisher {
    pub fn new(store: Store, origin: &InstanceId) -> RedisPublisher {
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
            let sent: Result<i64, _> = self.store.client().publish(&self.channel, text).await;
            if let Err(e) = sent {
                // The periodic resync delivers it to the others later.
                tracing::warn!(error = %e, "could not publish a change event");
            }
        })
    }
}

/// Subscribes to the channel and applies the other instances' changes; after every reconnect
/// (messages may have been lost meanwhile) the tables are reloaded in full.
pub async fn follow(
    settings: RedisSettings,
    store: Store,
    origin: InstanceId,
    guard: Arc<super::guard::Guard>,
    tables: Arc<EdgeTables>,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let subscriber: SubscriberClient = settings.builder()?.build_subscriber_client()?;
    subscriber.connect();
    let _resubscribe = subscriber.manage_subscriptions();
    let mut messages = subscriber.message_rx();
    let mut reconnects = subscriber.reconnect_rx();
    let name = channel(&store);
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
    loop {
        tokio::select! {
            message = messages.recv() => {
                let Ok(message) = message else {
                    // Lagged: some were dropped locally.
                    reload(&guard).await;
                    continue;
                };
                let Some(text) = message.value.as_str() else { continue };
                let Ok(message) = serde_json::from_str::<Message>(&text) else { continue };
                if message.origin == origin.as_str() {
                    continue;
                }
                let change = match message.kind.as_str() {
                    "certificate" => Change::Certificate(message.name),
                    "route" => Change::Route(message.name),
                    _ => continue,
                };
                tables.apply(&change).await;
            }
            // This fires on the first connection too. That reload is deliberate: changes
            // published between the start-up load and the subscription would be missed.
            reconnected = reconnects.recv() => {
                if reconnected.is_ok() {
                    tracing::info!("change events (re)subscribed: reloading routes and certificates");
                    reload(&guard).await;
                }
            }
            _ = shutdown.wait() => break,
        }
    }
    subscribed.abort();
    let _ = subscriber.quit().await;
    Ok(())
}

async fn reload(guard: &super::guard::Guard) {
    if let Err(e) = guard.resync().await {
        tracing::warn!(error = %e, "reload after missed events failed; the periodic resync will retry");
    }
}
