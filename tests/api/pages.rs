//! Paginated lists: `GET /certificates/?limit=&cursor=` walks every name once, in order, while
//! certificates are added; the CLI follows the `Link` header.

use super::*;
use common::wait_until;

/// A failed self-signed certificate written straight to the store.
async fn put(store: &certgate::store::StoreWriter, name: &str) {
    let record = common::records::failed(name, &format!("{name}.pages.test"));
    common::records::create_failed(store, &record, "written by the test").await;
}

fn next_link(r: &certgate::client::ApiResponse) -> Option<String> {
    let link = r.headers.get("link")?.to_str().unwrap().to_owned();
    let target = link.split_once('>')?.0.trim_start_matches('<').to_owned();
    assert!(link.ends_with("rel=\"next\""), "{link}");
    Some(target)
}

#[tokio::test]
async fn certificates_are_listed_a_page_at_a_time() {
    let (redis, cg) = instance(&[]).await;
    let store = certgate::store::Store::connect(&redis.url(), "t:")
        .unwrap()
        .writer();
    store.wait_connected(Duration::from_secs(5)).await;
    let originals: Vec<String> = (0..2500).map(|i| format!("m{i:04}")).collect();
    for name in &originals {
        put(&store, name).await;
    }
    let admin = cg.admin();
    let mut seen: Vec<String> = Vec::new();
    let mut path = Some("/certificates/?limit=1000".to_owned());
    let mut pages = 0;
    while let Some(current) = path.take() {
        let r = admin.get(&current).await.unwrap();
        assert_eq!(r.status, 200, "{}", r.json());
        let page: Vec<String> = r
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["cert_name"].as_str().unwrap().to_owned())
            .collect();
        assert!(page.len() <= 1000);
        seen.extend(page);
        pages += 1;
        if pages == 1 {
            // Added during the walk: before the cursor (not seen) and after it (seen).
            put(&store, "a-early").await;
            put(&store, "z-late").await;
        }
        path = next_link(&r);
    }
    assert_eq!(pages, 3);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "in name order");
    sorted.dedup();
    assert_eq!(sorted.len(), seen.len(), "every name once");
    for name in &originals {
        assert!(seen.contains(name), "{name} missing");
    }
    assert!(seen.contains(&"z-late".to_owned()) && !seen.contains(&"a-early".to_owned()));

    // The CLI follows the links: every certificate in one array.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_certgate"))
        .args(["cert", "list"])
        .env_clear()
        .env("CERTGATE_ADMIN_URL", cg.admin_url())
        .env("CERTGATE_TOKEN", ADMIN_TOKEN)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 2502);

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=10001", "limit"),
        ("limit=x", "limit"),
        ("cursor=%%%", "cursor"),
        ("cursor=Zm9vIGJhcg%3D%3D", "cursor"),
        ("cursor=abcde", "cursor"),
    ] {
        let r = admin.get(&format!("/certificates/?{query}")).await.unwrap();
        assert_eq!(r.status, 400, "{query}");
        assert_eq!(r.json()["field"], field, "{query}: {}", r.json());
    }
    // Any base64url text is a position: the names after the one it encodes.
    let cursor = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, "m2400");
    let after = admin
        .get(&format!("/certificates/?limit=10&cursor={cursor}"))
        .await
        .unwrap();
    assert_eq!(after.status, 200);
    let listed = after.json();
    let first = listed[0]["cert_name"].as_str();
    assert_eq!(first, Some("m2401"), "{listed}");
}

#[tokio::test]
async fn routes_are_listed_a_page_at_a_time() {
    let (_redis, cg) = instance(&[]).await;
    let admin = cg.admin();
    for i in 0..25 {
        let body =
            json!({ "hostname": format!("h{i:02}.pages.test"), "upstream": "http://127.0.0.1:9" });
        assert_eq!(admin.post("/proxies/", &body).await.unwrap().status, 201);
    }
    let mut seen = Vec::new();
    let mut path = Some("/proxies/?limit=10".to_owned());
    let mut pages = 0;
    while let Some(current) = path.take() {
        let r = admin.get(&current).await.unwrap();
        assert_eq!(r.status, 200, "{}", r.json());
        for route in r.json().as_array().unwrap() {
            seen.push(route["hostname"].as_str().unwrap().to_owned());
        }
        pages += 1;
        path = next_link(&r);
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..25).map(|i| format!("h{i:02}.pages.test")).collect();
    assert_eq!(seen, expected);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_certgate"))
        .args(["proxy", "list"])
        .env_clear()
        .env("CERTGATE_ADMIN_URL", cg.admin_url())
        .env("CERTGATE_TOKEN", ADMIN_TOKEN)
        .output()
        .unwrap();
    assert!(out.status.success());
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 25);
}

/// The names of one page, and the next page's path.
async fn walk(client: &certgate::client::AdminClient, first: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut path = Some(first.to_owned());
    while let Some(current) = path.take() {
        let r = client.get(&current).await.unwrap();
        assert_eq!(r.status, 200, "{current}: {}", r.json());
        seen.extend(
            r.json()
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["cert_name"].as_str().unwrap().to_owned()),
        );
        path = next_link(&r);
    }
    seen
}

#[tokio::test]
async fn lists_filter_by_status_and_owner_in_redis() {
    let (redis, cg) = instance(&[]).await;
    let store = certgate::store::Store::connect(&redis.url(), "t:")
        .unwrap()
        .writer();
    store.wait_connected(Duration::from_secs(5)).await;
    for name in ["f1", "f2", "f3"] {
        put(&store, name).await;
    }
    let admin = cg.admin();
    let token = common::requests::create_token(&admin, "tenant").await;
    let tenant = cg.client(Some(&token));
    create_self_signed(&admin, "a1", &["a1.pages.test"]).await;
    create_self_signed(&admin, "a2", &["a2.pages.test"]).await;
    create_self_signed(&tenant, "t1", &["t1.pages.test"]).await;

    // Pages of a filter follow their links and keep the filter.
    assert_eq!(
        walk(&admin, "/certificates/?status=failed&limit=2").await,
        ["f1", "f2", "f3"]
    );
    assert_eq!(
        walk(&admin, "/certificates/?status=active&limit=1").await,
        ["a1", "a2", "t1"]
    );
    assert_eq!(walk(&tenant, "/certificates/?owner=me").await, ["t1"]);
    assert_eq!(
        walk(&admin, "/certificates/?owner=admin&limit=1").await,
        ["a1", "a2"]
    );
    assert_eq!(walk(&admin, "/certificates/?owner=tenant").await, ["t1"]);

    // The indexes follow the writes: a deleted certificate leaves both.
    assert_eq!(admin.delete("/certificates/a1").await.unwrap().status, 204);
    assert_eq!(
        walk(&admin, "/certificates/?status=active").await,
        ["a2", "t1"]
    );
    assert_eq!(walk(&admin, "/certificates/?owner=admin").await, ["a2"]);
    // …and the start-up scan rebuilds them after they are lost.
    let client = redis.client().await;
    for key in ["t:certs:status:failed", "t:certs:status:active"] {
        let _: i64 = fred::prelude::KeysInterface::del(&client, key)
            .await
            .unwrap();
    }
    let mut cg = cg;
    cg.restart().await;
    let admin = cg.admin();
    wait_until("the indexes rebuilt", Duration::from_secs(10), || async {
        walk(&admin, "/certificates/?status=failed").await.len() == 3
    })
    .await;
    assert_eq!(
        walk(&admin, "/certificates/?status=active").await,
        ["a2", "t1"]
    );

    // Both filters: what matches both, the filters repeated in the links.
    assert_eq!(
        walk(&admin, "/certificates/?status=active&owner=admin&limit=1").await,
        ["a2"]
    );
    assert!(walk(&tenant, "/certificates/?status=failed&owner=me")
        .await
        .is_empty());
    for (query, status, field) in [
        ("status=broken", 400, Some("status")),
        ("owner=nobody", 409, Some("owner")),
    ] {
        let r = admin.get(&format!("/certificates/?{query}")).await.unwrap();
        assert_eq!(r.status, status, "{query}: {}", r.json());
        assert_eq!(r.json()["field"].as_str(), field, "{query}");
    }
    let tenant = cg.client(Some(&token));
    let r = tenant.get("/certificates/?owner=admin").await.unwrap();
    assert_eq!(
        r.status, 403,
        "another owner's list is the admin's to ask for"
    );
}
