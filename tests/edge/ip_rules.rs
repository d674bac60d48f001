//! `ip_rules` on routes: allow and deny lists on the client's address, both families; behind a
//! trusted proxy, the address it forwarded.

use super::*;

async fn ip_route(cg: &Certgate, hostname: &str, upstream: &str, rules: serde_json::Value) {
    let body = json!({ "hostname": hostname, "upstream": upstream, "ip_rules": rules });
    let r = cg.admin().post("/proxies/", &body).await.unwrap();
    assert_eq!(r.status, 201, "{}", r.json());
}

/// One GET for `host` with `X-Forwarded-For: forwarded` (when given): the status.
async fn status_from(cg: &Certgate, host: &str, forwarded: Option<&str>) -> u16 {
    let xff = forwarded
        .map(|f| format!("X-Forwarded-For: {f}\r\n"))
        .unwrap_or_default();
    raw_status(
        cg.https_port,
        host,
        &format!("GET / HTTP/1.1\r\nHost: {host}\r\n{xff}Connection: close\r\n\r\n"),
    )
    .await
}

#[tokio::test]
async fn allow_and_deny_lists_judge_the_forwarded_client_of_a_trusted_proxy() {
    // The test's connections come from 127.0.0.1, a trusted proxy here: the address it forwards
    // is the client's.
    let (_redis, cg) = instance(&[("TRUSTED_PROXIES", "127.0.0.1/32")]).await;
    let up = upstream::start("ip").await;
    create_self_signed(&cg.admin(), "ip", &["office.test"]).await;
    ip_route(
        &cg,
        "office.test",
        &up.url(),
        json!({ "allow": ["10.0.0.0/8", "2001:db8::/32"], "deny": ["10.0.0.66"] }),
    )
    .await;
    for (client, status) in [
        ("10.1.2.3", 200),
        ("10.0.0.66", 403),
        ("192.0.2.1", 403),
        ("2001:db8::5", 200),
        ("2001:db9::1", 403),
        // A client's own claim further left does not count: the proxy's entry is the last.
        ("10.1.2.3, 192.0.2.1", 403),
        ("192.0.2.1, 10.1.2.3", 200),
    ] {
        assert_eq!(
            status_from(&cg, "office.test", Some(client)).await,
            status,
            "{client}"
        );
    }
    // The peer itself when nothing was forwarded: 127.0.0.1 is outside the allow list.
    assert_eq!(status_from(&cg, "office.test", None).await, 403);
    let r = cg.admin().get("/proxies/office.test").await.unwrap().json();
    assert_eq!(r["ip_rules"]["deny"], json!(["10.0.0.66/32"]));
}

#[tokio::test]
async fn an_untrusted_peer_is_judged_by_its_own_address() {
    let (_redis, cg) = instance(&[]).await;
    let up = upstream::start("ip").await;
    create_self_signed(&cg.admin(), "ip", &["local.test", "closed.test"]).await;
    ip_route(
        &cg,
        "local.test",
        &up.url(),
        json!({ "allow": ["127.0.0.1"] }),
    )
    .await;
    ip_route(
        &cg,
        "closed.test",
        &up.url(),
        json!({ "deny": ["127.0.0.0/8"] }),
    )
    .await;
    // X-Forwarded-For from an untrusted peer is the client's claim: ignored.
    assert_eq!(status_from(&cg, "local.test", Some("192.0.2.1")).await, 200);
    assert_eq!(status_from(&cg, "closed.test", Some("10.1.2.3")).await, 403);

    let bad = json!({ "hostname": "bad.test", "upstream": up.url(), "ip_rules": { "allow": ["10.0.0.0/8", "ten"] } });
    let r = cg.admin().post("/proxies/", &bad).await.unwrap();
    assert_eq!(r.status, 400, "{}", r.json());
    assert_eq!(r.json()["field"], "ip_rules.allow[1]", "{}", r.json());
}
