//! API tokens: only SHA-256 hashes are stored (`docs/api.md`).
//!
//! `{tokens}:by_name` maps a token's name to its metadata, `{tokens}:by_hash` maps the hash back
//! to the name for authentication; both share the `{tokens}` hash tag and change together in
//! one script.

use fred::prelude::{Expiration, HashesInterface, KeysInterface, LuaInterface, SetOptions};
use serde::{Deserialize, Serialize};

use super::reads::TokenReads;
use super::{decode, encode, StoreResult, StoreWriter};

/// What is kept of a token: never the token itself.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenInfo {
    /// The token's name.
    pub name: String,
    /// `sha256:<hex>`, as certificates' `owner_token_hash` shows it.
    pub token_hash: String,
    /// When it was created (RFC 3339).
    pub created_at: String,
}

const CREATE: &str = r#"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[1])
return 1
"#;

const DELETE: &str = r#"
local meta = redis.call('HGET', KEYS[1], ARGV[1])
if not meta then return 0 end
local info = cjson.decode(meta)
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], info['token_hash'])
return 1
"#;

impl TokenReads<'_> {
    /// The name of the token with this hash, if it exists.
    pub async fn name_by_hash(self, token_hash: &str) -> StoreResult<Option<String>> {
        Ok(self
            .client
            .hget(self.keys.tokens_by_hash(), token_hash)
            .await?)
    }

    /// Every token's name and hash (never the token).
    pub async fn list(self) -> StoreResult<Vec<TokenInfo>> {
        let key = self.keys.tokens_by_name();
        let values: Vec<String> = self.client.hvals(&key).await?;
        let mut tokens = values
            .iter()
            .map(|v| decode::<TokenInfo>(&key, v))
            .collect::<StoreResult<Vec<_>>>()?;
        tokens.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(tokens)
    }

    /// The stored hash of the generated admin token, if one was generated.
    pub async fn admin_hash(self) -> StoreResult<Option<String>> {
        Ok(self.client.get(self.keys.admin_token_hash()).await?)
    }
}

impl StoreWriter {
    /// Stores a new token's hash under its name; `false` if the name is taken.
    pub async fn create_token(&self, info: &TokenInfo) -> StoreResult<bool> {
        let keys = vec![self.keys.tokens_by_name(), self.keys.tokens_by_hash()];
        let args = vec![info.name.clone(), encode(info), info.token_hash.clone()];
        let n: i64 = self.client.eval(CREATE, keys, args).await?;
        Ok(n == 1)
    }

    /// Deletes a token; `false` if there was none by that name.
    pub async fn delete_token(&self, name: &str) -> StoreResult<bool> {
        let keys = vec![self.keys.tokens_by_name(), self.keys.tokens_by_hash()];
        let n: i64 = self.client.eval(DELETE, keys, vec![name]).await?;
        Ok(n == 1)
    }

    /// Stores the generated admin token's hash unless one exists; `true` if this call stored it
    /// (this instance then prints the token).
    pub async fn init_admin_token_hash(&self, token_hash: &str) -> StoreResult<bool> {
        let set: Option<String> = self
            .client
            .set(
                self.keys.admin_token_hash(),
                token_hash,
                None::<Expiration>,
                Some(SetOptions::NX),
                false,
            )
            .await?;
        Ok(set.is_some())
    }
}
