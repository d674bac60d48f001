//! Every documented error of the API, and configuration errors at start-up.

use super::*;

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
        .contains("dns-01"));
    let zoned = post(json!({ "cert_name": "ok", "domain": "fe80::1%eth0" })).await;
    assert_eq!(field_of(&zoned), "domain");
    assert!(zoned.json()["detail"].as_str().unwrap().contains("zone id"));
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

    // Arrays where the schema has objects: refused, naming the field, not taken field by field
    // as serde's derived structs would.
    let route = |extra: Value| {
        let admin = admin.clone();
        async move {
            let mut body = json!({ "hostname": "arrays.test", "upstream": "http://127.0.0.1:9" });
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            admin.post("/proxies/", &body).await.unwrap()
        }
    };
    for field in ["request_headers", "hsts", "rate_limit", "health_check"] {
        let r = route(json!({ field: [] })).await;
        assert_eq!(field_of(&r), field);
        assert!(r.json()["detail"]
            .as_str()
            .unwrap()
            .contains("expected an object"));
    }
    let r = route(json!({ "upstreams": [["http://127.0.0.1:9", 1]] })).await;
    assert!(field_of(&r).starts_with("upstreams"), "{}", r.json());
    let r = admin.post("/tokens/", &json!(["ops"])).await.unwrap();
    assert_eq!(r.status, 400, "{}", r.json());
    assert_eq!(admin.get("/proxies/arrays.test").await.unwrap().status, 404);

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
    let names = listed(&admin, "/certificates/", "cert_name").await;
    assert_eq!(names, vec!["dup"]);
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
