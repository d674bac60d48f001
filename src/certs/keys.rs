//! Private key generation. RSA takes 35–130 ms of CPU, so every caller on the async runtime goes
//! through [`generate_blocking`], which runs on tokio's blocking pool.

use rcgen::{KeyPair, RsaKeySize, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256};

use crate::certs::issuer::IssueError;
use crate::certs::model::KeyType;

/// A new key pair of the requested type (synchronous; call from a blocking thread).
pub fn generate(key_type: KeyType, rsa_bits: u32) -> Result<KeyPair, IssueError> {
    let result = match key_type {
        KeyType::EcdsaP256 => KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256),
        KeyType::Rsa => {
            let size = match rsa_bits {
                4096 => RsaKeySize::_4096,
                3072 => RsaKeySize::_3072,
                _ => RsaKeySize::_2048,
            };
            KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, size)
        }
    };
    result.map_err(|e| IssueError::Internal(format!("key generation failed: {e}")))
}

/// [`generate`] on the blocking pool, so handshakes on the async workers never wait for it.
pub async fn generate_blocking(key_type: KeyType, rsa_bits: u32) -> Result<KeyPair, IssueError> {
    tokio::task::spawn_blocking(move || generate(key_type, rsa_bits))
        .await
        .map_err(|e| IssueError::Internal(format!("key generation task failed: {e}")))?
}
