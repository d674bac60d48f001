//! HTTP-01 key authorizations, under their token, with a TTL: any instance answers the CA.

use std::time::Duration;

use fred::prelude::{Expiration, KeysInterface};

use super::reads::AcmeReads;
use super::{Store, StoreResult, StoreWriter};
use crate::secret::Secret;

impl Store {
    /// `SET key value EX ttl` (at least a second): the short-lived entries challenges and
    /// on-demand answers are.
    pub(super) async fn set_expiring(
        &self,
        key: String,
        value: &str,
        ttl: Duration,
    ) -> StoreResult<()> {
        let seconds = i64::try_from(ttl.as_secs().max(1)).unwrap_or(i64::MAX);
        let _: () = self
            .client
            .set(key, value, Some(Expiration::EX(seconds)), None, false)
            .await?;
        Ok(())
    }
}

impl AcmeReads<'_> {
    /// The key authorization for http-01 `token`, if one is stored.
    pub async fn http_challenge(self, token: &str) -> StoreResult<Option<Secret>> {
        let value: Option<String> = self.client.get(self.keys.challenge(token)).await?;
        Ok(value.map(Secret::new))
    }
}

impl StoreWriter {
    /// Stores the key authorization for http-01 `token` (expiring after `ttl`).
    pub async fn put_challenge(
        &self,
        token: &str,
        key_authorization: &Secret,
        ttl: Duration,
    ) -> StoreResult<()> {
        self.set_expiring(self.keys.challenge(token), key_authorization.expose(), ttl)
            .await
    }

    /// Removes the answer for `token`.
    pub async fn delete_challenge(&self, token: &str) -> StoreResult<()> {
        let _: i64 = self.client.del(self.keys.challenge(token)).await?;
        Ok(())
    }
}
