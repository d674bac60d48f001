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
