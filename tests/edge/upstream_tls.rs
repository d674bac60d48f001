//! `https://` upstreams: verified against the route's CA (HTTP/2 by ALPN), refused with a `502`
//! naming the verification failure when the CA is not the one that signed, and accepted
//! unverified only with `insecure_skip_verify`; spoken to over one HTTP/2 connection when the
//! upstream chooses `h2`, else over kept-alive HTTP/1.1 connections.

use super::*;
use common::replicas::Replica;
use common::tls::make_pki;
use serde_json::Value;

#[tokio::test]
async fn https_upstreams_are_verified_against_the_route_ca() {
    let (_redis, cg) = instance(&[]).await;
    let pki = make_pki(&["backend.test"]);
    let other = make_pki(&["backend.test"]);
    let backend = Replica::start_tls("secure", &pki.server_cert_pem, &pki.server_key_pem).await;
    let call = |host: &'static str| common::requests::plain_get(cg.http_port, host);
    let route = |host: &str, extra: Value| {
        let mut body = json!({
            "hostname": host,
            "upstream": backend.url(),
            "https_redirect": false,
            "upstream_sni": "backend.test",
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    for body in [
        route("good.test", json!({ "upstream_ca_pem": pki.ca_pem })),
        route("wrong.test", json!({ "upstream_ca_pem": other.ca_pem })),
        route("system.test", json!({})),
        route("skip.test", json!({ "insecure_skip_verify": true })),
    ] {
        let r = cg.admin().post("/proxies/", &body).await.unwrap();
        assert_eq!(r.status, 201, "{}", r.json());
    }

    // The right CA: verified, and HTTP/2 as the upstream offered it by ALPN.
    let good = call("good.test").await;
    assert_eq!(good.status, 200);
    assert_eq!(good.json()["upstream"], "secure");
    assert_eq!(good.json()["version"], "HTTP/2.0", "{}", good.json());
    assert_eq!(
        good.json()["authority"],
        "good.test",
        "`:authority` is the client's host"
    );

    // Another CA, or the system roots: 502 naming the verification failure.
    for host in ["wrong.test", "system.test"] {
        let refused = call(host).await;
        assert_eq!(refused.status, 502, "{host}");
        let text = String::from_utf8_lossy(&refused.body);
        assert!(
            text.starts_with("upstream TLS handshake failed: invalid peer certificate"),
            "{host}: {text}"
        );
    }
    assert!(cg.log_text().contains("upstream_tls"));

    // Not verified at all, by the admin's choice: answered, and said loudly in the log.
    assert_eq!(call("skip.test").await.status, 200);
    assert!(cg.log_text().contains("insecure_skip_verify"));
    let shown = cg.admin().get("/proxies/skip.test").await.unwrap().json();
    assert_eq!(shown["insecure_skip_verify"], true);
}

#[tokio::test]
async fn https_upstreams_speak_what_alpn_chose_on_kept_connections() {
    let (_redis, cg) = instance(&[]).await;
    let pki = make_pki(&["backend.test"]);
    let both = Replica::start_tls("both", &pki.server_cert_pem, &pki.server_key_pem).await;
    let h1_only = Replica::start_tls_offering(
        "h1-only",
        &pki.server_cert_pem,
        &pki.server_key_pem,
        &[b"http/1.1"],
    )
    .await;
    for (host, backend) in [("both.test", &both), ("h1.test", &h1_only)] {
        let body = json!({
            "hostname": host,
            "upstream": backend.url(),
            "https_redirect": false,
            "upstream_sni": "backend.test",
            "upstream_ca_pem": pki.ca_pem,
        });
        let r = cg.admin().post("/proxies/", &body).await.unwrap();
        assert_eq!(r.status, 201, "{}", r.json());
    }
    let call = |host: &'static str| common::requests::plain_get(cg.http_port, host);

    for round in 0..5 {
        let answer = call("both.test").await;
        assert_eq!(answer.status, 200, "round {round}");
        assert_eq!(answer.json()["version"], "HTTP/2.0", "round {round}");
        let answer = call("h1.test").await;
        assert_eq!(answer.status, 200, "round {round}: {:?}", answer.body);
        assert_eq!(answer.json()["upstream"], "h1-only", "round {round}");
        assert_eq!(answer.json()["version"], "HTTP/1.1", "round {round}");
    }
    // One connection each for all five: for the HTTP/1.1 upstream, the first one (offering
    // both, answered `http/1.1`) is kept and carries every request.
    assert_eq!(connections_opened(&cg, "both.test").await, Some(1));
    assert_eq!(connections_opened(&cg, "h1.test").await, Some(1));
}
