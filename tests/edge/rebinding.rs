//! The connect-time guard: a route a non-admin token wrote has its upstream's addresses checked
//! at every new connection, so a name that resolves inward by then gets `502`.

use super::*;

fn route_to(upstream: &str, restricted: bool) -> certgate::routes::Route {
    let now = certgate::timefmt::now_string();
    certgate::routes::Route {
        hostname: if restricted {
            "tenant.test"
        } else {
            "admin.test"
        }
        .into(),
        upstream: upstream.into(),
        cert_name: None,
        https_redirect: false,
        preserve_host: true,
        restricted_upstream: restricted,
        owner_token_hash: "sha256:00".into(),
        created_at: now.clone(),
        updated_at: now,
        ..Default::default()
    }
}

#[tokio::test]
async fn a_non_admin_route_that_resolves_inward_is_refused_at_connect_time() {
    let redis = Redis::start().await;
    let up = upstream::start("inside").await;
    // `localhost` stands for a name that passed the creation check and resolves inward now
    // (written to the store directly, as it would stand after DNS changed under it); the
    // instance loads it at start.
    let inward = format!("http://localhost:{}", up.addr.port());
    let store = certgate::store::Store::connect(&redis.url(), "e:")
        .unwrap()
        .writer();
    store.wait_connected(Duration::from_secs(5)).await;
    store.put_route(&route_to(&inward, true)).await.unwrap();
    store.put_route(&route_to(&inward, false)).await.unwrap();
    let cg = Certgate::start(&redis.url(), "e:", &[]).await;
    assert_eq!(
        get(cg.https_port, "admin.test", "admin.test", "/")
            .await
            .status,
        200,
        "an admin route may reach inside"
    );
    let refused = get(cg.https_port, "tenant.test", "tenant.test", "/").await;
    assert_eq!(refused.status, 502);
    assert!(
        cg.log_text()
            .contains("resolves inward; connection refused"),
        "a log line names it"
    );

    // A non-admin token's new route is marked for the check.
    let token = common::requests::create_token(&cg.admin(), "tenant").await;
    let tenant = cg.client(Some(&token));
    let created = tenant
        .post(
            "/proxies/",
            &json!({ "hostname": "public.test", "upstream": "http://192.0.2.10:8080" }),
        )
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.json());
    assert_eq!(created.json()["restricted_upstream"], true);
    let by_admin = cg.admin().get("/proxies/admin.test").await.unwrap().json();
    assert!(by_admin.get("restricted_upstream").is_none(), "{by_admin}");
}

/// The scenario end to end: a real DNS server (BIND, through `UPSTREAM_DNS_SERVER`)
/// answers a public address while a non-admin token creates its route, then is updated to
/// answer `127.0.0.1` — the tenant's requests are refused at connect time, while an admin
/// route to the same name now reaches inside (so the new answer is really being served).
#[tokio::test]
async fn a_name_rebound_to_loopback_after_creation_is_refused_at_connect_time() {
    let bind = common::bind::Bind::start_with("rebind.test", "app IN A 192.0.2.10\n").await;
    let redis = Redis::start().await;
    let dns = bind.address();
    let cg = Certgate::start(&redis.url(), "e:", &[("UPSTREAM_DNS_SERVER", &dns)]).await;
    let up = upstream::start("inside").await;
    let upstream_url = format!("http://app.rebind.test:{}", up.addr.port());
    let token = common::requests::create_token(&cg.admin(), "tenant").await;
    let tenant = cg.client(Some(&token));

    // At creation the name resolves to a public address: the tenant's route is accepted.
    let created = tenant
        .post(
            "/proxies/",
            &json!({ "hostname": "tenant.test", "upstream": upstream_url, "https_redirect": false }),
        )
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.json());
    assert_eq!(created.json()["restricted_upstream"], true);
    let admin_route = cg
        .admin()
        .post(
            "/proxies/",
            &json!({ "hostname": "admin.test", "upstream": upstream_url, "https_redirect": false }),
        )
        .await
        .unwrap();
    assert_eq!(admin_route.status, 201);
    // The creation check asks the same DNS server: a name it answers inward is refused.
    let inward = tenant
        .post(
            "/proxies/",
            &json!({ "hostname": "other.test", "upstream": format!("http://inside.rebind.test:{}", up.addr.port()) }),
        )
        .await
        .unwrap();
    assert_eq!(inward.status, 403, "{}", inward.json());

    // The name is rebound to loopback.
    bind.set_a("app.rebind.test", std::net::Ipv4Addr::LOCALHOST)
        .await;
    let call = |host: &'static str| async move {
        common::requests::plain_get(cg.http_port, host)
            .await
            .status
            .as_u16()
    };
    assert_eq!(call("admin.test").await, 200, "the new answer is served");
    assert_eq!(call("tenant.test").await, 502, "refused at connect time");
    assert!(
        cg.log_text()
            .contains("resolves inward; connection refused"),
        "a log line names it"
    );
}
