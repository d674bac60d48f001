//! Revocation: `POST /certificates/{name}/revoke` revokes at the CA with the reason given and
//! replaces the certificate at once; nothing to revoke is a `409`, a bad reason a `400`.

use std::time::Duration;

use serde_json::json;

use super::env_with_profiles;
use certgate::certs::pem::leaf_info;
use common::{create_self_signed, wait_until, with_pem};

use crate::common;

#[tokio::test]
async fn revoking_marks_it_at_the_ca_and_a_new_certificate_follows() {
    let env = env_with_profiles(&[], &[], &[], &[]).await;
    let admin = env.certgate.admin();
    let (status, _) = super::issue(
        &env,
        "doomed",
        &["doomed.example.com".to_owned()],
        "revoke@example.com",
    )
    .await;
    assert_eq!(status["status"], "completed", "{status}");
    let before = with_pem(&admin, "doomed").await;
    let old_serial = leaf_info(before["fullchain_pem"].as_str().unwrap())
        .unwrap()
        .serial;

    let bad = admin
        .post(
            "/certificates/doomed/revoke",
            &json!({ "reason": "boredom" }),
        )
        .await
        .unwrap();
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["field"], "reason", "{}", bad.json());

    // As an operator does it: the recipe, with a reason.
    let just = common::require_binary("just", "pip install rust-just (or cargo install just)");
    let out = std::process::Command::new(&just)
        .args([
            "cert",
            "revoke",
            "doomed",
            "keyCompromise",
            common::ADMIN_TOKEN,
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CERTGATE_ADMIN_URL", env.certgate.admin_url())
        .env("CERTGATE_BIN", env!("CARGO_BIN_EXE_certgate"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let at_ca = env.pebble.cert_status(&old_serial).await;
    assert_eq!(at_ca["Status"], "Revoked", "{at_ca}");
    assert_eq!(at_ca["Reason"], 1, "keyCompromise is reason 1: {at_ca}");

    wait_until("the replacement", Duration::from_secs(60), || {
        let admin = admin.clone();
        let old = old_serial.clone();
        async move {
            let now = with_pem(&admin, "doomed").await;
            now["status"] == "active"
                && now["fullchain_pem"]
                    .as_str()
                    .is_some_and(|pem| leaf_info(pem).unwrap().serial != old)
        }
    })
    .await;
    let after = with_pem(&admin, "doomed").await;
    assert!(after["revoked_at"].is_null(), "{after}");
    assert_ne!(
        after["private_key_pem"], before["private_key_pem"],
        "a new key"
    );
    let new_serial = leaf_info(after["fullchain_pem"].as_str().unwrap())
        .unwrap()
        .serial;
    assert_eq!(env.pebble.cert_status(&new_serial).await["Status"], "Valid");

    create_self_signed(&admin, "local", &["local.test"]).await;
    let refused = admin
        .post("/certificates/local/revoke", &json!({}))
        .await
        .unwrap();
    assert_eq!(refused.status, 409, "{}", refused.json());
    assert_eq!(
        admin
            .post("/certificates/nobody/revoke", &json!({}))
            .await
            .unwrap()
            .status,
        404
    );
}
