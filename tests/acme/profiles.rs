//! What the CA offers and asks: certificate profiles (shortlived) and External Account Binding.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{env_with_profiles, Certgate};
use certgate::certs::pem::leaf_info;
use common::{wait_generation, with_pem};

use crate::common;

/// Profiles (Pebble v2.10.1): the CA's list is shown, a `shortlived` certificate gets Pebble's
/// 6-day lifetime and keeps its profile, an unknown profile is refused with the list.
#[tokio::test]
async fn profiles_are_listed_checked_and_ordered() {
    let env = env_with_profiles(&[], &[], &[("shortlived", 518_400)], &[]).await;
    if !env.pebble.has_profiles().await {
        common::skip_unless_ci(
            "this Pebble lists no profiles (v2.10.1 in ../shared/tools/pebble does)",
        );
        return;
    }
    let admin = env.certgate.admin();
    let listed = admin.get("/acme/profiles").await.unwrap();
    assert_eq!(listed.status, 200, "{}", listed.json());
    let names: Vec<String> = listed.json()["profiles"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(names, vec!["default", "shortlived"]);

    let body =
        json!({ "cert_name": "short", "domain": "short.example.com", "profile": "shortlived" });
    let started = Instant::now();
    assert_eq!(
        admin.post("/certificates/", &body).await.unwrap().status,
        202
    );
    let status = wait_generation(&admin, "short", Duration::from_secs(120)).await;
    assert_eq!(status["status"], "completed", "{status}");
    println!("shortlived issuance: {:?}", started.elapsed());
    let cert = with_pem(&admin, "short").await;
    assert_eq!(cert["profile"], "shortlived");
    let leaf = leaf_info(cert["fullchain_pem"].as_str().unwrap()).unwrap();
    let lifetime = leaf.not_after - leaf.not_before;
    assert!(
        (lifetime - time::Duration::days(6)).abs() < time::Duration::minutes(5),
        "a shortlived certificate lives 6 days, got {lifetime}"
    );
    // Renewed by the CA's window (Pebble: a third of the lifetime left, ± 1 day), never at once
    // and never called expiring while that renewal is simply scheduled.
    common::wait_until("the renewal window", Duration::from_secs(20), || {
        let admin = admin.clone();
        async move {
            admin.get("/certificates/short").await.unwrap().json()["renewal_window"].is_object()
        }
    })
    .await;
    let cert = admin.get("/certificates/short").await.unwrap().json();
    let next = time::OffsetDateTime::parse(
        cert["next_renewal_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let issued_for = next - leaf.not_before;
    assert!(
        issued_for >= time::Duration::days(3) && issued_for <= time::Duration::days(5),
        "renewal scheduled {issued_for} after issuance: {cert}"
    );
    let health = admin.get("/health").await.unwrap().json();
    assert_eq!(health["status"], "healthy", "{health}");

    let body = json!({ "cert_name": "nope", "domain": "nope.example.com", "profile": "forever" });
    let refused = admin.post("/certificates/", &body).await.unwrap();
    assert_eq!(refused.status, 409, "a profile the CA does not list");
    let answer = refused.json();
    assert_eq!(answer["error"], "unavailable");
    assert_eq!(answer["field"], "profile");
    let detail = answer["detail"].as_str().unwrap();
    assert!(detail.contains("default, shortlived"), "{detail}");
    assert_eq!(admin.get("/certificates/nope").await.unwrap().status, 404);

    let body = json!({ "cert_name": "ss", "domain": "ss.test", "issuer": "self-signed", "profile": "shortlived" });
    assert_eq!(
        admin.post("/certificates/", &body).await.unwrap().status,
        400
    );
}

/// External Account Binding: a CA that requires it fails the generation with a message naming
/// the variables to set; with ACME_EAB_KID and ACME_EAB_HMAC_KEY the account is bound and the
/// certificate issued. The MAC key never appears in the log.
#[tokio::test]
async fn external_account_binding_is_required_and_used() {
    const KID: &str = "kid-certgate";
    const MAC: &str = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";
    let env = env_with_profiles(&[], &[], &[], &[(KID, MAC)]).await;
    let admin = env.certgate.admin();
    let body = json!({ "cert_name": "unbound", "domain": "unbound.example.com" });
    assert_eq!(
        admin.post("/certificates/", &body).await.unwrap().status,
        202
    );
    let status = wait_generation(&admin, "unbound", Duration::from_secs(60)).await;
    assert_eq!(status["status"], "failed", "{status}");
    let message = status["message"].as_str().unwrap();
    assert!(
        message.contains("ACME_EAB_KID") && message.contains("ACME_EAB_HMAC_KEY"),
        "{message}"
    );

    // A second instance on the same Redis and Pebble, with the binding.
    let mut vars = env.certgate.env.clone();
    vars.retain(|(k, _)| !k.ends_with("_ADDR"));
    vars.push(("ACME_EAB_KID".into(), KID.into()));
    vars.push(("ACME_EAB_HMAC_KEY".into(), MAC.into()));
    vars.push((
        "HTTP_ADDR".into(),
        env.certgate
            .env
            .iter()
            .find(|(k, _)| k == "HTTP_ADDR")
            .unwrap()
            .1
            .clone(),
    ));
    drop(env.certgate);
    let bound = Certgate::start_with_env(vars).await;
    let admin = bound.admin();
    let body = json!({ "cert_name": "bound", "domain": "bound.example.com" });
    assert_eq!(
        admin.post("/certificates/", &body).await.unwrap().status,
        202
    );
    let status = wait_generation(&admin, "bound", Duration::from_secs(60)).await;
    assert_eq!(status["status"], "completed", "{status}");
    let log = std::fs::read_to_string(&bound.log).unwrap();
    assert!(!log.contains(MAC), "the MAC key was logged");
}
