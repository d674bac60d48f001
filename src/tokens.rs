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
