//! ACME account credentials, one per (directory URL, e-mail), and the lock taken while one is
//! registered so that simultaneous orders register a single account.

use std::time::Duration;

use fred::prelude::{Expiration, KeysInterface, SetOptions};

use super::{Store, StoreResult};
use crate::secret::Secret;

impl Store {
    /// The stored credentials (JSON, secret: it holds the account key).
    pub async fn get_acme_account(&self, id: &str) -> StoreResult<Option<Secret>> {
        let value: Option<String> = self.client.get(self.keys.acme_account(id)).await?;
        Ok(value.map(Secret::new))
    }

    pub async fn put_acme_account(&self, id: &str, credentials: &Secret) -> StoreResult<()> {
        let _: () = self
            .client
            .set(
                self.keys.acme_account(id),
                credentials.expose(),
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
                credentials.expose(),
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

    pub async fn unlock_acme_account(&self, id: &str) -> StoreResult<()> {
        let _: i64 = self.client.del(self.keys.acme_account_lock(id)).await?;
        Ok(())
    }
}
