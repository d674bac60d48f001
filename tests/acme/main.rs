//! ACME HTTP-01 issuance against a real Pebble, with real Redis and certgate over real sockets.

#[path = "../common/mod.rs"]
mod common;

mod ari;
mod challenges;
mod on_demand;
mod revocation;

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use serde_json::{json, Value};

use certgate::certs::pem::leaf_info;
use common::pebble::{Pebble, PebbleOptions};
use common::tls::verify_chain;
use common::{free_port, wait_generation, with_pem, Certgate, Redis};

/// Redis, Pebble validating at `http_port`, and one certgate whose HTTP listener is there.
struct Env {
    redis: Redis,
    pebble: Pebble,
    certgate: Certgate,
}

async fn env_with(pebble_env: &[(&str, &str)], extra: &[(&str, &str)]) -> Env {
    env_with_profiles(pebble_env, extra, &[], &[]).await
}

async fn env_with_profiles(
    pebble_env: &[(&str, &str)],
    extra: &[(&str, &str)],
    extra_profiles: &[(&str, u64)],
    eab_keys: &[(&str, &str)],
) -> Env {
    let redis = Redis::start().await;
    let http_port = free_port();
    let pebble = Pebble::start(PebbleOptions {
        http_port,
        env: pebble_env,
        validity_seconds: None,
        extra_profiles,
        eab_keys,
        ..Default::default()
    })
    .await;
    let mut vars = common::base_env(&redis.url(), "acme:");
    vars.extend(pebble.certgate_env());
    vars.push(("HTTP_ADDR".into(), format!("127.0.0.1:{http_port}")));
    for (k, v) in extra {
        vars.retain(|(name, _)| name != k);
        vars.push((k.to_string(), v.to_string()));
    }
    let certgate = Certgate::start_with_env(vars).await;
    Env {
        redis,
        pebble,
        certgate,
    }
}

async fn issue(env: &Env, name: &str, domains: &[String], email: &str) -> (Value, Duration) {
    let started = Instant::now();
    let body = json!({ "cert_name": name, "domains": domains, "email": email });
    let r = env
        .certgate
        .admin()
        .post("/certificates/multi-domain", &body)
        .await
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.json());
    let status = wait_generation(&env.certgate.admin(), name, Duration::from_secs(300)).await;
    (status, started.elapsed())
}

/// Checks a completed certificate: chain verifies against Pebble's root for every name, SANs
/// equal the request, `expires_at` equals notAfter, and a key is stored.
async fn assert_issued(env: &Env, name: &str, domains: &[String]) {
    let cert = with_pem(&env.certgate.admin(), name).await;
    assert_eq!(cert["status"], "active", "{cert}");
    let chain = cert["fullchain_pem"].as_str().unwrap();
    assert!(cert["private_key_pem"]
        .as_str()
        .unwrap()
        .contains("PRIVATE KEY"));
    let root = env.pebble.issuing_root().await;
    assert!(root.contains("BEGIN CERTIFICATE"), "Pebble root: {root}");
    for domain in domains {
        verify_chain(chain, &root, domain).unwrap_or_else(|e| panic!("{domain}: {e}"));
    }
    let leaf = leaf_info(chain).unwrap();
    let mut sans = leaf.names.clone();
    sans.sort();
    let mut wanted = domains.to_vec();
    wanted.sort();
    assert_eq!(sans, wanted);
    assert_eq!(
        cert["expires_at"].as_str().unwrap(),
        certgate::timefmt::format(leaf.not_after)
    );
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}.example.com")).collect()
}

#[tokio::test]
async fn one_three_and_hundred_name_certificates() {
    let env = env_with(&[], &[]).await;
    for (name, n) in [("one", 1), ("three", 3), ("hundred", 100)] {
        let domains = names(&format!("{name}-"), n);
        let (status, took) = issue(&env, name, &domains, "ops@example.com").await;
        assert_eq!(status["status"], "completed", "{status}");
        assert_issued(&env, name, &domains).await;
        println!("issuance of {n} name(s) against Pebble took {took:?}");
    }
    // Every challenge token was removed.
    let keys: Vec<String> = env.redis.keys("acme:challenge:*").await;
    assert!(keys.is_empty(), "leftover tokens: {keys:?}");
}

#[tokio::test]
async fn simultaneous_orders_register_one_account() {
    // Pebble rejects 5 % of nonces by default, and a rejected request is logged too: counting
    // requests in its log needs every nonce accepted.
    let env = env_with(&[("PEBBLE_WFE_NONCEREJECT", "0")], &[]).await;
    let admin = env.certgate.admin();
    let mut requests = Vec::new();
    for name in ["first", "second"] {
        let admin = admin.clone();
        requests.push(tokio::spawn(async move {
            let body = json!({ "cert_name": name, "domain": format!("{name}.example.com"), "email": "same@example.com" });
            admin.post("/certificates/", &body).await.unwrap().status
        }));
    }
    for r in requests {
        assert_eq!(r.await.unwrap(), 202);
    }
    for name in ["first", "second"] {
        assert_eq!(
            wait_generation(&admin, name, Duration::from_secs(120)).await["status"],
            "completed"
        );
    }
    let registrations = env.pebble.log_text().matches("POST /sign-me-up").count();
    assert_eq!(registrations, 1, "Pebble log:\n{}", env.pebble.log_text());
    let accounts: Vec<String> = env.redis.keys("acme:acme:account:*").await;
    assert_eq!(
        accounts
            .iter()
            .filter(|k| !k.ends_with(":lock") && !k.ends_with(":info"))
            .count(),
        1,
        "{accounts:?}"
    );
    // Visible to the operator (what CAA accounturi pins), without any key material.
    let r = admin.get("/acme/accounts").await.unwrap();
    assert_eq!(r.status, 200);
    let listed = r.json();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["directory"], env.pebble.directory_url());
    assert_eq!(listed[0]["email"], "same@example.com");
    let url = listed[0]["account_url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("https://127.0.0.1:{}/", env.pebble.port)),
        "{url}"
    );
    let text = listed.to_string();
    assert!(!text.contains("key") && !text.contains("PRIVATE"), "{text}");
}

#[tokio::test]
async fn issuance_survives_nonce_rejection() {
    let env = env_with(&[("PEBBLE_WFE_NONCEREJECT", "30")], &[]).await;
    let domains = names("nonce-", 3);
    let (status, _) = issue(&env, "nonce", &domains, "ops@example.com").await;
    assert_eq!(status["status"], "completed", "{status}");
    assert_issued(&env, "nonce", &domains).await;
}

#[tokio::test]
async fn failed_validation_names_the_domain_and_stores_nothing() {
    let env = env_with(&[], &[]).await;
    env.pebble
        .set_a("unreachable.example.com", "127.0.0.2")
        .await;
    env.pebble.set_servfail("servfail.example.com").await;
    for (name, bad) in [
        ("unreach", "unreachable.example.com"),
        ("servfail", "servfail.example.com"),
    ] {
        let domains = vec![format!("ok-{name}.example.com"), bad.to_owned()];
        let (status, _) = issue(&env, name, &domains, "ops@example.com").await;
        assert_eq!(status["status"], "failed", "{status}");
        let message = status["message"].as_str().unwrap();
        assert!(message.contains(bad), "message names the domain: {message}");
        assert!(
            message.contains("urn:ietf:params:acme:error:"),
            "message has the CA's problem type: {message}"
        );
        let cert = with_pem(&env.certgate.admin(), name).await;
        assert_eq!(cert["status"], "failed");
        assert!(cert["last_error"].as_str().unwrap().contains(bad));
        assert!(
            cert.get("fullchain_pem").is_none() && cert.get("private_key_pem").is_none(),
            "{cert}"
        );
    }
    let keys: Vec<String> = env.redis.keys("acme:challenge:*").await;
    assert!(keys.is_empty(), "leftover tokens: {keys:?}");
}

#[tokio::test]
async fn order_through_a_validated_by_b() {
    let env = env_with(&[], &[]).await;
    // A second instance on the same Redis, with its own HTTP port that Pebble never calls.
    let mut vars = common::base_env(&env.redis.url(), "acme:");
    vars.extend(env.pebble.certgate_env());
    let a = Certgate::start_with_env(vars).await;
    let body =
        json!({ "cert_name": "via-a", "domain": "via-a.example.com", "email": "ops@example.com" });
    let r = a.admin().post("/certificates/", &body).await.unwrap();
    assert_eq!(r.status, 202);
    let status = wait_generation(&a.admin(), "via-a", Duration::from_secs(120)).await;
    assert_eq!(status["status"], "completed", "{status}");
    assert_issued(&env, "via-a", &["via-a.example.com".to_owned()]).await;
}

#[tokio::test]
async fn challenge_endpoint_rules() {
    let env = env_with(&[], &[]).await;
    let store = certgate::store::Store::connect(&env.redis.url(), "acme:").unwrap();
    store.wait_connected(Duration::from_secs(5)).await;
    let key_auth = certgate::secret::Secret::new("tok_en-1.thumbprint");
    store
        .put_challenge("tok_en-1", &key_auth, Duration::from_secs(60))
        .await
        .unwrap();
    let http = certgate::client::AdminClient::new(
        &format!("http://127.0.0.1:{}", env.pebble_http_port()),
        None,
    );

    let mut fetches = Vec::new();
    for _ in 0..3 {
        let http = http.clone();
        fetches.push(tokio::spawn(async move {
            http.get("/.well-known/acme-challenge/tok_en-1")
                .await
                .unwrap()
        }));
    }
    for f in fetches {
        let r = f.await.unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, Bytes::from_static(b"tok_en-1.thumbprint"));
        assert_eq!(r.headers["content-type"], "text/plain");
    }
    for path in [
        "/.well-known/acme-challenge/unknown",
        "/.well-known/acme-challenge/bad.token",
        "/.well-known/acme-challenge/..",
        "/.well-known/acme-challenge/../../etc/passwd",
        "/.well-known/acme-challenge/",
        &format!("/.well-known/acme-challenge/{}", "a".repeat(257)),
    ] {
        let r = http.get(path).await.unwrap();
        assert_eq!(r.status, 404, "{path}");
        assert!(
            r.headers.get("location").is_none(),
            "never redirected: {path}"
        );
    }
    let r = http
        .send_raw(
            Method::GET,
            "/some/page?x=1&y=two",
            &[("host", "Site.Example.com:80")],
            None,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 308);
    assert_eq!(
        r.headers["location"],
        "https://site.example.com/some/page?x=1&y=two"
    );
    let r = http
        .send_raw(Method::GET, "/", &[("host", "bad host!")], None)
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    let r = http.get("/health").await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, Bytes::from_static(b"healthy"));
}

impl Env {
    fn pebble_http_port(&self) -> u16 {
        self.certgate
            .env
            .iter()
            .find(|(k, _)| k == "HTTP_ADDR")
            .and_then(|(_, v)| v.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .unwrap()
    }
}

/// An ACME account this instance holds is written back when Redis lost it: the next order that
/// uses it stores it again (it used to live only in memory from then on), and no second account
/// is registered.
#[tokio::test]
async fn a_lost_acme_account_is_written_back_by_the_next_order() {
    let env = env_with(&[("PEBBLE_WFE_NONCEREJECT", "0")], &[]).await;
    let one = vec!["lost-one.example.com".to_owned()];
    assert_eq!(
        issue(&env, "lost-one", &one, "keep@example.com").await.0["status"],
        "completed"
    );
    // The credentials keys only (not the registration lock, not the operator-visible info).
    let accounts = |keys: Vec<String>| -> Vec<String> {
        keys.into_iter()
            .filter(|k| !k.ends_with(":lock") && !k.ends_with(":info"))
            .collect()
    };
    let stored = accounts(env.redis.keys("acme:acme:account:*").await);
    let stored: Vec<String> = stored
        .into_iter()
        .filter(|k| !k.ends_with(":info"))
        .collect();
    assert_eq!(stored.len(), 1, "{stored:?}");
    {
        use fred::prelude::{ClientLike, KeysInterface};
        let client = env.redis.client().await;
        let _: i64 = client.del(stored[0].as_str()).await.unwrap();
        let _ = client.quit().await;
    }
    let left = accounts(env.redis.keys("acme:acme:account:*").await);
    assert!(left.is_empty(), "{left:?}");
    let two = vec!["lost-two.example.com".to_owned()];
    assert_eq!(
        issue(&env, "lost-two", &two, "keep@example.com").await.0["status"],
        "completed"
    );
    assert_eq!(
        accounts(env.redis.keys("acme:acme:account:*").await),
        stored
    );
    let registrations = env.pebble.log_text().matches("POST /sign-me-up").count();
    assert_eq!(registrations, 1, "one account, reused");
}

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
    assert_eq!(refused.status, 400);
    let answer = refused.json();
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

/// Bulk onboarding: 1,000 single-name ACME certificates submitted at once all become active,
/// every request answered without a 5xx; time and peak memory printed for the notes.
#[tokio::test]
async fn a_thousand_certificates_onboard_at_once() {
    let env = env_with(&[("PEBBLE_WFE_NONCEREJECT", "0")], &[]).await;
    let admin = env.certgate.admin();
    let started = Instant::now();
    let submit: Vec<_> = (0..20)
        .map(|worker| {
            let admin = admin.clone();
            tokio::spawn(async move {
                for i in (worker..1000).step_by(20) {
                    let body = json!({ "cert_name": format!("bulk{i:04}"), "domain": format!("bulk{i:04}.example.com") });
                    let r = admin.post("/certificates/", &body).await.unwrap();
                    assert_eq!(r.status, 202, "{}", r.json());
                }
            })
        })
        .collect();
    for s in submit {
        s.await.unwrap();
    }
    let submitted = started.elapsed();
    common::wait_until("1000 active certificates", Duration::from_secs(240), || {
        let admin = admin.clone();
        async move {
            let m = admin.get("/metrics").await.unwrap();
            String::from_utf8_lossy(&m.body)
                .contains("certgate_certificates{status=\"active\"} 1000")
        }
    })
    .await;
    let pid = env.certgate.pid().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let peak = status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .unwrap_or("VmHWM: ?")
        .to_owned();
    println!(
        "1000 certificates: submitted in {submitted:?}, all active after {:?}; {peak}",
        started.elapsed()
    );
    let failed = common::listed(&admin, "/certificates/?limit=10000", "status").await;
    assert_eq!(failed.len(), 1000);
    assert!(failed.iter().all(|s| s == "active"));
}
