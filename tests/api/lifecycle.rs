//! Create, read, renew, delete: the success paths and status retention.

use super::*;

#[tokio::test]
async fn certificate_lifecycle_success_paths() {
    let (_redis, cg) = instance(&[]).await;
    let admin = cg.admin();

    let r = admin
        .post("/certificates/", &json!({ "cert_name": "web", "domain": "Localhost.", "issuer": "self-signed", "key_type": "rsa" }))
        .await
        .unwrap();
    assert_eq!(r.status, 202);
    assert_eq!(
        r.json(),
        json!({ "cert_name": "web", "status": "pending", "status_url": "/certificates/web/status" })
    );
    let status = wait_generation(&admin, "web", Duration::from_secs(60)).await;
    assert_eq!(status["status"], "completed", "{status}");

    let cert = with_pem(&admin, "web").await;
    assert_eq!(cert["status"], "active");
    assert_eq!(cert["domains"], json!(["localhost"]));
    assert_eq!(cert["issuer"], "self-signed");
    assert_eq!(cert["key_type"], "rsa");
    let chain = cert["fullchain_pem"].as_str().unwrap();
    let key = cert["private_key_pem"].as_str().unwrap();
    assert!(key.contains("PRIVATE KEY"));
    let leaf = leaf_info(chain).unwrap();
    assert_eq!(leaf.names, vec!["localhost"]);
    assert_eq!(
        cert["expires_at"].as_str().unwrap(),
        certgate::timefmt::format(leaf.not_after)
    );
    assert_eq!(
        cert["not_before"].as_str().unwrap(),
        certgate::timefmt::format(leaf.not_before)
    );
    let lifetime = leaf.not_after - leaf.not_before;
    assert!(
        (lifetime.whole_days() - 365).abs() <= 1,
        "SELF_SIGNED_DAYS default: {lifetime}"
    );
    assert!(cert["owner_token_hash"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert!(cert["next_renewal_at"].is_string());

    // The list carries no PEM and no key.
    let list = admin.get("/certificates/").await.unwrap();
    assert_eq!(list.status, 200);
    let text = String::from_utf8_lossy(&list.body).to_string();
    assert!(!text.contains("PRIVATE KEY") && !text.contains("BEGIN CERTIFICATE"));
    assert_eq!(list.json().as_array().unwrap().len(), 1);

    // The slash-less list redirects.
    let r = admin.get("/certificates").await.unwrap();
    assert_eq!(r.status, 308);
    assert_eq!(r.headers["location"], "/certificates/");

    // Renewal: a new key and a new serial.
    let r = admin
        .post("/certificates/web/renew", &json!({}))
        .await
        .unwrap();
    assert_eq!(r.status, 202);
    assert_eq!(
        wait_generation(&admin, "web", Duration::from_secs(60)).await["status"],
        "completed"
    );
    let renewed = with_pem(&admin, "web").await;
    assert_ne!(renewed["private_key_pem"], cert["private_key_pem"]);
    assert_ne!(
        leaf_info(renewed["fullchain_pem"].as_str().unwrap())
            .unwrap()
            .serial,
        leaf.serial
    );

    // Delete, then it is gone.
    assert_eq!(admin.delete("/certificates/web").await.unwrap().status, 204);
    assert_eq!(admin.get("/certificates/web").await.unwrap().status, 404);
    assert_eq!(admin.delete("/certificates/web").await.unwrap().status, 404);
}

#[tokio::test]
async fn wildcard_multi_domain_and_ecdsa() {
    let (_redis, cg) = instance(&[]).await;
    let admin = cg.admin();
    let status = create_self_signed(
        &admin,
        "multi",
        &["*.example.test", "example.test", "EXAMPLE.test", "10.1.2.3"],
    )
    .await;
    assert_eq!(status["status"], "completed");
    let cert = with_pem(&admin, "multi").await;
    assert_eq!(
        cert["domains"],
        json!(["*.example.test", "example.test", "10.1.2.3"])
    );
    assert_eq!(cert["key_type"], "ecdsa-p256");
    let leaf = leaf_info(cert["fullchain_pem"].as_str().unwrap()).unwrap();
    assert_eq!(
        leaf.names,
        vec!["*.example.test", "example.test", "10.1.2.3"]
    );
}

#[tokio::test]
async fn status_expires_after_retention() {
    let (_redis, cg) = instance(&[("CERT_STATUS_RETENTION_SECONDS", "1")]).await;
    let admin = cg.admin();
    create_self_signed(&admin, "short", &["short.test"]).await;
    common::wait_until(
        "the status record to expire",
        Duration::from_secs(10),
        || {
            let admin = admin.clone();
            async move {
                admin
                    .get("/certificates/short/status")
                    .await
                    .unwrap()
                    .status
                    == 404
            }
        },
    )
    .await;
    assert_eq!(
        admin.get("/certificates/short").await.unwrap().json()["status"],
        "active"
    );
}
