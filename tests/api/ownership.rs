//! Tokens, ownership and hostname claims; the generated admin token.

use super::*;

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
    let store = certgate::store::Store::connect(&redis.url(), "t:")
        .unwrap()
        .writer();
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
            ..Default::default()
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
