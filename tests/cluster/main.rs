//! Renewal and several instances on one Redis: real Pebble with short-lived certificates, real
//! Redis (plain, cluster, TLS), real certgate processes.

#[path = "../common/mod.rs"]
mod common;

mod change_log;
mod heartbeat;
mod indexes;
mod rate_limits;
mod sentinel;
mod topologies;

use indexes::assert_index_matches;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use certgate::certs::pem::leaf_info;
use common::client::{connect, get, leaf_der, served_leaf};
use common::pebble::{Pebble, PebbleOptions};
use common::{
    assert_generation_completes, create_self_signed, free_port, listed, upstream, wait_generation,
    wait_until, with_pem, Certgate, Redis,
};

/// Settings every instance here gets: quick renewal checks, leases and no periodic resync.
const FAST: &[(&str, &str)] = &[
    ("RENEWAL_CHECK_INTERVAL", "1"),
    // These tests drive renewal by the threshold rule and count orders; Pebble's renewal
    // window for a seconds-long certificate is its whole life (tests/acme/ari.rs covers ARI).
    ("ACME_ARI", "false"),
    ("RESYNC_INTERVAL_SECONDS", "3600"),
    ("CERT_LEASE_SECONDS", "3"),
];

/// Redis, Pebble (certificates valid `validity` seconds) validating at instance 0's HTTP port,
/// and `n` instances.
async fn acme_cluster(n: usize, validity: u64) -> (Redis, Pebble, Vec<Certgate>) {
    acme_cluster_with(n, validity, &[]).await
}

async fn acme_cluster_with(
    n: usize,
    validity: u64,
    pebble_env: &[(&str, &str)],
) -> (Redis, Pebble, Vec<Certgate>) {
    let redis = Redis::start().await;
    let http_port = free_port();
    let pebble = Pebble::start(PebbleOptions {
        http_port,
        env: pebble_env,
        validity_seconds: Some(validity),
        extra_profiles: &[],
        eab_keys: &[],
        ..Default::default()
    })
    .await;
    let mut instances = Vec::new();
    for i in 0..n {
        let mut env = common::base_env(&redis.url(), "c:");
        env.extend(pebble.certgate_env());
        for (k, v) in FAST {
            env.push((k.to_string(), v.to_string()));
        }
        if i == 0 {
            env.push(("HTTP_ADDR".into(), format!("127.0.0.1:{http_port}")));
        }
        instances.push(Certgate::start_with_env(env).await);
    }
    (redis, pebble, instances)
}

async fn cert(cg: &Certgate, name: &str) -> Value {
    with_pem(&cg.admin(), name).await
}

fn serial(cert: &Value) -> String {
    leaf_info(cert["fullchain_pem"].as_str().unwrap())
        .unwrap()
        .serial
}

async fn issue_acme(cg: &Certgate, name: &str, domain: &str) -> Value {
    let r = cg
        .admin()
        .post(
            "/certificates/",
            &json!({ "cert_name": name, "domain": domain, "email": "ops@example.com" }),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.json());
    let status = wait_generation(&cg.admin(), name, Duration::from_secs(60)).await;
    assert_eq!(status["status"], "completed", "{status}");
    cert(cg, name).await
}

async fn wait_serial_change(cg: &Certgate, name: &str, from: &str, limit: Duration) -> Value {
    let started = Instant::now();
    loop {
        let c = cert(cg, name).await;
        if c["fullchain_pem"].is_string() && serial(&c) != from {
            return c;
        }
        assert!(
            started.elapsed() < limit,
            "{name} was not renewed within {limit:?}: {c}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn due_certificate_is_renewed_with_zero_failed_requests() {
    let (_redis, _pebble, instances) = acme_cluster(1, 12).await;
    let cg = &instances[0];
    let up = upstream::start("app").await;
    let first = issue_acme(cg, "r", "r.example.com").await;
    let r = cg
        .admin()
        .post(
            "/proxies/",
            &json!({ "hostname": "r.example.com", "upstream": up.url(), "cert_name": "r" }),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201);
    assert!(first["next_renewal_at"].is_string());

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let port = cg.https_port;
    let load = {
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match get(port, "r.example.com", "r.example.com", "/")
                    .await
                    .status
                {
                    200 => ok.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        })
    };
    let renewed = wait_serial_change(cg, "r", &serial(&first), Duration::from_secs(40)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed during renewal"
    );
    assert!(ok.load(Ordering::Relaxed) > 20);
    assert_ne!(
        renewed["private_key_pem"], first["private_key_pem"],
        "a new key"
    );
    let tls = connect(port, "r.example.com", &[b"http/1.1"]).await;
    let served = served_leaf(&tls);
    let latest = cert(cg, "r").await;
    assert_eq!(
        served,
        leaf_der(latest["fullchain_pem"].as_str().unwrap()),
        "a new handshake sees the renewed certificate"
    );
}

#[tokio::test]
async fn three_instances_place_one_order_per_due_certificate() {
    // No nonce rejection: a rejected request is logged too, and this test counts requests.
    let (_redis, pebble, instances) =
        acme_cluster_with(3, 15, &[("PEBBLE_WFE_NONCEREJECT", "0")]).await;
    let first = issue_acme(&instances[1], "one", "one.example.com").await;
    let orders_after_issue = pebble.log_text().matches("POST /order-plz").count();
    assert_eq!(orders_after_issue, 1);
    let renewed = wait_serial_change(
        &instances[2],
        "one",
        &serial(&first),
        Duration::from_secs(40),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let orders = pebble.log_text().matches("POST /order-plz").count();
    assert_eq!(
        orders, 2,
        "one order to issue and exactly one to renew, from three instances"
    );
    assert_eq!(serial(&cert(&instances[0], "one").await), serial(&renewed));
}

#[tokio::test]
async fn changes_reach_other_instances_by_events() {
    let redis = Redis::start().await;
    let mut instances = Vec::new();
    for _ in 0..3 {
        instances.push(Certgate::start(&redis.url(), "p:", FAST).await);
    }
    let up = upstream::start("app").await;
    let mut times = Vec::new();
    for i in 0..5 {
        let (name, host) = (format!("p{i}"), format!("p{i}.test"));
        create_self_signed(&instances[0].admin(), &name, &[&host]).await;
        let started = Instant::now();
        let body = json!({ "hostname": host, "upstream": up.url(), "cert_name": name });
        assert_eq!(
            instances[0]
                .admin()
                .post("/proxies/", &body)
                .await
                .unwrap()
                .status,
            201
        );
        let chain = with_pem(&instances[0].admin(), &name).await["fullchain_pem"]
            .as_str()
            .unwrap()
            .to_owned();
        for other in &instances[1..] {
            let port = other.https_port;
            let (host, chain) = (host.clone(), chain.clone());
            wait_until(
                "another instance to serve the new certificate and route",
                Duration::from_secs(10),
                || {
                    let (host, chain) = (host.clone(), chain.clone());
                    async move {
                        let tls = connect(port, &host, &[b"http/1.1"]).await;
                        served_leaf(&tls) == leaf_der(&chain)
                            && get(port, &host, &host, "/").await.status == 200
                    }
                },
            )
            .await;
        }
        times.push(started.elapsed());
    }
    times.sort();
    println!(
        "propagation to two other instances: median {:?}, worst {:?}",
        times[times.len() / 2],
        times[times.len() - 1]
    );
}

#[tokio::test]
async fn killed_lease_holder_is_taken_over() {
    let redis = Redis::start().await;
    let slow = [
        ("KEY_TYPE", "rsa"),
        ("RSA_KEY_SIZE", "4096"),
        ("CERT_GEN_MAX_WORKERS", "1"),
    ];
    let settings: Vec<(&str, &str)> = FAST.iter().chain(slow.iter()).copied().collect();
    let mut a = Certgate::start(&redis.url(), "k:", &settings).await;
    let b = Certgate::start(&redis.url(), "k:", &settings).await;
    for i in 0..2 {
        let body = json!({ "cert_name": format!("k{i}"), "domain": format!("k{i}.test"), "issuer": "self-signed" });
        assert_eq!(
            a.admin()
                .post("/certificates/", &body)
                .await
                .unwrap()
                .status,
            202
        );
    }
    let admin = b.admin();
    wait_until("a generation to run", Duration::from_secs(30), || {
        let admin = admin.clone();
        async move {
            admin.get("/certificates/k0/status").await.unwrap().json()["status"] == "generating"
        }
    })
    .await;
    a.kill();
    for i in 0..2 {
        assert_generation_completes(&admin, &format!("k{i}"), Duration::from_secs(90)).await;
    }
}

#[tokio::test]
async fn redis_restarted_empty_is_refilled_and_nothing_stops_serving() {
    let mut redis = Redis::start().await;
    let a = Certgate::start(&redis.url(), "w:", FAST).await;
    let b = Certgate::start(&redis.url(), "w:", FAST).await;
    let up = upstream::start("app").await;
    let hosts = ["w1.test", "w2.test"];
    for (i, host) in hosts.iter().enumerate() {
        create_self_signed(&a.admin(), &format!("w{i}"), &[host]).await;
        let body = json!({ "hostname": host, "upstream": up.url(), "cert_name": format!("w{i}") });
        assert_eq!(
            a.admin().post("/proxies/", &body).await.unwrap().status,
            201
        );
    }
    for cg in [&a, &b] {
        for host in hosts {
            let port = cg.https_port;
            wait_until(
                "every host served",
                Duration::from_secs(10),
                || async move { get(port, host, host, "/").await.status == 200 },
            )
            .await;
        }
    }
    // Tokens: one in use, one revoked before the loss (which must stay revoked).
    let mut tokens = Vec::new();
    for name in ["team", "revoked"] {
        let r = a
            .admin()
            .post("/tokens/", &json!({ "name": name }))
            .await
            .unwrap();
        assert_eq!(r.status, 201);
        tokens.push(r.json()["token"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        b.admin().delete("/tokens/revoked").await.unwrap().status,
        204
    );
    // Every instance refreshes its copy of the token hashes at each epoch check (2 s).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    redis.restart().await;
    for _ in 0..10 {
        for cg in [&a, &b] {
            for host in hosts {
                assert_eq!(
                    get(cg.https_port, host, host, "/").await.status,
                    200,
                    "{host} while Redis is empty"
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let admin = a.admin();
    wait_until(
        "Redis to hold the certificates, routes and tokens again",
        Duration::from_secs(15),
        || {
            let admin = admin.clone();
            async move {
                let certs = admin.get("/certificates/").await.unwrap().json();
                let routes = admin.get("/proxies/").await.unwrap().json();
                let tokens = admin.get("/tokens/").await.unwrap().json();
                certs.as_array().is_some_and(|c| c.len() == 2)
                    && routes.as_array().is_some_and(|r| r.len() == 2)
                    && tokens.as_array().is_some_and(|t| !t.is_empty())
            }
        },
    )
    .await;
    let restored = with_pem(&admin, "w0").await;
    assert!(
        restored["private_key_pem"]
            .as_str()
            .unwrap()
            .contains("PRIVATE KEY"),
        "keys written back too"
    );
    for host in hosts {
        assert_eq!(get(b.https_port, host, host, "/").await.status, 200);
    }
    let names = listed(&admin, "/tokens/", "name").await;
    assert_eq!(names, ["team"], "tokens written back, the revoked one not");
    for cg in [&a, &b] {
        let team = cg.client(Some(&tokens[0]));
        assert_eq!(team.get("/certificates/").await.unwrap().status, 200);
        let revoked = cg.client(Some(&tokens[1]));
        assert_eq!(revoked.get("/certificates/").await.unwrap().status, 401);
    }
    // The renewal index came back with the records.
    assert_index_matches(&redis.url(), "w:").await;
}

/// What the write-back restores beyond certificates, routes and tokens: the ACME account the
/// instance uses (`GET /acme/accounts`) and the status of generations that finished within their
/// retention (`GET /certificates/{name}/status`).
#[tokio::test]
async fn redis_restarted_empty_gets_acme_accounts_and_finished_statuses_back() {
    let (mut redis, _pebble, instances) = acme_cluster(1, 3600).await;
    let cg = &instances[0];
    issue_acme(cg, "acct", "acct.test").await;
    create_self_signed(&cg.admin(), "local", &["local.test"]).await;
    let admin = cg.admin();
    let accounts_before = admin.get("/acme/accounts").await.unwrap().json();
    assert_eq!(
        accounts_before.as_array().map(Vec::len),
        Some(1),
        "{accounts_before}"
    );

    redis.restart().await;
    wait_until(
        "the certificates to be written back",
        Duration::from_secs(15),
        || {
            let admin = admin.clone();
            async move {
                let certs = admin.get("/certificates/").await.unwrap().json();
                certs.as_array().is_some_and(|c| c.len() == 2)
            }
        },
    )
    .await;
    let accounts = admin.get("/acme/accounts").await.unwrap().json();
    assert_eq!(
        accounts, accounts_before,
        "the ACME account is listed again"
    );
    for name in ["acct", "local"] {
        let r = admin
            .get(&format!("/certificates/{name}/status"))
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{name}'s finished generation: {}", r.json());
        assert_eq!(r.json()["status"], "completed", "{}", r.json());
    }
}

#[tokio::test]
async fn failing_renewal_backs_off_and_keeps_serving() {
    // No authorization reuse: the renewal must validate again, and fails.
    let (_redis, pebble, instances) = acme_cluster_with(1, 12, &[("PEBBLE_AUTHZREUSE", "0")]).await;
    let cg = &instances[0];
    let first = issue_acme(cg, "f", "f.example.com").await;
    pebble.set_a("f.example.com", "127.0.0.2").await;
    let admin = cg.admin();
    wait_until("a failed renewal to be recorded", Duration::from_secs(40), || {
        let admin = admin.clone();
        async move { admin.get("/certificates/f").await.unwrap().json()["last_error"].is_string() }
    })
    .await;
    let record = cert(cg, "f").await;
    assert_eq!(record["status"], "active");
    assert!(
        record["last_error"]
            .as_str()
            .unwrap()
            .contains("f.example.com"),
        "{record}"
    );
    let retry = certgate::timefmt::parse(record["next_renewal_at"].as_str().unwrap()).unwrap();
    assert!(
        retry > time::OffsetDateTime::now_utc() + time::Duration::seconds(30),
        "backed off: {retry}"
    );
    assert_eq!(serial(&record), serial(&first), "the old certificate stays");
    let tls = connect(cg.https_port, "f.example.com", &[b"http/1.1"]).await;
    assert_eq!(
        served_leaf(&tls),
        leaf_der(first["fullchain_pem"].as_str().unwrap()),
        "and is served"
    );
    let health = admin.get("/health").await.unwrap().json();
    assert_eq!(health["status"], "degraded");
    assert!(
        health["reasons"].to_string().contains("renewal_failing:f"),
        "{health}"
    );
    // The back-off moment is where the index has it.
    assert_index_matches(&_redis.url(), "c:").await;
}
