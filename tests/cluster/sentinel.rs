//! Redis behind Sentinel: the primary killed under HTTPS load and admin writes. The edge keeps
//! serving what it holds, the admin API answers 503 while no primary is known, and writes
//! resume on the promoted replica without a restart — a certificate issued then is served by
//! every instance.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::FAST;
use common::client::get;
use common::sentinel::SentinelSet;
use common::topologies::{certgate_acl, SENTINEL_ACL};
use common::{upstream, wait_generation, wait_until, Certgate};

use crate::common;

/// GETs `host` on `port` until `stop`, counting answers and anything but a 200.
fn load(
    port: u16,
    host: &'static str,
    stop: Arc<AtomicBool>,
    counts: Arc<(AtomicU32, AtomicU32)>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            let status = common::client::try_connect(port, host, &[b"http/1.1"]).await;
            let ok = match status {
                Ok(_) => get(port, host, host, "/").await.status == 200,
                Err(_) => false,
            };
            counts.0.fetch_add(1, Ordering::Relaxed);
            if !ok {
                counts.1.fetch_add(1, Ordering::Relaxed);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
}

#[tokio::test]
async fn a_failover_keeps_the_edge_serving_and_writes_resume_on_the_new_primary() {
    // As the least-privilege user, on the Redis servers and the Sentinels alike.
    let user = format!("{} {SENTINEL_ACL}", certgate_acl("s:"));
    let mut set = SentinelSet::start_with_user(Some(&user)).await;
    let url = set.url_as("secret");
    let a = Certgate::start(&url, "s:", FAST).await;
    let b = Certgate::start(&url, "s:", FAST).await;
    let up = upstream::start("app").await;
    common::create_self_signed(&a.admin(), "before", &["before.test"]).await;
    let route = json!({ "hostname": "before.test", "upstream": up.url(), "cert_name": "before" });
    assert_eq!(
        a.admin().post("/proxies/", &route).await.unwrap().status,
        201
    );
    let port_b = b.https_port;
    wait_until(
        "b to serve the route",
        Duration::from_secs(10),
        || async move { get(port_b, "before.test", "before.test", "/").await.status == 200 },
    )
    .await;
    set.sync_replica();

    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new((AtomicU32::new(0), AtomicU32::new(0)));
    let loads = [a.https_port, b.https_port]
        .map(|port| load(port, "before.test", stop.clone(), counts.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let old_primary = set.primary_port;
    set.kill_primary();

    // An issuance asked for during the failover: refused with 503 (naming the storage) until
    // the replica is promoted, then accepted and completed on it.
    let started = Instant::now();
    let body =
        json!({ "cert_name": "during", "domains": ["during.test"], "issuer": "self-signed" });
    let mut refusals = Vec::new();
    loop {
        let r = a
            .admin()
            .post("/certificates/multi-domain", &body)
            .await
            .unwrap();
        if r.status == 202 {
            break;
        }
        assert_eq!(r.status, 503, "{}", r.json());
        refusals.push(r.json().to_string());
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no primary after 60 s: {refusals:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let failover = started.elapsed();
    assert!(
        refusals.iter().all(|r| r.contains("unavailable")),
        "{refusals:?}"
    );
    let status = wait_generation(&a.admin(), "during", Duration::from_secs(60)).await;
    assert_eq!(status["status"], "completed", "{status}");
    let route = json!({ "hostname": "during.test", "upstream": up.url(), "cert_name": "during" });
    assert_eq!(
        a.admin().post("/proxies/", &route).await.unwrap().status,
        201
    );
    wait_until(
        "b to serve the certificate issued after the failover",
        Duration::from_secs(20),
        || async move { get(port_b, "during.test", "during.test", "/").await.status == 200 },
    )
    .await;

    stop.store(true, Ordering::Relaxed);
    for l in loads {
        l.await.unwrap();
    }
    let (requests, failed) = (
        counts.0.load(Ordering::Relaxed),
        counts.1.load(Ordering::Relaxed),
    );
    eprintln!("sentinel failover: writes refused for {failover:?} ({} 503s); {requests} HTTPS requests, {failed} failed", refusals.len());
    assert!(requests > 50, "{requests} requests");
    assert_eq!(
        failed, 0,
        "requests for a cached name failed during the failover"
    );
    assert_eq!(set.primary_now(), Some(set.replica_port));
    assert_ne!(set.primary_now(), Some(old_primary));
}

/// The generation status word of certificate `name`.
async fn generation(cg: &Certgate, name: &str) -> String {
    let r = cg
        .admin()
        .get(&format!("/certificates/{name}/status"))
        .await
        .unwrap();
    r.json()["status"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_generation_completes_only_once_a_replica_holds_the_certificate() {
    let set = SentinelSet::start().await;
    let mut settings = FAST.to_vec();
    settings.extend([
        ("REDIS_MIN_REPLICAS_ACK", "1"),
        ("REDIS_REPLICA_ACK_TIMEOUT_SECONDS", "30"),
    ]);
    let cg = Certgate::start(&set.primary_url(), "r:", &settings).await;
    let body = |name: &str| json!({ "cert_name": name, "domains": [format!("{name}.test")], "issuer": "self-signed" });

    // The replica frozen: the certificate is written, but the generation waits.
    set.pause_replica();
    let r = cg
        .admin()
        .post("/certificates/multi-domain", &body("held"))
        .await
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.json());
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let waiting = generation(&cg, "held").await;
    assert!(
        waiting != "completed" && waiting != "failed",
        "{waiting} while no replica acknowledged"
    );
    set.resume_replica();
    let status = wait_generation(&cg.admin(), "held", Duration::from_secs(20)).await;
    assert_eq!(status["status"], "completed", "{status}");
    drop(cg);

    // With a short timeout: reported failed, naming the setting; the certificate stays.
    settings.retain(|(k, _)| *k != "REDIS_REPLICA_ACK_TIMEOUT_SECONDS");
    settings.push(("REDIS_REPLICA_ACK_TIMEOUT_SECONDS", "2"));
    let cg = Certgate::start(&set.primary_url(), "r:", &settings).await;
    set.pause_replica();
    let r = cg
        .admin()
        .post("/certificates/multi-domain", &body("unacked"))
        .await
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.json());
    let status = wait_generation(&cg.admin(), "unacked", Duration::from_secs(20)).await;
    set.resume_replica();
    assert_eq!(status["status"], "failed", "{status}");
    let message = status["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("REDIS_MIN_REPLICAS_ACK") && message.contains("0 of the 1"),
        "{message}"
    );
    let cert = cg
        .admin()
        .get("/certificates/unacked")
        .await
        .unwrap()
        .json();
    assert_eq!(cert["status"], "active", "{cert}");
}

#[tokio::test]
async fn a_certificate_the_promoted_replica_missed_is_written_back() {
    let mut set = SentinelSet::start().await;
    let a = Certgate::start(&set.url(), "w:", FAST).await;
    common::create_self_signed(&a.admin(), "kept", &["kept.test"]).await;
    set.sync_replica();
    // The replica frozen, a certificate is issued: only the primary has it. Then the primary
    // dies and the replica, thawed, is promoted without it.
    set.cut_off_replica();
    common::create_self_signed(&a.admin(), "missed", &["missed.test"]).await;
    let replica = set.replica_port;
    set.kill_primary();
    set.resume_replica();
    wait_until("the replica promoted", Duration::from_secs(30), || {
        let now = set.primary_now();
        async move { now == Some(replica) }
    })
    .await;
    // The guard notices the change log went back and writes the certificate back.
    wait_until("the missed certificate back in Redis", Duration::from_secs(30), || async move {
        common::sentinel::cli(replica, &["EXISTS", "w:cert:{missed}"]).trim() == "1"
    })
    .await;
    let admin = a.admin();
    wait_until(
        "the admin API on the new primary",
        Duration::from_secs(20),
        || {
            let admin = admin.clone();
            async move {
                admin
                    .get("/certificates/missed")
                    .await
                    .is_ok_and(|r| r.status == 200)
            }
        },
    )
    .await;
    let cert = a.admin().get("/certificates/missed").await.unwrap().json();
    assert_eq!(cert["status"], "active", "{cert}");
    assert!(a
        .log_text()
        .contains("Redis is missing changes this instance made or saw"));
    assert_eq!(
        common::sentinel::cli(replica, &["EXISTS", "w:cert:{kept}"]).trim(),
        "1"
    );
}
