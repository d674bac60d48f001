//! Token writes: named tokens, and the generated admin token at first start. Tokens are not
//! served by the edge, so there is no change to announce; only hashes are written.

use std::sync::Arc;
use std::time::Duration;

use super::Lifecycle;
use crate::store::tokens::TokenInfo;
use crate::store::{StoreResult, StoreWriter};
use crate::tokens::{generate_token, token_hash, AdminOwner};

impl Lifecycle {
    /// Stores a named token's hash; `false` when the name is taken.
    pub async fn create_token(&self, info: &TokenInfo) -> StoreResult<bool> {
        let created = self.inner.store.create_token(info).await?;
        if created {
            tracing::info!(token_name = %info.name, "token created");
        }
        Ok(created)
    }

    /// Revokes a named token; `false` when there is none.
    pub async fn delete_token(&self, name: &str) -> StoreResult<bool> {
        let deleted = self.inner.store.delete_token(name).await?;
        if deleted {
            tracing::info!(token_name = %name, "token deleted");
        }
        Ok(deleted)
    }
}

/// With `ADMIN_TOKEN` unset: the first instance to reach Redis generates the admin token, stores
/// its hash, and prints the token once to stderr (not through the log). Retries every second
/// until Redis answers; returns once a hash is stored (by this instance or another), which
/// `owner` then knows.
pub async fn bootstrap_admin_token(store: StoreWriter, owner: Arc<AdminOwner>) {
    loop {
        match store.tokens().admin_hash().await {
            Ok(Some(hash)) => {
                owner.learn(hash);
                return;
            }
            Ok(None) => {
                let token = generate_token();
                match store.init_admin_token_hash(&token_hash(&token)).await {
                    Ok(true) => {
                        owner.learn(token_hash(&token));
                        eprintln!(
                            "certgate: generated admin token (shown once; store it now): {token}"
                        );
                        return;
                    }
                    // Another instance was first: read its hash on the next round.
                    Ok(false) => {}
                    Err(_) => {}
                }
            }
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
