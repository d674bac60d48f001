//! `KEY_ENCRYPTION_KEYS`: private keys sealed before they reach Redis (AES-256-GCM, bound to
//! their record), plain ones from before sealed by `certgate keys rotate`, rotation to a new
//! key without a failed handshake, a value moved to another record reported and never served,
//! a malformed key file refused at start naming its line.

use super::*;
use common::client::{connect, leaf_der, served_leaf};
use common::TempDir;

const K1: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const K2: &str = "k2:Hx4dHBsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA=";

/// The stored `private_key` field of certificate `name`.
async fn stored_key(redis: &Redis, name: &str) -> Option<String> {
    use fred::prelude::HashesInterface;
    redis
        .client()
        .await
        .hget(format!("k:cert:{{{name}}}"), "private_key")
        .await
        .unwrap()
}

/// Whether an HTTPS handshake for `host` is served certificate `name`'s leaf.
async fn serves(cg: &Certgate, host: &str, name: &str) -> bool {
    let chain = with_pem(&cg.admin(), name).await["fullchain_pem"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let tls = connect(cg.https_port, host, &[b"http/1.1"]).await;
    !chain.is_empty() && served_leaf(&tls) == leaf_der(&chain)
}

/// `certgate keys rotate --batch 1` against `cg`: its JSON answer.
fn rotate(cg: &Certgate) -> Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_certgate"))
        .args(["keys", "rotate", "--batch", "1"])
        .env_clear()
        .env("CERTGATE_ADMIN_URL", cg.admin_url())
        .env("CERTGATE_TOKEN", ADMIN_TOKEN)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn sealed_instance(redis: &Redis, keys: &std::path::Path) -> Certgate {
    Certgate::start(
        &redis.url(),
        "k:",
        &[("KEY_ENCRYPTION_KEYS", keys.to_str().unwrap())],
    )
    .await
}

#[tokio::test]
async fn keys_are_sealed_rotated_and_never_served_garbled() {
    let dir = TempDir::new("keys-at-rest");
    let key_file = dir.0.join("keys");
    let redis = Redis::start().await;
    // Written before encryption was configured: plain.
    let mut plain = Certgate::start(&redis.url(), "k:", &[]).await;
    create_self_signed(&plain.admin(), "before", &["before.test"]).await;
    assert!(stored_key(&redis, "before")
        .await
        .unwrap()
        .starts_with("-----BEGIN"));
    let r = plain
        .admin()
        .post("/keys/rotate", &json!({}))
        .await
        .unwrap();
    assert_eq!(r.status, 409, "rotation without a key file: {}", r.json());
    plain.kill();

    std::fs::write(&key_file, format!("{K1}\n")).unwrap();
    let mut cg = sealed_instance(&redis, &key_file).await;
    create_self_signed(&cg.admin(), "after", &["after.test"]).await;
    let sealed = stored_key(&redis, "after").await.unwrap();
    assert!(
        sealed.starts_with("sealed:v1:k1:") && !sealed.contains("BEGIN"),
        "{sealed}"
    );
    assert!(
        serves(&cg, "before.test", "before").await,
        "a plain key from before still serves"
    );
    assert!(serves(&cg, "after.test", "after").await);
    let shown = cg
        .admin()
        .get("/certificates/after?pem=true")
        .await
        .unwrap()
        .json();
    assert!(shown["private_key_pem"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN"));

    // Rotation seals the plain one; a second run finds nothing to do.
    let first = rotate(&cg);
    assert_eq!(
        (first["rewrapped"].as_u64(), first["current"].as_u64()),
        (Some(1), Some(1)),
        "{first}"
    );
    assert!(stored_key(&redis, "before")
        .await
        .unwrap()
        .starts_with("sealed:v1:k1:"));
    assert_eq!(rotate(&cg)["rewrapped"], 0);

    // A new current key, the old one kept to read: served on restart, then everything moves.
    std::fs::write(&key_file, format!("{K2}\n{K1}\n")).unwrap();
    cg.restart().await;
    assert!(serves(&cg, "before.test", "before").await);
    let moved = rotate(&cg);
    assert_eq!(
        (moved["rewrapped"].as_u64(), moved["current_key"].as_str()),
        (Some(2), Some("k2")),
        "{moved}"
    );
    std::fs::write(&key_file, format!("{K2}\n")).unwrap();
    cg.restart().await;
    assert!(
        serves(&cg, "before.test", "before").await,
        "served with the old key gone"
    );
    assert!(serves(&cg, "after.test", "after").await);

    // A sealed value copied into another record does not open there: reported, not served,
    // and left in place.
    use fred::prelude::HashesInterface;
    let after_value = stored_key(&redis, "after").await.unwrap();
    let _: i64 = redis
        .client()
        .await
        .hset("k:cert:{before}", ("private_key", after_value.as_str()))
        .await
        .unwrap();
    cg.restart().await;
    let health = cg.admin().get("/health").await.unwrap().json();
    assert_eq!(health["status"], "degraded", "{health}");
    assert!(
        health["reasons"]
            .to_string()
            .contains("key_unreadable:certificate before"),
        "{health}"
    );
    let metrics =
        String::from_utf8_lossy(&cg.admin().get("/metrics").await.unwrap().body).into_owned();
    assert!(metrics.contains("certgate_keys_unreadable 1"), "{metrics}");
    assert!(
        !serves(&cg, "before.test", "before").await,
        "served a key that does not open"
    );
    assert_eq!(
        stored_key(&redis, "before").await.as_deref(),
        Some(after_value.as_str())
    );
    assert!(serves(&cg, "after.test", "after").await);
    let rotated = rotate(&cg);
    assert_eq!(
        rotated["unreadable"],
        json!(["certificate before"]),
        "{rotated}"
    );

    // The key material never reaches the log.
    let log = cg.log_text();
    for key in [K1, K2] {
        assert!(
            !log.contains(key.split_once(':').unwrap().1),
            "key material in the log"
        );
    }
}

#[test]
fn a_malformed_key_file_stops_start_up_naming_its_line() {
    let dir = TempDir::new("keys-malformed");
    let key_file = dir.0.join("keys");
    std::fs::write(&key_file, format!("{K1}\nk2:c2hvcnQ=\n")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_certgate"))
        .arg("serve")
        .env_clear()
        .env("REDIS_URL", "redis://127.0.0.1:9")
        .env("KEY_ENCRYPTION_KEYS", &key_file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("KEY_ENCRYPTION_KEYS") && stderr.contains("line 2"),
        "{stderr}"
    );
    assert!(!stderr.contains("c2hvcnQ"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
