//! TLS-ALPN-01 challenge certificates (RFC 8737), under the identifier they prove, with a TTL:
//! whichever instance the CA's validation connection reaches answers it.

use std::time::Duration;

use fred::prelude::{Expiration, KeysInterface};

use super::{Store, StoreResult};
use crate::secret::Secret;

impl Store {
    /// Stores the challenge certificate and key (one PEM text, key included: a secret) for
    /// `identifier` (a DNS name or an IP address).
    pub async fn put_tls_alpn_challenge(
        &self,
        identifier: &str,
        cert_and_key_pem: &Secret,
        ttl: Duration,
    ) -> StoreResult<()> {
        let seconds = i64::try_from(ttl.as_secs().max(1)).unwrap_or(i64::MAX);
        let _: () = self
            .client
            .set(
                self.keys.tls_alpn_challenge(identifier),
                cert_and_key_pem.expose(),
                Some(Expiration::EX(seconds)),
                None,
                false,
            )
            .await?;
        Ok(())
    }

    pub async fn get_tls_alpn_challenge(&self, identifier: &str) -> StoreResult<Option<Secret>> {
        let value: Option<String> = self
            .client
            .get(self.keys.tls_alpn_challenge(identifier))
            .await?;
        Ok(value.map(Secret::new))
    }

    pub async fn delete_tls_alpn_challenge(&self, identifier: &str) -> StoreResult<()> {
        let _: i64 = self
            .client
            .del(self.keys.tls_alpn_challenge(identifier))
            .await?;
        Ok(())
    }
}
