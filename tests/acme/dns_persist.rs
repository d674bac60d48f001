//! dns-persist-01 (draft-ietf-acme-dns-persist-01) against Pebble v2.10.1 resolving through a
//! real BIND: without a DNS provider the operator publishes what the API lists; with one,
//! certgate publishes each record once and a renewal makes no DNS update. Pebble reuses no
//! authorization here, so every order is validated against the record.

use std::time::Duration;

use serde_json::{json, Value};

use super::challenges::assert_valid_for;
use super::dns01::rfc2136_settings;
use super::Env;
use common::bind::Bind;
use common::pebble::{Pebble, PebbleOptions};
use common::{free_port, wait_generation, Certgate, Redis};

use crate::common;

/// Redis, Pebble resolving through `bind` with no authorization reuse, and one certgate with
/// `extra` settings; `None` (after one printed line) when this Pebble lacks dns-persist-01.
async fn persist_env(bind: &Bind, extra: &[(String, String)]) -> Option<Env> {
    let redis = Redis::start().await;
    let http_port = free_port();
    let pebble = Pebble::start(PebbleOptions {
        http_port,
        env: &[("PEBBLE_AUTHZREUSE", "0")],
        dns_server: Some(bind.address()),
        ..Default::default()
    })
    .await;
    if !pebble.has_renewal_info().await {
        common::skip_unless_ci(
            "this Pebble has no dns-persist-01 (v2.10.1 in ../shared/tools/pebble does)",
        );
        return None;
    }
    let mut vars = common::base_env(&redis.url(), "persist:");
    vars.extend(pebble.certgate_env());
    vars.push(("HTTP_ADDR".into(), format!("127.0.0.1:{http_port}")));
    vars.extend(extra.iter().cloned());
    let certgate = Certgate::start_with_env(vars).await;
    Some(Env {
        redis,
        pebble,
        certgate,
    })
}

/// Renews `name` and waits for the generation to end; its status.
async fn renew(env: &Env, name: &str) -> Value {
    let admin = env.certgate.admin();
    let path = format!("/certificates/{name}/renew");
    let r = admin.post(&path, &json!({})).await.unwrap();
    assert_eq!(r.status, 202, "{}", r.json());
    // The renewal's generation replaces the last one; wait until it is not the old one.
    tokio::time::sleep(Duration::from_millis(300)).await;
    wait_generation(&admin, name, Duration::from_secs(120)).await
}

/// Without a provider: the API lists one record for `*.persist.test` and `persist.test`, with
/// the wildcard policy; issuance fails naming it until it is published; a record without the
/// policy proves the apex but not the wildcard; with the right record the certificate issues,
/// and a renewal validates again with no change to the zone.
#[tokio::test]
async fn dns_persist_01_without_a_provider_lists_the_record_to_publish() {
    let bind = Bind::start("persist.test").await;
    let Some(env) = persist_env(&bind, &[]).await else {
        return;
    };
    let admin = env.certgate.admin();
    let body = json!({ "cert_name": "persisted", "domains": ["*.persist.test", "persist.test"], "challenge": "dns-persist-01" });
    let r = admin
        .post("/certificates/multi-domain", &body)
        .await
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.json());
    let status = wait_generation(&admin, "persisted", Duration::from_secs(120)).await;
    assert_eq!(status["status"], "failed", "{status}");

    let listed = admin
        .get("/certificates/persisted/dns-records")
        .await
        .unwrap();
    assert_eq!(listed.status, 200, "{}", listed.json());
    let records = listed.json()["records"].clone();
    assert_eq!(records.as_array().unwrap().len(), 1, "{records}");
    let record = &records[0];
    assert_eq!(record["name"], "_validation-persist.persist.test");
    assert_eq!(record["type"], "TXT");
    assert_eq!(record["domains"], json!(["*.persist.test", "persist.test"]));
    let value = record["value"].as_str().unwrap().to_owned();
    let accounts = admin.get("/acme/accounts").await.unwrap().json();
    let account_url = accounts.to_string();
    assert!(
        value.starts_with("pebble.letsencrypt.org; accounturi=https://")
            && value.ends_with("; policy=wildcard"),
        "{value}"
    );
    let uri = value
        .split("accounturi=")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .unwrap();
    assert!(
        account_url.contains(uri),
        "{uri} is the account: {accounts}"
    );
    let message = status["message"].as_str().unwrap();
    println!("before the record is published: {message}");
    assert!(
        message.contains("_validation-persist.persist.test") && message.contains(&value),
        "the error names the record: {message}"
    );

    // Without the wildcard policy the apex validates, the wildcard does not.
    let without_policy = value.trim_end_matches("; policy=wildcard");
    bind.add_txt("_validation-persist.persist.test", without_policy)
        .await;
    let status = renew(&env, "persisted").await;
    assert_eq!(status["status"], "failed", "{status}");
    let message = status["message"].as_str().unwrap();
    assert!(message.contains("policy"), "{message}");

    bind.add_txt("_validation-persist.persist.test", &value)
        .await;
    let status = renew(&env, "persisted").await;
    assert_eq!(status["status"], "completed", "{status}");
    assert_valid_for(
        &env,
        "persisted",
        &["a.persist.test", "persist.test"],
        "dns-persist-01",
    )
    .await;

    let serial = bind.serial().await;
    let status = renew(&env, "persisted").await;
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(
        bind.serial().await,
        serial,
        "a renewal changes nothing in DNS"
    );

    // A certificate validated otherwise has no records to publish once.
    let body =
        json!({ "cert_name": "plain", "domain": "plain.persist.test", "issuer": "self-signed" });
    assert_eq!(
        admin.post("/certificates/", &body).await.unwrap().status,
        202
    );
    let r = admin.get("/certificates/plain/dns-records").await.unwrap();
    assert_eq!(r.status, 409, "{}", r.json());
}

/// With RFC 2136 to BIND configured, certgate publishes the record itself, once: the first
/// issuance adds it, a renewal (validated again by Pebble) leaves the zone's serial alone.
#[tokio::test]
async fn dns_persist_01_through_a_provider_publishes_the_record_once() {
    let bind = Bind::start("once.test").await;
    let Some(env) = persist_env(&bind, &rfc2136_settings(&bind, &[])).await else {
        return;
    };
    let admin = env.certgate.admin();
    let body = json!({ "cert_name": "once", "domains": ["once.test", "www.once.test"], "challenge": "dns-persist-01" });
    let r = admin
        .post("/certificates/multi-domain", &body)
        .await
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.json());
    let status = wait_generation(&admin, "once", Duration::from_secs(120)).await;
    assert_eq!(
        status["status"],
        "completed",
        "{status}\n{}",
        bind.log_text()
    );
    assert_valid_for(
        &env,
        "once",
        &["once.test", "www.once.test"],
        "dns-persist-01",
    )
    .await;

    let listed = admin
        .get("/certificates/once/dns-records")
        .await
        .unwrap()
        .json();
    let records = listed["records"].as_array().unwrap().clone();
    assert_eq!(records.len(), 2, "{listed}");
    for record in &records {
        let name = record["name"].as_str().unwrap();
        let value = record["value"].as_str().unwrap();
        assert!(!value.contains("policy"), "{value}");
        assert_eq!(bind.txt(name).await, vec![value.to_owned()], "{name}");
    }

    let serial = bind.serial().await;
    let status = renew(&env, "once").await;
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(
        bind.serial().await,
        serial,
        "the renewal wrote nothing to DNS"
    );
    for record in &records {
        let name = record["name"].as_str().unwrap();
        assert_eq!(bind.txt(name).await.len(), 1, "{name} is still there, once");
    }
}
