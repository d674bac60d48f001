//! The QUIC stateless-reset key every instance shares, so that any instance can reset a
//! connection another one lost (after a restart or a failover the client hears at once that
//! the connection is gone, instead of waiting for its idle timeout).

use fred::prelude::{KeysInterface, SetOptions};

use super::{StoreResult, StoreWriter};

impl StoreWriter {
    /// The cluster's stateless-reset key (32 bytes): the one an instance stored first, made here
    /// when none is.
    pub async fn quic_reset_key(&self) -> StoreResult<Vec<u8>> {
        let key = self.keys.quic_reset_key();
        let candidate = crate::ids::random_hex(32);
        let _: Option<String> = self
            .client
            .set(&key, candidate.as_str(), None, Some(SetOptions::NX), false)
            .await?;
        let stored: Option<String> = self.client.get(&key).await?;
        let text = stored.unwrap_or(candidate);
        Ok(hex::decode(&text).unwrap_or_else(|_| text.into_bytes()))
    }
}
