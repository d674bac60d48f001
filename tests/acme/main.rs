//! ACME HTTP-01 issuance against a real Pebble, with real Redis and certgate over real sockets.

#[path = "../common/mod.rs"]
mod common;

mod ari;
mod challenges;
mod dns01;
mod dns_persist;
mod dns_providers;
mod on_demand;
mod profiles;
mod revocation;
mod scale;

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
    let store = certgate::store::Store::connect(&env.redis.url(), "acme:")
        .unwrap()
        .writer();
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
/// The stored value of a Redis string.
async fn stored_value(redis: &Redis, key: &str) -> String {
    use fred::prelude::KeysInterface;
    let value: Option<String> = redis.client().await.get(key).await.unwrap();
    value.unwrap_or_default()
}

#[tokio::test]
async fn a_lost_acme_account_is_written_back_by_the_next_order() {
    // With keys sealed at rest: the account key and the certificate key reach Redis sealed,
    // and the written-back account is sealed too.
    let dir = common::TempDir::new("acme-keys");
    let key_file = dir.0.join("keys");
    std::fs::write(
        &key_file,
        "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
    )
    .unwrap();
    let sealed = [("KEY_ENCRYPTION_KEYS", key_file.to_str().unwrap())];
    let env = env_with(&[("PEBBLE_WFE_NONCEREJECT", "0")], &sealed).await;
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
    let account = stored_value(&env.redis, &stored[0]).await;
    assert!(
        account.starts_with("sealed:v1:k1:") && !account.contains("PRIVATE"),
        "{account}"
    );
    {
        use fred::prelude::HashesInterface;
        let key: Option<String> = env
            .redis
            .client()
            .await
            .hget("acme:cert:{lost-one}", "private_key")
            .await
            .unwrap();
        assert!(key.unwrap_or_default().starts_with("sealed:v1:k1:"));
    }
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
    assert!(stored_value(&env.redis, &stored[0])
        .await
        .starts_with("sealed:v1:k1:"));
    assert_generation_completes_with_key(&env, "lost-two").await;
}

/// The certificate's private key opens (the API shows it as PEM).
async fn assert_generation_completes_with_key(env: &Env, name: &str) {
    let cert = with_pem(&env.certgate.admin(), name).await;
    assert!(
        cert["private_key_pem"]
            .as_str()
            .unwrap_or_default()
            .contains("PRIVATE KEY"),
        "{cert}"
    );
}
