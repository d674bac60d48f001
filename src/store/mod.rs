//! Redis storage (fred): every piece of certgate's state, under `REDIS_KEY_PREFIX`.
//!
//! [`Store`] is a cheap `Clone` handle for reads, grouped by concept behind its read handles
//! (`store.certs()`, `store.routes()`, `store.tokens()`, `store.acme()`, `store.cluster()`,
//! `store.on_demand()`; [`reads`]). Every method that changes something is on
//! [`StoreWriter`], the write handle `Store::writer` gives: the lifecycle (the one writer of
//! certificates, routes and tokens) holds one, and so do the named exceptions — the cluster's
//! data-loss guard, change log and heartbeat, the ACME issuer's working state (accounts,
//! challenge answers, DNS records) and on-demand issuance's coordination (rate, order locks,
//! back-off). The layering test (`src/layering.rs`) fails when any other module takes one. No
//! raw Redis client leaves this module.
//!
//! Each concept has its own file with its reads (`impl CertReads`, …) and its writes
//! (`impl StoreWriter`): certificates and their keys, generation status and pending jobs, leases, tokens,
//! hostname claims, routes. The key schema is in [`keys`] and `docs/storage.md`; everything one atomic
//! write touches shares a hash tag, so the schema works on Redis Cluster unchanged.

/// Lua functions shared by the scripts that start a generation: `reset_pending` writes a fresh
/// `pending` status; `start_pending` does so unless a generation is waiting or running
/// (returns 0 then, so the caller joins it). A macro, so each script is one literal.
macro_rules! pending_status_lua {
    () => {
        r#"
local function reset_pending(key, message, now)
  redis.call('DEL', key)
  redis.call('HSET', key, 'status', 'pending', 'message', message, 'created_at', now, 'updated_at', now)
end
local function start_pending(key, message, now)
  local s = redis.call('HGET', key, 'status')
  if s == 'pending' or s == 'generating' then return 0 end
  reset_pending(key, message, now)
  return 1
end
"#
    };
}

pub mod acme_accounts;
pub mod certs;
pub mod challenges;
pub mod change_log;
pub mod claims;
pub mod crls;
pub mod dns_records;
pub mod epoch;
pub mod instances;
pub mod jobs;
pub mod keys;
pub mod leases;
pub mod name_pages;
pub mod on_demand;
pub mod quic;
pub mod rate_limits;
pub mod reads;
pub mod recent_events;
pub mod record_patch;
pub mod renewal_index;
pub mod replication;
pub mod routes;
pub mod sealed;
pub mod settings;
pub mod status;
pub mod status_counts;
pub mod tls_alpn;
pub mod tokens;

use std::time::Duration;

use fred::prelude::{ClientLike, EventInterface};

pub use crate::store_error::{StoreError, StoreResult};
pub use keys::Keys;
pub use settings::RedisSettings;

impl From<fred::error::Error> for StoreError {
    fn from(e: fred::error::Error) -> Self {
        use fred::error::ErrorKind;
        match e.kind() {
            ErrorKind::IO
            | ErrorKind::Timeout
            | ErrorKind::Canceled
            | ErrorKind::Routing
            | ErrorKind::Cluster
            | ErrorKind::Backpressure => StoreError::Unavailable(e.to_string()),
            _ if e.details().starts_with("LOADING") || e.details().contains("CLUSTERDOWN") => {
                StoreError::Unavailable(e.to_string())
            }
            _ => StoreError::Redis(e.to_string()),
        }
    }
}

/// Handle on the shared Redis state.
#[derive(Clone)]
pub struct Store {
    client: fred::clients::Client,
    keys: Keys,
    /// Seals private keys before they are written (`KEY_ENCRYPTION_KEYS`; `None`: plain).
    sealer: Option<std::sync::Arc<crate::sealing::Sealer>>,
    /// The newest change-log entry this process wrote or saw (shared by every clone).
    newest_change: std::sync::Arc<std::sync::Mutex<Option<(u64, u64)>>>,
}

/// The write half of the store: every method that changes a record, an index, a claim, a lease
/// or a coordination key. It reads too ([`Store`]'s methods, through `Deref`).
#[derive(Clone)]
pub struct StoreWriter(Store);

impl std::ops::Deref for StoreWriter {
    type Target = Store;

    fn deref(&self) -> &Store {
        &self.0
    }
}

/// How long one command may take before the caller is told storage is unavailable.
pub(crate) const COMMAND_TIMEOUT: Duration = Duration::from_secs(3);

impl Store {
    /// Builds a client for `url` with a reconnect policy and command timeouts, and starts
    /// connecting in the background. The store is usable at once: commands issued while Redis is
    /// unreachable fail with [`StoreError::Unavailable`] after [`COMMAND_TIMEOUT`].
    pub fn connect(url: &str, prefix: &str) -> StoreResult<Store> {
        Store::connect_with(&RedisSettings::plain(url), prefix)
    }

    /// [`Store::connect`] with TLS settings.
    pub fn connect_with(settings: &RedisSettings, prefix: &str) -> StoreResult<Store> {
        let client = settings
            .builder()?
            .build()
            .map_err(|e| StoreError::Redis(e.to_string()))?;
        client.on_error(|_| async {
            crate::metrics::METRICS.redis_errors.inc(&[]);
            Ok(())
        });
        client.on_reconnect(|_| async {
            crate::metrics::METRICS.redis_reconnects.inc(&[]);
            Ok(())
        });
        client.connect();
        Ok(Store {
            client,
            keys: Keys::new(prefix),
            sealer: None,
            newest_change: Default::default(),
        })
    }

    /// Waits until the first connection is up, at most `limit`.
    pub async fn wait_connected(&self, limit: Duration) -> bool {
        tokio::time::timeout(limit, self.client.wait_for_connect())
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// The key schema under this store's prefix.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The underlying client, for modules that need commands not wrapped here.
    /// The write handle (see the module's doc for who may take one).
    pub fn writer(&self) -> StoreWriter {
        StoreWriter(self.clone())
    }

    /// Whether the connection is known to be down: the circuit state, fed by the client's own
    /// connection events (a closed socket, a failed reconnect). While it is open, callers that
    /// must not wait answer at once — the API `503`, an on-demand certificate load "unknown" —
    /// instead of spending the command timeout; a reconnect closes it.
    pub fn is_down(&self) -> bool {
        !self.client.is_connected()
    }

    /// Whether Redis answers a `PING` now.
    pub async fn ping(&self) -> bool {
        let ping = self.client.ping::<String>(None);
        matches!(
            tokio::time::timeout(Duration::from_secs(1), ping).await,
            Ok(Ok(_))
        )
    }

    /// Closes the connection.
    pub async fn quit(&self) {
        let _ = self.client.quit().await;
    }
}

/// A client for `url` (no TLS roots beyond the system's), for tools and tests.
pub fn build_client(url: &str) -> StoreResult<fred::clients::Client> {
    RedisSettings::plain(url)
        .builder()?
        .build()
        .map_err(|e| StoreError::Redis(e.to_string()))
}

/// Parses a JSON value read from `key`, reporting corruption with the key's name.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(key: &str, json: &str) -> StoreResult<T> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
        key: key.to_owned(),
        detail: e.to_string(),
    })
}

/// Encodes a value certgate itself defines; these types always serialise.
pub(crate) fn encode<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("certgate's records serialise to JSON")
}
