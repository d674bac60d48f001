//! API tokens: how one is made and the hash that is stored in its place (`docs/api.md`,
//! "Authentication"). Tokens themselves are never stored or logged; only these hashes are.

/// `sha256:<hex>` of a token.
pub fn token_hash(token: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    format!("sha256:{}", hex::encode(digest.as_ref()))
}

/// A new random token: `cg_` and 48 hex digits (192 bits).
pub fn generate_token() -> String {
    let mut bytes = [0u8; 24];
    aws_lc_rs::rand::fill(&mut bytes).expect("system RNG available");
    format!("cg_{}", hex::encode(bytes))
}

/// The admin's owner identity (its token's hash), known from `ADMIN_TOKEN` at start or, when the
/// token was generated, once it has been read from Redis. Objects the admin created carry it;
/// the edge reads it to let the admin's certificates serve any host.
#[derive(Debug, Default)]
pub struct AdminOwner(std::sync::OnceLock<String>);

impl AdminOwner {
    /// Known at once from a configured token, else learnt later by [`AdminOwner::learn`].
    pub fn new(configured_token: Option<&str>) -> AdminOwner {
        let owner = AdminOwner::default();
        if let Some(token) = configured_token {
            owner.learn(token_hash(token));
        }
        owner
    }

    /// Records the admin's hash (the first one learnt stays).
    pub fn learn(&self, hash: String) {
        let _ = self.0.set(hash);
    }

    /// The admin token's hash, once known.
    pub fn get(&self) -> Option<&str> {
        self.0.get().map(String::as_str)
    }

    /// Whether `owner_hash` is the admin's; `false` while it is not known yet.
    pub fn is(&self, owner_hash: &str) -> bool {
        self.get().is_some_and(|admin| admin == owner_hash)
    }
}
