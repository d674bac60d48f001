//! Per-route response and request rules: HSTS only where configured and only over HTTPS,
//! headers set and removed both ways, and rules that touch what the proxy manages refused.

use super::*;

#[tokio::test]
async fn hsts_and_header_rules_apply_where_configured() {
    let (_redis, cg) = instance(&[]).await;
    let up = upstream::start("rules-app").await;
    create_self_signed(&cg.admin(), "rules", &["rules.test", "plain.test"]).await;
    let body = json!({
        "hostname": "rules.test",
        "upstream": up.url(),
        "cert_name": "rules",
        "https_redirect": false,
        "hsts": { "max_age": 600, "include_subdomains": true },
        "request_headers": { "set": { "X-Tenant": "blue" }, "remove": ["x-secret"] },
        "response_headers": { "set": { "x-frame-options": "DENY" }, "remove": ["x-upstream"] },
    });
    let r = cg.admin().post("/proxies/", &body).await.unwrap();
    assert_eq!(r.status, 201, "{}", r.json());
    assert_eq!(r.json()["hsts"]["max_age"], 600);
    route(&cg, "plain.test", &up.url(), Some("rules")).await;

    let tls = connect(cg.https_port, "rules.test", &[b"http/1.1"]).await;
    let mut sender = http1(tls).await;
    let request = Request::get("/echo")
        .header("host", "rules.test")
        .header("x-secret", "hunter2")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let answer = collect(sender.send_request(request).await.unwrap()).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.headers["strict-transport-security"],
        "max-age=600; includeSubDomains"
    );
    assert_eq!(answer.headers["x-frame-options"], "DENY");
    assert!(answer.headers.get("x-upstream").is_none(), "removed");
    let seen = answer.json();
    assert_eq!(seen["headers"]["x-tenant"], "blue", "{seen}");
    assert!(seen["headers"].get("x-secret").is_none(), "{seen}");

    // Over plain HTTP: the header rules, never HSTS.
    let http =
        certgate::client::AdminClient::new(&format!("http://127.0.0.1:{}", cg.http_port), None);
    let plain = http
        .send_raw(http::Method::GET, "/echo", &[("host", "rules.test")], None)
        .await
        .unwrap();
    assert_eq!(plain.status, 200);
    assert!(plain.headers.get("strict-transport-security").is_none());
    assert_eq!(plain.headers["x-frame-options"], "DENY");

    // A route without HSTS sends none.
    let other = get(cg.https_port, "plain.test", "plain.test", "/echo").await;
    assert_eq!(other.status, 200);
    assert!(other.headers.get("strict-transport-security").is_none());

    for (rules, field) in [
        (
            json!({ "request_headers": { "set": { "Connection": "close" } } }),
            "request_headers.set",
        ),
        (
            json!({ "response_headers": { "remove": ["transfer-encoding"] } }),
            "response_headers.remove",
        ),
        (
            json!({ "request_headers": { "set": { "host": "evil.test" } } }),
            "request_headers.set",
        ),
        (
            json!({ "request_headers": { "set": { "bad header": "x" } } }),
            "request_headers.set",
        ),
        (
            json!({ "hsts": { "max_age": 600, "preload": true } }),
            "hsts.preload",
        ),
        (json!({ "hsts": { "max_age": 99999999 } }), "hsts.max_age"),
    ] {
        let mut body = json!({ "hostname": "refused.test", "upstream": up.url() });
        for (k, v) in rules.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = cg.admin().post("/proxies/", &body).await.unwrap();
        assert_eq!(r.status, 400, "{body}: {}", r.json());
        assert_eq!(r.json()["field"], field, "{body}: {}", r.json());
    }
}
