//! Certificate records written straight to the store, for tests that need many of them or a
//! state the API does not make on demand (a failed generation).

#![allow(dead_code)]

use certgate::certs::model::{CertificateRecord, GenerationState, GenerationStatus};
use certgate::store::StoreWriter;

/// A failed self-signed record named `name` for `domain` (nothing left to generate).
pub fn failed(name: &str, domain: &str) -> CertificateRecord {
    serde_json::from_value(serde_json::json!({
        "cert_name": name,
        "domains": [domain],
        "issuer": "self-signed",
        "key_type": "ecdsa-p256",
        "status": "failed",
        "owner_token_hash": "sha256:00",
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
    }))
    .unwrap()
}

/// Creates `record` through the store as a failed generation with `message` would leave it.
pub async fn create_failed(store: &StoreWriter, record: &CertificateRecord, message: &str) {
    let status = GenerationStatus {
        status: GenerationState::Failed,
        message: message.into(),
        created_at: "2026-01-01T00:00:00Z".into(),
        updated_at: "2026-01-01T00:00:00Z".into(),
        started_at: None,
        finished_at: None,
    };
    assert!(store.create_certificate(record, &status).await.unwrap());
}
