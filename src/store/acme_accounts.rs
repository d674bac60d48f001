//! ACME account credentials, one per (directory URL, e-mail), and the lock taken while one is
//! registered so that simultaneous orders register a single account.

use std::time::Duration;

use fred::prelude::{Expiration, KeysInterface, SetOptions, SetsInterface};

use serde::{Deserialize, Serialize};

use super::reads::AcmeReads;
use super::{decode, encode, StoreResult, StoreWriter};
use crate::secret::Secret;

/// What an operator may see of an ACME account (`GET /acme/accounts`): enough to pin RFC 8657
/// CAA `accounturi`, never the key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcmeAccountInfo {
    /// The directory it is registered with.
    pub directory: String,
    /// Its contact e-mail.
    pub email: Option<String>,
    /// Its account URL at the CA.
    pub account_url: String,
    /// When this account was registered (or first used by a certgate that recorded it).
    pub created_at: String,
}

impl AcmeReads<'_> {
    /// Every recorded account, by directory then e-mail.
    pub async fn accounts(self) -> StoreResult<Vec<AcmeAccountInfo>> {
        let ids: Vec<String> = self.client.smembers(self.keys.acme_accounts()).await?;
        let mut accounts = Vec::new();
        for id in ids {
            let key = self.keys.acme_account_info(&id);
            let json: Option<String> = self.client.get(&key).await?;
            if let Some(json) = json {
                accounts.push(decode::<AcmeAccountInfo>(&key, &json)?);
            }
        }
        accounts.sort_by(|a, b| (&a.directory, &a.email).cmp(&(&b.directory, &b.email)));
        Ok(accounts)
    }

    /// What an operator may see of account `id`, when it is registered.
    pub async fn account_info(self, id: &str) -> StoreResult<Option<AcmeAccountInfo>> {
        let key = self.keys.acme_account_info(id);
        let json: Option<String> = self.client.get(&key).await?;
        json.map(|json| decode::<AcmeAccountInfo>(&key, &json))
            .transpose()
    }

    /// The stored credentials (JSON, secret: it holds the account key).
    pub async fn account(self, id: &str) -> StoreResult<Option<Secret>> {
        let value: Option<String> = self.client.get(self.keys.acme_account(id)).await?;
        value.map(|v| self.open_account(id, v)).transpose()
    }
}

impl StoreWriter {
    /// Records an account's info unless it is recorded, and indexes it.
    pub async fn record_acme_account_info(
        &self,
        id: &str,
        info: &AcmeAccountInfo,
    ) -> StoreResult<()> {
        let _: Option<String> = self
            .client
            .set(
                self.keys.acme_account_info(id),
                encode(info),
                None,
                Some(SetOptions::NX),
                false,
            )
            .await?;
        let _: i64 = self.client.sadd(self.keys.acme_accounts(), id).await?;
        Ok(())
    }

    /// Stores an account's credentials (its key; sealed in Redis, never listed).
    pub async fn put_acme_account(&self, id: &str, credentials: &Secret) -> StoreResult<()> {
        let _: () = self
            .client
            .set(
                self.keys.acme_account(id),
                self.seal_account(id, credentials),
                None,
                None,
                false,
            )
            .await?;
        Ok(())
    }

    /// Writes the credentials back unless some are stored (after Redis lost its data, the first
    /// issuance that uses an account this instance holds restores it); whether it wrote.
    pub async fn restore_acme_account(&self, id: &str, credentials: &Secret) -> StoreResult<bool> {
        let written: Option<String> = self
            .client
            .set(
                self.keys.acme_account(id),
                self.seal_account(id, credentials),
                None,
                Some(SetOptions::NX),
                false,
            )
            .await?;
        Ok(written.is_some())
    }

    /// Takes the registration lock for `ttl`; `false` if another worker holds it.
    pub async fn lock_acme_account(
        &self,
        id: &str,
        value: &str,
        ttl: Duration,
    ) -> StoreResult<bool> {
        let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let set: Option<String> = self
            .client
            .set(
                self.keys.acme_account_lock(id),
                value,
                Some(Expiration::PX(ms)),
                Some(SetOptions::NX),
                false,
            )
            .await?;
        Ok(set.is_some())
    }

    /// Releases the registration lock of account `id`.
    pub async fn unlock_acme_account(&self, id: &str) -> StoreResult<()> {
        let _: i64 = self.client.del(self.keys.acme_account_lock(id)).await?;
        Ok(())
    }
}
