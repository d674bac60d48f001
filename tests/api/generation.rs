//! Generation workers: the concurrency bound, crash recovery, Redis outages.

use super::*;

#[tokio::test]
async fn twenty_creates_run_at_most_two_at_a_time() {
    let (_redis, cg) = instance(&[("CERT_GEN_MAX_WORKERS", "2"), ("KEY_TYPE", "rsa")]).await;
    let admin = cg.admin();
    let mut requests = Vec::new();
    for i in 0..20 {
        let admin = admin.clone();
        requests.push(tokio::spawn(async move {
            let body = json!({ "cert_name": format!("c{i}"), "domain": format!("c{i}.test"), "issuer": "self-signed" });
            admin.post("/certificates/", &body).await.unwrap().status
        }));
    }
    for r in requests {
        assert_eq!(r.await.unwrap(), 202);
    }
    let mut spans = Vec::new();
    for i in 0..20 {
        let status = wait_generation(&admin, &format!("c{i}"), Duration::from_secs(120)).await;
        assert_eq!(status["status"], "completed", "{status}");
        let t = |f: &str| certgate::timefmt::parse(status[f].as_str().unwrap()).unwrap();
        spans.push((t("started_at"), t("finished_at")));
    }
    let mut events: Vec<(time::OffsetDateTime, i32)> = spans
        .iter()
        .flat_map(|(s, f)| [(*s, 1), (*f, -1)])
        .collect();
    // At equal times, count the finish first: the next start may take the freed permit at once.
    events.sort();
    let (mut depth, mut deepest) = (0, 0);
    for (_, delta) in events {
        depth += delta;
        deepest = deepest.max(depth);
    }
    assert!(deepest <= 2, "generations overlapped {deepest} deep");
    assert!(deepest >= 1);
}

#[tokio::test]
async fn killed_during_generation_leaves_nothing_generating() {
    let (redis, mut cg) = instance(&[
        ("CERT_GEN_MAX_WORKERS", "1"),
        ("KEY_TYPE", "rsa"),
        ("RSA_KEY_SIZE", "4096"),
        ("CERT_LEASE_SECONDS", "2"),
    ])
    .await;
    let admin = cg.admin();
    for i in 0..3 {
        let body = json!({ "cert_name": format!("k{i}"), "domain": format!("k{i}.test"), "issuer": "self-signed" });
        assert_eq!(
            admin.post("/certificates/", &body).await.unwrap().status,
            202
        );
    }
    common::wait_until(
        "a generation to be running",
        Duration::from_secs(30),
        || {
            let admin = admin.clone();
            async move {
                let r = admin.get("/certificates/k0/status").await.unwrap();
                r.json()["status"] == "generating"
            }
        },
    )
    .await;
    cg.kill();
    let _ = &redis;
    cg.restart().await;
    let admin = cg.admin();
    for i in 0..3 {
        assert_generation_completes(&admin, &format!("k{i}"), Duration::from_secs(120)).await;
    }
}

#[tokio::test]
async fn redis_outage_gives_503_then_recovers() {
    let (mut redis, cg) = instance(&[]).await;
    let admin = cg.admin();
    create_self_signed(&admin, "before", &["before.test"]).await;
    redis.stop();
    // The client notices the closed socket at once; from then on the API fails fast.
    common::wait_store_down(&admin).await;
    let started = std::time::Instant::now();
    let r = admin.get("/certificates/").await.unwrap();
    let took = started.elapsed();
    assert_eq!(r.status, 503);
    // Fail fast, not after the 3 s command timeout (measured: a few ms).
    assert!(took < Duration::from_millis(1000), "503 took {took:?}");
    assert_eq!(
        r.json(),
        json!({ "error": "storage_unavailable", "detail": "Redis is unreachable; retry shortly" })
    );
    let health = admin.get("/health").await.unwrap();
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "degraded");
    redis.restart().await;
    common::wait_until("the API to serve again", Duration::from_secs(20), || {
        let admin = admin.clone();
        async move { admin.get("/certificates/").await.unwrap().status == 200 }
    })
    .await;
    // The same process can create and issue again.
    let status = create_self_signed(&admin, "after", &["after.test"]).await;
    assert_eq!(status["status"], "completed");
    assert_eq!(
        admin.get("/health").await.unwrap().json()["status"],
        "healthy"
    );
}

/// A CA that hangs must not hold up self-signed generations: each issuer kind has its own lane
/// of CERT_GEN_MAX_WORKERS (a self-signed certificate used to wait behind ACME jobs).
#[tokio::test]
async fn a_hanging_ca_does_not_block_self_signed_generations() {
    let hung_ca = common::upstream::black_hole().await;
    let directory = format!("https://{}/directory", hung_ca.addr);
    let (_redis, cg) = instance(&[
        ("CERT_GEN_MAX_WORKERS", "1"),
        ("ACME_DIRECTORY_URL", directory.as_str()),
    ])
    .await;
    let admin = cg.admin();
    for name in ["hung-a", "hung-b"] {
        let body = json!({ "cert_name": name, "domain": format!("{name}.example.com") });
        assert_eq!(
            admin.post("/certificates/", &body).await.unwrap().status,
            202
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let status = create_self_signed(&admin, "beside", &["beside.test"]).await;
    let took = started.elapsed();
    assert_eq!(status["status"], "completed");
    assert!(
        took < Duration::from_secs(10),
        "self-signed waited {took:?}"
    );
    let acme = admin
        .get("/certificates/hung-a/status")
        .await
        .unwrap()
        .json();
    assert_eq!(
        acme["status"], "generating",
        "the ACME job is still stuck: {acme}"
    );
}

/// An issuer that panics at its first issuance, then signs as the self-signed one does.
struct PanicsOnce {
    panicked: std::sync::atomic::AtomicBool,
    signer: certgate::certs::self_signed::SelfSignedIssuer,
}

#[async_trait::async_trait]
impl certgate::certs::issuer::Issuer for PanicsOnce {
    fn kind(&self) -> certgate::certs::model::IssuerKind {
        certgate::certs::model::IssuerKind::SelfSigned
    }

    async fn issue(
        &self,
        request: &certgate::certs::issuer::IssueRequest,
    ) -> Result<certgate::certs::issuer::IssuedCertificate, certgate::certs::issuer::IssueError>
    {
        if !self
            .panicked
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            panic!("injected: a bug in a generation");
        }
        self.signer.issue(request).await
    }
}

/// A generation that panics is taken over like a crashed one: its lease runs out, the recovery
/// loop queues the name again, and this same instance runs it (the panicked run gave its place
/// in the local queue back).
#[tokio::test]
async fn a_generation_that_panics_is_run_again_by_the_same_instance() {
    use certgate::lifecycle::{Created, Issuers, Lifecycle};
    let redis = Redis::start().await;
    let store = certgate::store::Store::connect(&redis.url(), "p:").unwrap();
    assert!(store.wait_connected(Duration::from_secs(5)).await);
    let raw: certgate::config::RawValues = [("CERT_LEASE_SECONDS", "2")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let config = std::sync::Arc::new(certgate::config::Config::from_raw(&raw).unwrap());
    let issuer = std::sync::Arc::new(PanicsOnce {
        panicked: Default::default(),
        signer: certgate::certs::self_signed::SelfSignedIssuer { validity_days: 30 },
    });
    let issuers = Issuers {
        self_signed: issuer,
        acme: None,
    };
    let (trigger, stop) = certgate::shutdown::channel();
    let mut tasks = certgate::tasks::Tasks::new();
    let lifecycle = Lifecycle::start(
        store.writer(),
        config,
        issuers,
        certgate::events::Events::new(std::sync::Arc::new(certgate::events::Unheard), None),
        certgate::ids::InstanceId::generate(),
        &mut tasks,
        &stop,
    );
    let record = certgate::certs::model::CertificateRecord::pending(
        "panics",
        vec!["panics.test".into()],
        certgate::certs::model::IssuerKind::SelfSigned,
        certgate::certs::model::KeyType::EcdsaP256,
        "sha256:00",
        &certgate::timefmt::now_string(),
    );
    assert_eq!(
        lifecycle.create_certificate(&record, true).await.unwrap(),
        Created::Queued
    );
    common::wait_until(
        "the generation run again after its panic",
        Duration::from_secs(20),
        || async {
            store
                .certs()
                .generation_status("panics")
                .await
                .unwrap()
                .is_some_and(|s| s.status == certgate::certs::model::GenerationState::Completed)
        },
    )
    .await;
    trigger.fire();
    tasks.join_all(Duration::from_secs(5)).await;
}
