//! Several dns-01 providers side by side: RFC 2136 and a program, both writing to one real BIND;
//! `DNS_PROVIDER` picks the default, a certificate's `dns_provider` another; a provider that is
//! not configured, or one named for a challenge that publishes no DNS record, is refused.

use serde_json::json;

use super::challenges::{assert_valid_for, env_for_challenges, issue_with};
use super::dns01::{nsupdate_hook, pairs, rfc2136_settings};
use common::bind::{self, Bind};

use crate::common;

#[tokio::test]
async fn each_certificate_uses_its_dns_provider() {
    let bind = Bind::start("two.test").await;
    let dir = common::TempDir::new("dns-two");
    let program = nsupdate_hook(&dir, &bind);
    let settings = rfc2136_settings(
        &bind,
        &[
            ("DNS_EXEC_PROGRAM", &program),
            ("DNS_EXEC_ENV", "PROVIDER_TOKEN"),
            ("PROVIDER_TOKEN", bind::TSIG_SECRET),
            ("DNS_PROVIDER", "rfc2136"),
        ],
    );
    let extra = pairs(&settings);
    let env = env_for_challenges(&extra, Some(bind.address())).await;
    let admin = env.certgate.admin();

    let (status, _) = issue_with(&env.certgate, "by-default", &["a.two.test"], "dns-01").await;
    assert_eq!(status["status"], "completed", "{status}");
    assert!(
        !dir.0.join("calls").exists(),
        "the default (rfc2136) published, not the program"
    );

    let body = json!({ "cert_name": "by-exec", "domains": ["b.two.test"], "challenge": "dns-01", "dns_provider": "exec" });
    let r = admin
        .post("/certificates/multi-domain", &body)
        .await
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.json());
    let status =
        common::wait_generation(&admin, "by-exec", std::time::Duration::from_secs(120)).await;
    assert_eq!(status["status"], "completed", "{status}");
    assert_valid_for(&env, "by-exec", &["b.two.test"], "dns-01").await;
    let calls = std::fs::read_to_string(dir.0.join("calls")).unwrap();
    assert!(
        calls.starts_with("present _acme-challenge.b.two.test. ")
            && calls.contains("cleanup _acme-challenge.b.two.test. "),
        "{calls}"
    );
    let shown = admin.get("/certificates/by-exec").await.unwrap().json();
    assert_eq!(shown["dns_provider"], "exec", "{shown}");
    let shown = admin.get("/certificates/by-default").await.unwrap().json();
    assert!(shown.get("dns_provider").is_none(), "{shown}");

    let body = json!({ "cert_name": "by-pdns", "domain": "c.two.test", "challenge": "dns-01", "dns_provider": "powerdns" });
    let r = admin.post("/certificates/", &body).await.unwrap();
    assert_eq!(r.status, 409, "{}", r.json());
    assert_eq!(r.json()["field"], "dns_provider");
    let body = json!({ "cert_name": "by-http", "domain": "c.two.test", "challenge": "http-01", "dns_provider": "exec" });
    let r = admin.post("/certificates/", &body).await.unwrap();
    assert_eq!(r.status, 400, "{}", r.json());
    assert_eq!(r.json()["field"], "dns_provider");
}
