//! The second-step indexes the writes keep (renewal index, counts by status) always say what a
//! full scan of the records says — after every kind of write, and rebuilt at start.

use std::time::Duration;

use serde_json::json;

use super::{acme_cluster, issue_acme, serial, wait_serial_change};
use common::{create_self_signed, listed, wait_generation, Certgate};

use crate::common;

/// Waits until the renewal index equals what a full scan of the records says (names and next
/// events, to the millisecond); these tests run with ACME_ARI=false.
pub(crate) async fn assert_index_matches(redis_url: &str, prefix: &str) {
    let store = certgate::store::Store::connect(redis_url, prefix)
        .unwrap()
        .writer();
    store.wait_connected(Duration::from_secs(5)).await;
    let mut last = String::new();
    for _ in 0..40 {
        let now = time::OffsetDateTime::now_utc();
        let mut expected: Vec<(String, i64)> = store
            .certs()
            .list()
            .await
            .unwrap()
            .iter()
            .filter_map(|r| {
                let next = certgate::certs::schedule::next_event(r, false, now)?;
                Some((
                    r.cert_name.clone(),
                    (next.unix_timestamp_nanos() / 1_000_000) as i64,
                ))
            })
            .collect();
        expected.sort();
        let mut indexed = store.certs().renewal_entries().await.unwrap();
        indexed.sort();
        if indexed == expected {
            return;
        }
        last = format!("index {indexed:?}\nscan  {expected:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the renewal index differs from a full scan:\n{last}");
}

/// Waits until `/metrics` counts by status (kept by the writes, no scan) equal a full scan.
pub(crate) async fn assert_counts_match(cg: &Certgate) {
    let mut last = String::new();
    for _ in 0..40 {
        let certs = listed(&cg.admin(), "/certificates/", "status").await;
        let text =
            String::from_utf8_lossy(&cg.admin().get("/metrics").await.unwrap().body).to_string();
        let matches = ["pending", "active", "failed", "expired"]
            .iter()
            .all(|status| {
                let scanned = certs.iter().filter(|s| s == status).count();
                text.contains(&format!(
                    "certgate_certificates{{status=\"{status}\"}} {scanned}"
                ))
            });
        if matches {
            return;
        }
        last = format!(
            "{certs:?}\n{}",
            text.lines()
                .filter(|l| l.starts_with("certgate_certificates{"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("status counts differ from a scan:\n{last}");
}

/// The renewal index follows every write: created (self-signed and ACME), failed, renewed,
/// deleted — always what a full scan of the records would say — and a pass reads only what is
/// due.
#[tokio::test]
async fn renewal_index_follows_the_records() {
    let (redis, pebble, instances) = acme_cluster(1, 12).await;
    let cg = &instances[0];
    create_self_signed(&cg.admin(), "local", &["local.test"]).await;
    let first = issue_acme(cg, "short", "short.example.com").await;
    assert_index_matches(&redis.url(), "c:").await;
    pebble.set_a("broken.example.com", "127.0.0.2").await;
    let r = cg
        .admin()
        .post(
            "/certificates/",
            &json!({ "cert_name": "broken", "domain": "broken.example.com" }),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 202);
    let status = wait_generation(&cg.admin(), "broken", Duration::from_secs(60)).await;
    assert_eq!(status["status"], "failed");
    assert_index_matches(&redis.url(), "c:").await;
    assert_counts_match(cg).await;
    wait_serial_change(cg, "short", &serial(&first), Duration::from_secs(40)).await;
    assert_index_matches(&redis.url(), "c:").await;
    assert_eq!(
        cg.admin()
            .delete("/certificates/local")
            .await
            .unwrap()
            .status,
        204
    );
    assert_index_matches(&redis.url(), "c:").await;
    let names: Vec<String> = certgate::store::Store::connect(&redis.url(), "c:")
        .unwrap()
        .certs()
        .renewal_entries()
        .await
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        names,
        vec!["short".to_owned()],
        "failed and deleted ones are not indexed"
    );

    // An instance that died between record writes and index writes: the start-up scan rebuilds
    // the renewal index, the name index and the status indexes (whose sizes are the counts)
    // from the records — a missing entry added, a stale one removed.
    let client = redis.client().await;
    let _: i64 = fred::prelude::KeysInterface::del(
        &client,
        vec![
            "c:renewals",
            "c:certs:status:active",
            "c:certs:status:failed",
            "c:certs:by_name",
        ],
    )
    .await
    .unwrap();
    let _: i64 = fred::prelude::SortedSetsInterface::zadd(
        &client,
        "c:certs:status:pending",
        None,
        None,
        false,
        false,
        (0.0, "short"),
    )
    .await
    .unwrap();
    let mut instances = instances;
    instances[0].restart().await;
    assert_index_matches(&redis.url(), "c:").await;
    assert_counts_match(&instances[0]).await;
    let listed_names = listed(&instances[0].admin(), "/certificates/", "cert_name").await;
    assert_eq!(listed_names, ["broken", "short"]);
}

/// A pending certificate with no job (written around the lifecycle, as a lost job would leave
/// it) is found by the running instance's recovery pass and issued: no first issuance waits
/// for ever.
#[tokio::test]
async fn a_pending_certificate_without_a_job_is_issued_by_the_recovery_pass() {
    let redis = common::Redis::start().await;
    // A 2 s lease: the recovery pass runs every second.
    let cg = Certgate::start(&redis.url(), "r:", &[("CERT_LEASE_SECONDS", "2")]).await;
    let store = certgate::store::Store::connect(&redis.url(), "r:")
        .unwrap()
        .writer();
    store.wait_connected(Duration::from_secs(5)).await;
    let now = certgate::timefmt::now_string();
    let record = certgate::certs::model::CertificateRecord::pending(
        "orphan",
        vec!["orphan.test".to_owned()],
        certgate::certs::model::IssuerKind::SelfSigned,
        certgate::certs::model::KeyType::EcdsaP256,
        "admin",
        &now,
    );
    let status = certgate::certs::model::GenerationStatus {
        status: certgate::certs::model::GenerationState::Pending,
        message: "written without a job".into(),
        created_at: now.clone(),
        updated_at: now,
        started_at: None,
        finished_at: None,
    };
    assert!(store.create_certificate(&record, &status).await.unwrap());
    assert!(store.certs().queued().await.unwrap().is_empty());
    let status = wait_generation(&cg.admin(), "orphan", Duration::from_secs(30)).await;
    assert_eq!(status["status"], "completed", "{status}");
    let listed = listed(&cg.admin(), "/certificates/", "status").await;
    assert_eq!(listed, ["active"]);
    assert!(
        cg.log_text()
            .contains("pending issuance was neither queued nor running"),
        "the recovery pass names what it resumed"
    );
}
