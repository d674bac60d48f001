//! Private keys as Redis holds them: sealed under `KEY_ENCRYPTION_KEYS` when it is set
//! (`crate::sealing`), bound to the key and field they are stored under; and the re-wrap that
//! `certgate keys rotate` runs in batches.

use std::sync::Arc;

use fred::prelude::{HashesInterface, KeysInterface, LuaInterface, SetsInterface};

use super::{Store, StoreError, StoreResult, StoreWriter};
use crate::sealing::{self, Sealer};
use crate::secret::Secret;

/// Replaces a hash field only if it still holds what was read (a write meanwhile wins).
const SWAP_FIELD: &str = r#"
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"#;

/// Replaces a string only if it still holds what was read.
const SWAP_STRING: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
"#;

/// What one batch of the re-wrap did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rewrapped {
    /// Values sealed under the current key by this batch (plain ones included).
    pub rewrapped: u64,
    /// Values already under the current key.
    pub current: u64,
    /// Records whose value no configured key opens (left as they are).
    pub unreadable: Vec<String>,
    /// Values changed by a write while this batch ran (that write sealed them).
    pub raced: u64,
}

impl Store {
    /// This store with `sealer` sealing the private keys it writes (`None`: stored plain).
    pub fn with_sealer(mut self, sealer: Option<Arc<Sealer>>) -> Store {
        self.sealer = sealer;
        self
    }

    fn cert_key_aad(&self, name: &str) -> String {
        format!("{}#private_key", self.keys.cert(name))
    }

    /// A certificate's key as stored (sealed when configured).
    pub(super) fn seal_cert_key(&self, name: &str, key: &Secret) -> String {
        sealing::seal_if(
            self.sealer.as_deref(),
            &self.cert_key_aad(name),
            key.expose(),
        )
    }

    /// A stored certificate key opened; `None` when no configured key opens it (reported by
    /// `crate::sealing`, never served garbled).
    pub(super) fn open_cert_key(&self, name: &str, stored: String) -> Option<Secret> {
        let aad = self.cert_key_aad(name);
        sealing::open(
            self.sealer.as_deref(),
            &format!("certificate {name}"),
            &aad,
            stored,
        )
        .ok()
    }

    /// ACME account credentials as stored.
    pub(super) fn seal_account(&self, id: &str, credentials: &Secret) -> String {
        let aad = self.keys.acme_account(id);
        sealing::seal_if(self.sealer.as_deref(), &aad, credentials.expose())
    }

    /// Stored ACME account credentials opened. Unreadable ones are an error, not an absence:
    /// an issuer finding none would register a new account in place of the sealed one.
    pub(super) fn open_account(&self, id: &str, stored: String) -> StoreResult<Secret> {
        let key = self.keys.acme_account(id);
        sealing::open(
            self.sealer.as_deref(),
            &format!("ACME account {id}"),
            &key,
            stored,
        )
        .map_err(|why| StoreError::Corrupt {
            key,
            detail: why.to_string(),
        })
    }
}

impl StoreWriter {
    /// Re-wraps up to `batch` certificate keys and every ACME account key (on the first batch)
    /// under the current key (each value is opened, so what no longer opens is reported too),
    /// from the certificate named after `after` in name order (`None`: the first). Returns what
    /// it did and the name the next batch starts after (`None`: done). Idempotent, so an
    /// interrupted rotation is resumed by running it again.
    pub async fn rewrap_keys(
        &self,
        after: Option<&str>,
        batch: usize,
    ) -> StoreResult<(Rewrapped, Option<String>)> {
        let Some(sealer) = self.sealer.clone() else {
            return Ok((Rewrapped::default(), None));
        };
        let mut done = Rewrapped::default();
        // One page of the name index per batch, not the whole set each time.
        let (names, next) = self
            .page_names(super::name_pages::Listed::Certificates, after, batch)
            .await?;
        for name in &names {
            let key = self.keys.cert(name);
            let stored: Option<String> = self.client.hget(&key, "private_key").await?;
            let Some(stored) = stored else { continue };
            // Opened even when current: the rotation also reports what no longer opens.
            let Some(opened) = self.open_cert_key(name, stored.clone()) else {
                done.unreadable.push(format!("certificate {name}"));
                continue;
            };
            if sealer.is_current(&stored) {
                done.current += 1;
                continue;
            }
            let sealed = self.seal_cert_key(name, &opened);
            let swapped: i64 = self
                .client
                .eval(
                    SWAP_FIELD,
                    vec![key],
                    vec!["private_key".to_owned(), stored, sealed],
                )
                .await?;
            count_swap(swapped, &mut done);
        }
        if after.is_none() {
            self.rewrap_accounts(&sealer, &mut done).await?;
        }
        Ok((done, next))
    }

    async fn rewrap_accounts(&self, sealer: &Sealer, done: &mut Rewrapped) -> StoreResult<()> {
        let ids: Vec<String> = self.client.smembers(self.keys.acme_accounts()).await?;
        for id in ids {
            let key = self.keys.acme_account(&id);
            let stored: Option<String> = self.client.get(&key).await?;
            let Some(stored) = stored else { continue };
            let Ok(opened) = self.open_account(&id, stored.clone()) else {
                done.unreadable.push(format!("ACME account {id}"));
                continue;
            };
            if sealer.is_current(&stored) {
                done.current += 1;
                continue;
            }
            let sealed = self.seal_account(&id, &opened);
            let swapped: i64 = self
                .client
                .eval(SWAP_STRING, vec![key], vec![stored, sealed])
                .await?;
            count_swap(swapped, done);
        }
        Ok(())
    }
}

fn count_swap(swapped: i64, done: &mut Rewrapped) {
    if swapped == 1 {
        done.rewrapped += 1;
    } else {
        done.raced += 1;
    }
}
