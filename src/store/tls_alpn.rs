//! TLS-ALPN-01 challenge certificates (RFC 8737), under the identifier they prove, with a TTL:
//! whichever instance the CA's validation connection reaches answers it.

use std::time::Duration;

use fred::prelude::KeysInterface;

use super::reads::AcmeReads;
use super::{StoreResult, StoreWriter};
use crate::secret::Secret;

impl AcmeReads<'_> {
    /// The tls-alpn-01 challenge certificate and key for `identifier`, if one is stored.
    pub async fn tls_alpn_challenge(self, identifier: &str) -> StoreResult<Option<Secret>> {
        let value: Option<String> = self
            .client
            .get(self.keys.tls_alpn_challenge(identifier))
            .await?;
        Ok(value.map(Secret::new))
    }
}

impl StoreWriter {
    /// Stores the challenge certificate and key (one PEM text, key included: a secret) for
    /// `identifier` (a DNS name or an IP address).
    pub async fn put_tls_alpn_challenge(
        &self,
        identifier: &str,
        cert_and_key_pem: &Secret,
        ttl: Duration,
    ) -> StoreResult<()> {
        self.set_expiring(
            self.keys.tls_alpn_challenge(identifier),
            cert_and_key_pem.expose(),
            ttl,
        )
        .await
    }

    /// Removes the challenge certificate of `identifier`.
    pub async fn delete_tls_alpn_challenge(&self, identifier: &str) -> StoreResult<()> {
        let _: i64 = self
            .client
            .del(self.keys.tls_alpn_challenge(identifier))
            .await?;
        Ok(())
    }
}
