//! Certificate selection by SNI and the bounded, on-demand cache.

use super::*;

#[tokio::test]
async fn sni_picks_exact_wildcard_and_default_over_h1_and_h2() {
    let (_redis, cg) = instance(&[]).await;
    let up = upstream::start("one").await;
    create_self_signed(&cg.admin(), "a", &["a.test"]).await;
    create_self_signed(&cg.admin(), "b", &["b.test"]).await;
    create_self_signed(&cg.admin(), "wild", &["*.w.test"]).await;
    route(&cg, "a.test", &up.url(), None).await;
    route(&cg, "x.w.test", &up.url(), None).await;
    let (a, b, wild) = (
        chain_of(&cg, "a").await,
        chain_of(&cg, "b").await,
        chain_of(&cg, "wild").await,
    );

    for (sni, expected) in [
        ("a.test", &a),
        ("b.test", &b),
        ("x.w.test", &wild),
        ("y.w.test", &wild),
    ] {
        let tls = connect(cg.https_port, sni, &[b"http/1.1"]).await;
        assert_eq!(served_leaf(&tls), leaf_der(expected), "{sni}");
    }
    let tls = connect(cg.https_port, "unknown.test", &[b"http/1.1"]).await;
    let default = served_leaf(&tls);
    assert!(
        ![&a, &b, &wild].iter().any(|c| leaf_der(c) == default),
        "unknown names get the default certificate"
    );
    let info = certgate::certs::pem::leaf_info_der(&default).unwrap();
    assert_eq!(info.names, vec!["certgate.invalid"]);

    // HTTP/1.1 and HTTP/2 both reach the upstream.
    let answer = get(cg.https_port, "a.test", "a.test", "/h1?q=1").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["uri"], "/h1?q=1");
    let tls = connect(cg.https_port, "x.w.test", &[b"h2"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let mut h2 = http2(tls).await;
    let req = Request::get("https://x.w.test/h2")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let answer = collect(h2.send_request(req).await.unwrap()).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["uri"], "/h2");
    assert_eq!(answer.json()["headers"]["host"], "x.w.test");
}

#[tokio::test]
async fn bounded_cache_loads_on_demand_and_remembers_unknown_names() {
    let (redis, cg) = instance(&[("CERT_CACHE_SIZE", "2")]).await;
    let names: Vec<String> = (0..5).map(|i| format!("c{i}")).collect();
    for n in &names {
        create_self_signed(&cg.admin(), n, &[&format!("{n}.test")]).await;
    }
    for _round in 0..2 {
        for n in &names {
            let tls = connect(cg.https_port, &format!("{n}.test"), &[b"http/1.1"]).await;
            assert_eq!(served_leaf(&tls), leaf_der(&chain_of(&cg, n).await), "{n}");
        }
    }
    let lookups = || async { hkeys_calls(&redis).await };
    let _ = connect(cg.https_port, "nobody.test", &[b"http/1.1"]).await;
    let after_first = lookups().await;
    for _ in 0..10 {
        let _ = connect(cg.https_port, "nobody.test", &[b"http/1.1"]).await;
    }
    assert_eq!(
        lookups().await,
        after_first,
        "repeated unknown names must not reach Redis"
    );
}

/// A burst of handshakes for a name that is not cached (evicted here, by a cache of one) loads
/// it from Redis once: one lookup of its claims, not one per handshake.
#[tokio::test]
async fn a_burst_for_an_uncached_name_loads_it_once() {
    let (redis, cg) = instance(&[("CERT_CACHE_SIZE", "1")]).await;
    create_self_signed(&cg.admin(), "c0", &["c0.test"]).await;
    create_self_signed(&cg.admin(), "c1", &["c1.test"]).await;
    let c0 = leaf_der(&chain_of(&cg, "c0").await);
    // Serving c1 caches it, which evicts c0.
    let _ = connect(cg.https_port, "c1.test", &[b"http/1.1"]).await;
    let before = hkeys_calls(&redis).await;
    let burst = (0..40).map(|_| connect(cg.https_port, "c0.test", &[b"http/1.1"]));
    for tls in futures_util::future::join_all(burst).await {
        assert_eq!(served_leaf(&tls), c0);
    }
    // One load looks up the exact name's claim and its parent wildcard's: two HKEYS.
    assert_eq!(
        hkeys_calls(&redis).await - before,
        2,
        "one load of c0 for the whole burst"
    );
}

/// A tenant's wildcard covers only names its owner may use: it cannot be created over another
/// tenant's names, another tenant cannot claim a name under it, and the edge never serves it for
/// a routed host whose owner is someone else (only the route owner's and the admin's
/// certificates serve a routed host).
#[tokio::test]
async fn a_tenants_wildcard_is_never_served_for_another_owners_hosts() {
    let (_redis, cg) = instance(&[]).await;
    let token = |name: &'static str| {
        let admin = cg.admin();
        async move {
            let r = admin
                .post("/tokens/", &json!({ "name": name }))
                .await
                .unwrap();
            assert_eq!(r.status, 201, "{}", r.json());
            r.json()["token"].as_str().unwrap().to_owned()
        }
    };
    let a = cg.client(Some(&token("tenant-a").await));
    let b = cg.client(Some(&token("tenant-b").await));
    let self_signed = |cert_name: &str, domain: &str| json!({ "cert_name": cert_name, "domain": domain, "issuer": "self-signed" });
    let tenant_route =
        |hostname: &str| json!({ "hostname": hostname, "upstream": "http://192.0.2.10:8080" });

    // B routes b.example.com and c.example.com; A may not put a wildcard over them.
    for host in ["b.example.com", "c.example.com"] {
        let r = b.post("/proxies/", &tenant_route(host)).await.unwrap();
        assert_eq!(r.status, 201, "{}", r.json());
    }
    let r = a
        .post("/certificates/", &self_signed("a-wild", "*.example.com"))
        .await
        .unwrap();
    assert_eq!(
        r.status,
        403,
        "a wildcard over another tenant's names: {}",
        r.json()
    );
    let detail = r.json()["detail"].as_str().unwrap().to_owned();
    assert!(
        detail.contains("*.example.com") && detail.contains(".example.com, which"),
        "{detail}"
    );
    assert_eq!(a.get("/certificates/a-wild").await.unwrap().status, 404);

    // A's wildcard over names nobody else holds is fine; B cannot claim a name under it.
    create_self_signed(&a, "a-other", &["*.other.test"]).await;
    let r = b
        .post("/proxies/", &tenant_route("x.other.test"))
        .await
        .unwrap();
    assert_eq!(
        r.status,
        403,
        "a name under another tenant's wildcard: {}",
        r.json()
    );
    assert!(r.json()["detail"]
        .as_str()
        .unwrap()
        .contains("*.other.test"));
    let r = b
        .post("/certificates/", &self_signed("b-x", "x.other.test"))
        .await
        .unwrap();
    assert_eq!(r.status, 403, "{}", r.json());
    // A itself may use names under its wildcard.
    let r = a
        .post("/proxies/", &tenant_route("mine.other.test"))
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.json());

    // The admin may route a name under A's wildcard; A's certificate is still not served there.
    route(&cg, "admin.other.test", "http://192.0.2.10:8080", None).await;
    let a_leaf = leaf_der(&chain_of(&cg, "a-other").await);
    let tls = connect(cg.https_port, "mine.other.test", &[b"http/1.1"]).await;
    assert_eq!(served_leaf(&tls), a_leaf, "A's own route gets A's wildcard");
    let tls = connect(cg.https_port, "free.other.test", &[b"http/1.1"]).await;
    assert_eq!(served_leaf(&tls), a_leaf, "an unrouted name under it too");
    let tls = connect(cg.https_port, "admin.other.test", &[b"http/1.1"]).await;
    assert_ne!(
        served_leaf(&tls),
        a_leaf,
        "a tenant's wildcard served for a host another owner routes"
    );

    // The admin's own wildcard serves every tenant's routes under it.
    create_self_signed(&cg.admin(), "admin-wild", &["*.example.com"]).await;
    let admin_leaf = leaf_der(&chain_of(&cg, "admin-wild").await);
    let tls = connect(cg.https_port, "c.example.com", &[b"http/1.1"]).await;
    assert_eq!(served_leaf(&tls), admin_leaf);
}
