//! The lifecycle core end to end: real redis-server, real certgate processes, real sockets.

mod common;

use std::time::Duration;

use bytes::Bytes;
use http::Method;
use serde_json::{json, Value};

use certgate::certs::pem::leaf_info;
use common::{create_self_signed, wait_generation, Certgate, Redis, ADMIN_TOKEN};

async fn instance(extra: &[(&str, &str)]) -> (Redis, Certgate) {
    let redis = Redis::start().await;
    let cg = Certgate::start(&redis.url(), "t:", extra).await;
    (redis, cg)
}

async fn new_token(cg: &Certgate, name: &str) -> String {
    let r = cg
        .admin()
        .post("/tokens/", &json!({ "name": name }))
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.json());
    r.json()["token"].as_str().unwrap().to_owned()
}

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

    let cert = admin
        .get("/certificates/web?pem=true")
        .await
        .unwrap()
        .json();
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
    let renewed = admin
        .get("/certificates/web?pem=true")
        .await
        .unwrap()
        .json();
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
    let cert = admin
        .get("/certificates/multi?pem=true")
        .await
        .unwrap()
        .json();
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
async fn every_documented_error() {
    let (_redis, cg) = instance(&[]).await;
    let admin = cg.admin();
    let field_of = |r: &certgate::client::ApiResponse| {
        assert_eq!(r.status, 400, "{}", r.json());
        r.json()["field"].as_str().unwrap_or_default().to_owned()
    };
    let post = |body: Value| {
        let admin = admin.clone();
        async move { admin.post("/certificates/", &body).await.unwrap() }
    };
    assert_eq!(
        field_of(&post(json!({ "cert_name": "Bad Name", "domain": "a.test" })).await),
        "cert_name"
    );
    assert_eq!(
        field_of(&post(json!({ "cert_name": "multi-domain", "domain": "a.test" })).await),
        "cert_name"
    );
    assert_eq!(
        field_of(&post(json!({ "cert_name": "ok", "domain": "bad_domain!.test" })).await),
        "domain"
    );
    assert_eq!(
        field_of(&post(json!({ "cert_name": "ok", "domain": "a.test", "colour": "red" })).await),
        "colour"
    );
    assert_eq!(
        field_of(&post(json!({ "cert_name": "ok", "domain": "a.test", "issuer": "nope" })).await),
        "issuer"
    );
    assert_eq!(
        field_of(
            &post(json!({ "cert_name": "ok", "domain": "a.test", "email": "not-an-email" })).await
        ),
        "email"
    );
    assert_eq!(
        field_of(&post(json!({ "cert_name": "ok" })).await),
        "domain"
    );
    let wildcard = post(json!({ "cert_name": "ok", "domain": "*.a.test" })).await;
    assert_eq!(field_of(&wildcard), "domain");
    assert!(wildcard.json()["detail"]
        .as_str()
        .unwrap()
        .contains("DNS-01"));
    let ip = post(json!({ "cert_name": "ok", "domain": "192.0.2.1" })).await;
    assert!(ip.json()["detail"].as_str().unwrap().contains("IP address"));
    let many: Vec<String> = (0..101).map(|i| format!("h{i}.a.test")).collect();
    let r = admin
        .post(
            "/certificates/multi-domain",
            &json!({ "cert_name": "ok", "domains": many }),
        )
        .await
        .unwrap();
    assert_eq!(field_of(&r), "domains");
    let r = admin.post("/certificates/", &json!({ "cert_name": "ok", "domain": "a.test", "acme_directory_url": "http://x.test/dir" })).await.unwrap();
    assert_eq!(field_of(&r), "acme_directory_url");

    // Malformed JSON.
    let r = admin
        .send_raw(
            Method::POST,
            "/certificates/",
            &[],
            Some(Bytes::from_static(b"{\"cert_name\":")),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "malformed_json");

    // Over 64 KiB.
    let big = format!(
        "{{\"cert_name\":\"big\",\"domain\":\"a.test\",\"email\":\"{}\"}}",
        "x".repeat(70 * 1024)
    );
    let r = admin
        .send_raw(Method::POST, "/certificates/", &[], Some(Bytes::from(big)))
        .await
        .unwrap();
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["error"], "payload_too_large");

    // 401: no token, unknown token; with the challenge header.
    for client in [
        cg.client(None),
        cg.client(Some("unknown-token-unknown-token")),
    ] {
        let r = client.get("/certificates/").await.unwrap();
        assert_eq!(r.status, 401);
        assert_eq!(r.headers["www-authenticate"], "Bearer");
        assert_eq!(r.json()["error"], "unauthorized");
    }

    // 404 and 409.
    assert_eq!(
        admin.get("/certificates/nothing").await.unwrap().status,
        404
    );
    assert_eq!(
        admin
            .get("/certificates/nothing/status")
            .await
            .unwrap()
            .status,
        404
    );
    assert_eq!(
        admin
            .post("/certificates/nothing/renew", &json!({}))
            .await
            .unwrap()
            .status,
        404
    );
    create_self_signed(&admin, "dup", &["dup.test"]).await;
    let r = admin
        .post(
            "/certificates/",
            &json!({ "cert_name": "dup", "domain": "other.test", "issuer": "self-signed" }),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["error"], "conflict");

    // Nothing half-written by the refused requests.
    let names: Vec<String> = admin
        .get("/certificates/")
        .await
        .unwrap()
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cert_name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, vec!["dup"]);
}

#[tokio::test]
async fn ownership_and_hostname_claims() {
    let (redis, cg) = instance(&[]).await;
    let admin = cg.admin();
    let a = cg.client(Some(&new_token(&cg, "team-a").await));
    let b = cg.client(Some(&new_token(&cg, "team-b").await));

    create_self_signed(&a, "a-cert", &["a.test"]).await;

    // B may read the record but not its owner hash or key, and may not renew or delete it.
    let seen_by_b = b.get("/certificates/a-cert").await.unwrap();
    assert_eq!(seen_by_b.status, 200);
    assert!(seen_by_b.json().get("owner_token_hash").is_none());
    assert!(b.get("/certificates/").await.unwrap().json()[0]
        .get("owner_token_hash")
        .is_none());
    assert_eq!(
        b.get("/certificates/a-cert?pem=true").await.unwrap().status,
        403
    );
    assert_eq!(
        b.post("/certificates/a-cert/renew", &json!({}))
            .await
            .unwrap()
            .status,
        403
    );
    assert_eq!(b.delete("/certificates/a-cert").await.unwrap().status, 403);

    // B may not claim A's hostname; A may name it again; the admin may too.
    let r = b
        .post(
            "/certificates/",
            &json!({ "cert_name": "b-cert", "domain": "a.test", "issuer": "self-signed" }),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 403);
    assert!(r.json()["detail"].as_str().unwrap().contains("a.test"));
    assert_eq!(
        b.get("/certificates/b-cert").await.unwrap().status,
        404,
        "no half-written record"
    );
    let r = a
        .post(
            "/certificates/",
            &json!({ "cert_name": "a-cert-2", "domain": "a.test", "issuer": "self-signed" }),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 202);
    wait_generation(&a, "a-cert-2", Duration::from_secs(30)).await;

    // Non-admin tokens may not choose the ACME directory; nor manage tokens.
    let r = b.post("/certificates/", &json!({ "cert_name": "x", "domain": "x.test", "acme_directory_url": "https://127.0.0.1:9/dir" })).await.unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(b.get("/tokens/").await.unwrap().status, 403);
    assert_eq!(
        b.post("/tokens/", &json!({ "name": "sneaky" }))
            .await
            .unwrap()
            .status,
        403
    );

    // A sees its owner hash and key; the admin sees everything.
    let own = a.get("/certificates/a-cert?pem=true").await.unwrap().json();
    assert!(own["private_key_pem"]
        .as_str()
        .unwrap()
        .contains("PRIVATE KEY"));
    let owner_hash = own["owner_token_hash"].as_str().unwrap().to_owned();
    let tokens = admin.get("/tokens/").await.unwrap().json();
    assert!(tokens
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["name"] == "team-a" && t["token_hash"] == owner_hash.as_str()));
    assert!(
        !tokens.to_string().contains("cg_"),
        "tokens are never listed"
    );
    assert_eq!(
        admin
            .get("/certificates/a-cert?pem=true")
            .await
            .unwrap()
            .status,
        200
    );

    // A route using the certificate blocks its deletion unless forced.
    let store = certgate::store::Store::connect(&redis.url(), "t:").unwrap();
    store.wait_connected(Duration::from_secs(5)).await;
    let now = certgate::timefmt::now_string();
    store
        .put_route(&certgate::routes::Route {
            hostname: "a.test".into(),
            upstream: "http://127.0.0.1:9".into(),
            cert_name: Some("a-cert".into()),
            https_redirect: true,
            preserve_host: true,
            owner_token_hash: owner_hash.clone(),
            created_at: now.clone(),
            updated_at: now,
        })
        .await
        .unwrap();
    let r = a.delete("/certificates/a-cert").await.unwrap();
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["routes"], json!(["a.test"]));
    assert_eq!(
        admin
            .delete("/certificates/a-cert?force=true")
            .await
            .unwrap()
            .status,
        204
    );

    // After A deletes its last use of a.test, the hostname is free for B.
    assert_eq!(
        a.delete("/certificates/a-cert-2").await.unwrap().status,
        204
    );
    store.delete_route("a.test").await.unwrap();
    let r = b
        .post(
            "/certificates/",
            &json!({ "cert_name": "b-cert", "domain": "a.test", "issuer": "self-signed" }),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.json());

    // A deleted token no longer authenticates.
    assert_eq!(admin.delete("/tokens/team-a").await.unwrap().status, 204);
    assert_eq!(a.get("/certificates/").await.unwrap().status, 401);
    assert_eq!(admin.delete("/tokens/team-a").await.unwrap().status, 404);
}

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
        let status = wait_generation(&admin, &format!("k{i}"), Duration::from_secs(120)).await;
        assert_eq!(status["status"], "completed", "k{i}: {status}");
        assert_eq!(
            admin
                .get(&format!("/certificates/k{i}"))
                .await
                .unwrap()
                .json()["status"],
            "active"
        );
    }
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

#[tokio::test]
async fn redis_outage_gives_503_then_recovers() {
    let (mut redis, cg) = instance(&[]).await;
    let admin = cg.admin();
    create_self_signed(&admin, "before", &["before.test"]).await;
    redis.stop();
    let r = admin.get("/certificates/").await.unwrap();
    assert_eq!(r.status, 503);
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

#[tokio::test]
async fn invalid_configuration_exits_2_naming_the_variable() {
    for (name, value) in [
        ("RSA_KEY_SIZE", "1000"),
        ("ADMIN_TOKEN", "too-short"),
        ("CERT_GEN_MAX_WORKERS", "many"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_certgate"))
            .arg("serve")
            .env(name, value)
            .env("REDIS_URL", "redis://127.0.0.1:9")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(name), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(!stderr.contains("too-short"), "the token is not echoed");
    }
}

#[tokio::test]
async fn generated_admin_token_is_printed_once_and_works() {
    let redis = Redis::start().await;
    let mut env = common::base_env(&redis.url(), "gen:");
    env.retain(|(k, _)| k != "ADMIN_TOKEN");
    let first = Certgate::start_with_env(env.clone()).await;
    let find = || {
        first
            .log_text()
            .lines()
            .find_map(|l| l.split("store it now): ").nth(1))
            .map(str::to_owned)
    };
    common::wait_until(
        "the generated token on stderr",
        Duration::from_secs(10),
        || {
            let found = find().is_some();
            async move { found }
        },
    )
    .await;
    let token = find().unwrap();
    let client = first.client(Some(&token));
    assert_eq!(
        client.get("/tokens/").await.unwrap().status,
        200,
        "the generated token is the admin's"
    );
    let second = Certgate::start_with_env(env).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !second.log_text().contains("store it now"),
        "printed only at the first start"
    );
    assert_eq!(
        second
            .client(Some(&token))
            .get("/tokens/")
            .await
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        second
            .client(Some(ADMIN_TOKEN))
            .get("/tokens/")
            .await
            .unwrap()
            .status,
        401
    );
}

#[tokio::test]
async fn cli_prints_json_and_fails_with_one_line() {
    let (_redis, cg) = instance(&[]).await;
    let run = |args: &[&str], token: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_certgate"))
            .args(args)
            .env_clear()
            .env("CERTGATE_ADMIN_URL", cg.admin_url())
            .env("CERTGATE_TOKEN", token)
            .output()
            .unwrap()
    };
    let out = run(
        &[
            "cert",
            "create",
            "cli",
            "cli.test,www.cli.test",
            "--issuer",
            "self-signed",
        ],
        ADMIN_TOKEN,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cert: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cert["status"], "active");
    assert_eq!(cert["domains"], json!(["cli.test", "www.cli.test"]));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("completed"),
        "progress on stderr"
    );

    let out = run(&["cert", "show", "cli", "--pem"], ADMIN_TOKEN);
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(shown["private_key_pem"]
        .as_str()
        .unwrap()
        .contains("PRIVATE KEY"));

    let out = run(&["cert", "list"], "wrong-token-wrong-token-wrong");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("401"), "{stderr}");
    assert!(out.stdout.is_empty());

    let out = run(&["token", "create", "ci"], ADMIN_TOKEN);
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(created["token"].as_str().unwrap().starts_with("cg_"));

    let out = run(
        &[
            "cert",
            "create",
            "bad name",
            "x.test",
            "--issuer",
            "self-signed",
        ],
        ADMIN_TOKEN,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cert_name"));

    let out = run(&["cert", "delete", "cli"], ADMIN_TOKEN);
    assert!(out.status.success());
    let out = run(&["cert", "status", "cli"], ADMIN_TOKEN);
    assert!(!out.status.success(), "status is gone with the certificate");
}

#[tokio::test]
async fn just_cert_recipes_as_a_user_runs_them() {
    let just = common::require_binary("just", "pip install rust-just (or cargo install just)");
    let (_redis, cg) = instance(&[]).await;
    let repo = env!("CARGO_MANIFEST_DIR");
    let run = |args: &[&str]| {
        std::process::Command::new(&just)
            .args(args)
            .current_dir(repo)
            .env("CERTGATE_ADMIN_URL", cg.admin_url())
            .env("CERTGATE_BIN", env!("CARGO_BIN_EXE_certgate"))
            .env("CERTGATE_ISSUER", "self-signed")
            .env_remove("ADMIN_TOKEN")
            .env_remove("CERTGATE_TOKEN")
            .output()
            .unwrap()
    };
    let out = run(&[
        "cert",
        "create",
        "recipe",
        "recipe.test,www.recipe.test",
        "false",
        "ops@recipe.test",
        ADMIN_TOKEN,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cert: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cert["status"], "active");
    assert_eq!(cert["email"], "ops@recipe.test");

    let out = run(&["cert", "list", ADMIN_TOKEN]);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["cert_name"], "recipe");

    let out = run(&["cert", "show", "recipe", "true", ADMIN_TOKEN]);
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(shown["fullchain_pem"]
        .as_str()
        .unwrap()
        .contains("BEGIN CERTIFICATE"));

    let out = run(&["cert", "show", "recipe"]);
    assert!(!out.status.success(), "no token: refused");

    let out = run(&["cert", "delete", "recipe", "false", ADMIN_TOKEN]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        cg.admin().get("/certificates/recipe").await.unwrap().status,
        404
    );
}

#[tokio::test]
async fn logs_never_hold_keys_or_tokens() {
    let (_redis, cg) = instance(&[("LOG_LEVEL", "debug")]).await;
    let admin = cg.admin();
    let token = new_token(&cg, "leak-check").await;
    create_self_signed(&admin, "secret", &["secret.test"]).await;
    let key = admin
        .get("/certificates/secret?pem=true")
        .await
        .unwrap()
        .json()["private_key_pem"]
        .as_str()
        .unwrap()
        .to_owned();
    let log = cg.log_text();
    let key_body: String = key.lines().nth(1).unwrap().to_owned();
    assert!(!log.contains(&key_body));
    assert!(!log.contains(&token));
    assert!(!log.contains(ADMIN_TOKEN));
}
