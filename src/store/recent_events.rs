//! The cluster's recent lifecycle events (a generation finished, a route changed), kept in one
//! capped Redis list so any instance's dashboard shows what happened anywhere. Best effort: an
//! event that cannot be written is logged and dropped; the records stay the truth.

use fred::prelude::LuaInterface;
use serde::{Deserialize, Serialize};

use super::reads::ClusterReads;
use super::{StoreResult, StoreWriter};

/// Events kept.
pub const KEEP: i64 = 100;

/// One event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentEvent {
    /// RFC 3339.
    pub at: String,
    /// `certificate` or `route`.
    pub kind: String,
    /// The certificate's or route's name.
    pub name: String,
    /// `completed`, `failed`, `changed`.
    pub outcome: String,
    /// The generation's last message (never a secret: status messages are shown by the API too).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// Pushes ARGV[1] and keeps the newest ARGV[2] (one round trip, never an untrimmed list).
const PUSH: &str = r#"
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
return 1
"#;

const READ: &str = "return redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)";

impl ClusterReads<'_> {
    /// The newest events, newest first.
    pub async fn recent_events(self) -> StoreResult<Vec<RecentEvent>> {
        let keys = vec![self.keys.recent_events()];
        let texts: Vec<String> = self.client.eval(READ, keys, vec![KEEP.to_string()]).await?;
        Ok(texts
            .iter()
            .filter_map(|t| serde_json::from_str(t).ok())
            .collect())
    }
}

impl StoreWriter {
    /// Notes an event (best effort).
    pub async fn note_event(&self, event: &RecentEvent) {
        let keys = vec![self.keys.recent_events()];
        let args = vec![super::encode(event), KEEP.to_string()];
        let written: Result<i64, _> = self.client.eval(PUSH, keys, args).await;
        if let Err(e) = written {
            tracing::debug!(error = %e, "a recent event was not noted");
        }
    }
}
