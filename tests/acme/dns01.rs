//! dns-01 through each provider, against real servers: RFC 2136 to BIND (a wildcard, the
//! sweep of leftovers, a wrong TSIG key, CNAME delegation), PowerDNS's HTTP API, and a program
//! (lego's exec protocol).

use std::time::{Duration, Instant};

use serde_json::json;

use super::challenges::{assert_valid_for, env_for_challenges, issue_with};
use certgate::certs::pem::{leaf_info, leaf_info_der};
use common::bind::{self, Bind};
use common::client::{served_leaf, try_connect};
use common::dns_stub::DnsStub;
use common::{with_pem, Certgate};

use crate::common;

/// The RFC 2136 settings for `bind` (its server, TSIG key, a 20 s propagation wait at the
/// zone's authoritative servers, asked on its port), and `more`.
pub(super) fn rfc2136_settings(bind: &Bind, more: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut settings = vec![
        ("DNS_UPDATE_SERVER".to_owned(), bind.address()),
        (
            "DNS_TSIG_KEY_NAME".to_owned(),
            bind::TSIG_KEY_NAME.to_owned(),
        ),
        ("DNS_TSIG_SECRET".to_owned(), bind::TSIG_SECRET.to_owned()),
    ];
    settings.extend(propagation_settings(&bind.address(), bind.port, 20));
    settings.extend(more.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    settings
}

/// `settings` as the `(name, value)` pairs the environments take.
pub(super) fn pairs(settings: &[(String, String)]) -> Vec<(&str, &str)> {
    settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// The propagation check's settings for test servers: zones and NS records looked up at
/// `resolver`, the authoritative servers asked on `port`, for at most `timeout` seconds.
pub(super) fn propagation_settings(
    resolver: &str,
    port: u16,
    timeout: u64,
) -> Vec<(String, String)> {
    vec![
        ("DNS_RESOLVER".to_owned(), resolver.to_owned()),
        ("DNS_AUTHORITATIVE_PORT".to_owned(), port.to_string()),
        ("DNS_PROPAGATION_TIMEOUT".to_owned(), timeout.to_string()),
    ]
}

/// dns-01 through a real BIND: `*.wild.test` and `wild.test` in one certificate, served for
/// `a.wild.test` by SNI, no challenge record left in the zone; an IP is refused with dns-01; a
/// wrong TSIG secret fails the generation naming the DNS server's answer.
#[tokio::test]
async fn dns_01_through_bind_issues_a_wildcard() {
    let bind = Bind::start("wild.test").await;
    // The recovery loop (which sweeps leftover records) runs every half lease.
    let dns = rfc2136_settings(&bind, &[("CERT_LEASE_SECONDS", "2")]);
    let extra = pairs(&dns);
    let env = env_for_challenges(&extra, Some(bind.address())).await;
    let admin = env.certgate.admin();

    let (status, took) = issue_with(
        &env.certgate,
        "wild",
        &["*.wild.test", "wild.test"],
        "dns-01",
    )
    .await;
    assert_eq!(
        status["status"],
        "completed",
        "{status}\n{}",
        bind.log_text()
    );
    println!("dns-01 issuance (wildcard + apex): {took:?}");
    assert_valid_for(&env, "wild", &["a.wild.test", "wild.test"], "dns-01").await;
    let cert = with_pem(&admin, "wild").await;
    let chain = cert["fullchain_pem"].as_str().unwrap();
    let tls = try_connect(env.certgate.https_port, "a.wild.test", &[])
        .await
        .unwrap();
    assert_eq!(
        leaf_info_der(&served_leaf(&tls)).unwrap().serial,
        leaf_info(chain).unwrap().serial,
        "a.wild.test is served the wildcard certificate"
    );
    assert!(
        bind.txt("_acme-challenge.wild.test").await.is_empty(),
        "no challenge record left in the zone"
    );

    // The wildcard is a hostname claim like any other: another token cannot take it.
    let created = admin
        .post("/tokens/", &json!({ "name": "tenant" }))
        .await
        .unwrap()
        .json();
    let tenant = env
        .certgate
        .client(Some(created["token"].as_str().unwrap()));
    let body = json!({ "cert_name": "theirs", "domains": ["*.wild.test"], "challenge": "dns-01" });
    let taken = tenant
        .post("/certificates/multi-domain", &body)
        .await
        .unwrap();
    assert_eq!(taken.status, 403, "{}", taken.json());
    assert!(taken.json()["detail"]
        .as_str()
        .unwrap()
        .contains("*.wild.test"));

    // Records a crashed generation left behind (noted in Redis long ago, under the provider's
    // name or, as before providers were named, without it) are swept.
    let raw: certgate::config::RawValues = dns.iter().cloned().collect();
    let settings = certgate::config::Config::from_raw(&raw)
        .unwrap()
        .acme
        .dns_update
        .unwrap();
    let updater = certgate::acme::dns01::DnsUpdater::new(&settings).unwrap();
    let redis = env.redis.client().await;
    for (name, noted) in [
        ("left.wild.test", "left.wild.test leftover"),
        ("left2.wild.test", "rfc2136:left2.wild.test leftover"),
    ] {
        updater.add_txt(name, "leftover").await.unwrap();
        let owner = format!("_acme-challenge.{name}");
        assert_eq!(bind.txt(&owner).await, vec!["leftover"]);
        let _: () =
            fred::prelude::HashesInterface::hset(&redis, "challenges:dns01:records", (noted, "0"))
                .await
                .unwrap();
    }
    common::wait_until(
        "the leftover records to be swept",
        Duration::from_secs(20),
        || async {
            bind.txt("_acme-challenge.left.wild.test").await.is_empty()
                && bind.txt("_acme-challenge.left2.wild.test").await.is_empty()
        },
    )
    .await;

    let body = json!({ "cert_name": "ip-dns", "domain": "127.0.0.1", "challenge": "dns-01" });
    let r = admin.post("/certificates/", &body).await.unwrap();
    assert_eq!(r.status, 400);
    assert!(r.json()["detail"].as_str().unwrap().contains("127.0.0.1"));

    // The same zone with a wrong TSIG secret: BIND refuses, and the message says so.
    let mut vars = env.certgate.env.clone();
    vars.retain(|(k, _)| !k.ends_with("_ADDR") && k != "DNS_TSIG_SECRET");
    vars.push((
        "DNS_TSIG_SECRET".into(),
        "d3JvbmctZC1zZWNyZXQtd3JvbmctZC1zZWNyZXQtISE=".into(),
    ));
    let wrong = Certgate::start_with_env(vars).await;
    let (status, _) = issue_with(&wrong, "wild-wrong", &["b.wild.test"], "dns-01").await;
    assert_eq!(status["status"], "failed", "{status}");
    let message = status["message"].as_str().unwrap();
    println!("wrong TSIG secret: {message}");
    assert!(
        message.contains(&bind.address())
            && message.contains("NOTAUTH")
            && message.contains("DNS_TSIG_SECRET"),
        "{message}"
    );
    assert!(bind.txt("_acme-challenge.b.wild.test").await.is_empty());
}

/// Writes `dir/dns-hook.sh`, a lego `exec` hook that publishes and removes records in `bind`'s
/// zone with `nsupdate`, signing with the secret in `$PROVIDER_TOKEN`. It notes each call in
/// `dir/calls` and its environment in `dir/env-<action>`; it fails with a message on stderr
/// while `dir/refuse` exists, and hangs while `dir/hang` does. Its path.
pub(super) fn nsupdate_hook(dir: &common::TempDir, bind: &Bind) -> String {
    common::require_binary("nsupdate", "apt-get install -y bind9-dnsutils");
    let script = dir.0.join("dns-hook.sh");
    let d = dir.0.display();
    let (port, key, zone) = (bind.port, bind::TSIG_KEY_NAME, &bind.zone);
    std::fs::write(
        &script,
        format!(
            r#"#!/bin/sh
echo "$1 $2 $3" >> "{d}/calls"
env | sort > "{d}/env-$1"
if [ -f "{d}/refuse" ]; then echo "the provider refused: quota exceeded" >&2; exit 3; fi
if [ -f "{d}/hang" ]; then exec sleep 30; fi
case "$1" in
  present) change="update add $2 60 IN TXT \"$3\"" ;;
  cleanup) change="update delete $2 TXT \"$3\"" ;;
  *) echo "unknown action $1" >&2; exit 2 ;;
esac
printf 'server 127.0.0.1 {port}\nzone {zone}\n%s\nsend\n' "$change" \
  | nsupdate -y "hmac-sha256:{key}:$PROVIDER_TOKEN"
"#
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script.display().to_string()
}

/// dns-01 through `DNS_EXEC_PROGRAM` (lego's exec protocol): a shell script publishing the
/// record in a real BIND with `nsupdate`, the TSIG secret passed as the one variable
/// `DNS_EXEC_ENV` names; the script sees nothing else but PATH. Its stderr ends up in the
/// generation's error when it fails; one that hangs is killed at its timeout.
#[tokio::test]
async fn dns_01_through_an_exec_program() {
    let bind = Bind::start("exec.test").await;
    let dir = common::TempDir::new("dns-exec");
    let program = nsupdate_hook(&dir, &bind);
    let mut settings = propagation_settings(&bind.address(), bind.port, 20);
    settings.extend([
        ("DNS_EXEC_PROGRAM".to_owned(), program),
        ("DNS_EXEC_ENV".to_owned(), "PROVIDER_TOKEN".to_owned()),
        ("PROVIDER_TOKEN".to_owned(), bind::TSIG_SECRET.to_owned()),
        ("DNS_EXEC_TIMEOUT_SECONDS".to_owned(), "3".to_owned()),
    ]);
    let extra = pairs(&settings);
    let env = env_for_challenges(&extra, Some(bind.address())).await;

    let (status, _) = issue_with(&env.certgate, "exec", &["exec.test"], "dns-01").await;
    assert_eq!(status["status"], "completed", "{status}");
    assert_valid_for(&env, "exec", &["exec.test"], "dns-01").await;
    let calls = std::fs::read_to_string(dir.0.join("calls")).unwrap();
    let lines: Vec<&str> = calls.lines().collect();
    assert_eq!(lines.len(), 2, "{calls}");
    assert!(
        lines[0].starts_with("present _acme-challenge.exec.test. "),
        "{calls}"
    );
    assert!(
        lines[1].starts_with("cleanup _acme-challenge.exec.test. "),
        "{calls}"
    );
    assert_eq!(
        lines[0]["present".len()..],
        lines[1]["cleanup".len()..],
        "same value"
    );
    assert!(
        bind.txt("_acme-challenge.exec.test").await.is_empty(),
        "the cleanup removed the record"
    );
    assert!(
        bind.log_text()
            .contains("adding an RR at '_acme-challenge.exec.test' TXT"),
        "the script wrote to BIND"
    );
    let seen = std::fs::read_to_string(dir.0.join("env-present")).unwrap();
    assert!(
        seen.contains(&format!("PROVIDER_TOKEN={}", bind::TSIG_SECRET)),
        "{seen}"
    );
    for secret in ["ADMIN_TOKEN", "REDIS_URL", "DNS_EXEC_PROGRAM"] {
        assert!(
            !seen.contains(secret),
            "{secret} reached the program:\n{seen}"
        );
    }

    // A refusal: the program's stderr names why in the generation's error.
    std::fs::write(dir.0.join("refuse"), "").unwrap();
    let (status, _) = issue_with(&env.certgate, "refused", &["refused.test"], "dns-01").await;
    assert_eq!(status["status"], "failed", "{status}");
    let message = status["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("quota exceeded") && message.contains("present"),
        "{message}"
    );

    // A program that hangs is killed at its timeout, and the generation says so.
    std::fs::remove_file(dir.0.join("refuse")).unwrap();
    std::fs::write(dir.0.join("hang"), "").unwrap();
    let started = Instant::now();
    let (status, _) = issue_with(&env.certgate, "hung", &["hung.test"], "dns-01").await;
    assert_eq!(status["status"], "failed", "{status}");
    let message = status["message"].as_str().unwrap_or_default();
    assert!(message.contains("DNS_EXEC_TIMEOUT_SECONDS"), "{message}");
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "took {:?}",
        started.elapsed()
    );
}

/// CNAME delegation: `_acme-challenge.app.cname.test` points at `app.validation.test`, in
/// another zone, so the dns-01 record is written there (as lego and cert-manager do), found
/// through `DNS_RESOLVER`, and Pebble validates through the CNAME; the zone `cname.test` is
/// not written to at all (its serial does not move).
#[tokio::test]
async fn dns_01_follows_a_cname_to_the_delegated_name() {
    let bind = Bind::start_zones(&[
        (
            "cname.test",
            "_acme-challenge.app IN CNAME app.validation.test.\n",
        ),
        ("validation.test", ""),
    ])
    .await;
    let dns = rfc2136_settings(&bind, &[]);
    let extra = pairs(&dns);
    let env = env_for_challenges(&extra, Some(bind.address())).await;
    let serial = bind.serial().await;
    let (status, _) = issue_with(&env.certgate, "delegated", &["app.cname.test"], "dns-01").await;
    assert_eq!(
        status["status"],
        "completed",
        "{status}\n{}",
        bind.log_text()
    );
    assert_valid_for(&env, "delegated", &["app.cname.test"], "dns-01").await;
    let log = bind.log_text();
    assert!(
        log.contains("adding an RR at 'app.validation.test' TXT"),
        "the record was not written at the CNAME's target:\n{log}"
    );
    assert!(
        !log.contains("adding an RR at '_acme-challenge.app.cname.test'"),
        "{log}"
    );
    assert!(
        bind.txt("app.validation.test").await.is_empty(),
        "record left behind"
    );
    assert_eq!(bind.serial().await, serial, "cname.test was written to");
}

/// dns-01 through a real PowerDNS Authoritative's HTTP API: `*.pdns.test` and `pdns.test` in
/// one certificate (two values in one rrset), Pebble resolving through PowerDNS, nothing left
/// in the zone afterwards; a wrong API key fails the generation naming the setting.
#[tokio::test]
async fn dns_01_through_the_powerdns_api() {
    let pdns = common::powerdns::PowerDns::start("pdns.test").await;
    let api = pdns.api_url();
    let mut settings = propagation_settings(&pdns.dns_address(), pdns.dns_port, 30);
    settings.push(("PDNS_API_URL".into(), api.clone()));
    settings.push(("PDNS_API_KEY".into(), common::powerdns::API_KEY.into()));
    let extra = pairs(&settings);
    let env = env_for_challenges(&extra, Some(pdns.dns_address())).await;
    let (status, _) = issue_with(
        &env.certgate,
        "pdns",
        &["*.pdns.test", "pdns.test"],
        "dns-01",
    )
    .await;
    assert_eq!(
        status["status"],
        "completed",
        "{status}\n{}",
        pdns.log_text()
    );
    assert_valid_for(&env, "pdns", &["a.pdns.test", "pdns.test"], "dns-01").await;
    assert!(
        pdns.txt("_acme-challenge.pdns.test.").is_empty(),
        "records left behind"
    );
    assert!(
        !env.certgate.log_text().contains(common::powerdns::API_KEY),
        "the API key was logged"
    );
    drop(env);

    let wrong = [
        ("PDNS_API_URL", api.as_str()),
        ("PDNS_API_KEY", "not-the-key"),
    ];
    let env = env_for_challenges(&wrong, Some(pdns.dns_address())).await;
    let (status, _) = issue_with(&env.certgate, "refused", &["pdns.test"], "dns-01").await;
    assert_eq!(status["status"], "failed", "{status}");
    let message = status["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("PDNS_API_KEY") && message.contains("401"),
        "{message}"
    );
}

/// The propagation check asks every authoritative server of the zone: `lag.test` is served by
/// the primary BIND (127.0.0.1, which takes the updates) and a second server (127.0.0.2, same
/// port) that has not caught up. With a 3 s wait the generation fails naming the second server;
/// with a longer one it waits, and completes once the second server answers the record too.
#[tokio::test]
async fn dns_01_waits_for_every_authoritative_server() {
    let primary = Bind::start_with("lag.test", "ns2 IN A 127.0.0.2\n@ IN NS ns2.lag.test.\n").await;
    let lagging = DnsStub::start("127.0.0.2", primary.port).await;
    let dns = rfc2136_settings(&primary, &[]);
    let extra = pairs(&dns);
    let env = env_for_challenges(&extra, Some(primary.address())).await;

    let mut vars = env.certgate.env.clone();
    vars.retain(|(k, _)| !k.ends_with("_ADDR") && k != "DNS_PROPAGATION_TIMEOUT");
    vars.push(("DNS_PROPAGATION_TIMEOUT".into(), "3".into()));
    let impatient = Certgate::start_with_env(vars).await;
    let (status, _) = issue_with(&impatient, "lag-short", &["a.lag.test"], "dns-01").await;
    assert_eq!(status["status"], "failed", "{status}");
    let message = status["message"].as_str().unwrap();
    println!("a lagging authoritative server: {message}");
    assert!(
        message.contains(&format!("ns2.lag.test. ({})", lagging.address))
            && message.contains("DNS_PROPAGATION_TIMEOUT")
            && !message.contains("ns.lag.test."),
        "{message}"
    );
    drop(impatient);

    let admin = env.certgate.admin();
    let body = json!({ "cert_name": "lag", "domains": ["b.lag.test"], "challenge": "dns-01" });
    let r = admin
        .post("/certificates/multi-domain", &body)
        .await
        .unwrap();
    assert_eq!(r.status, 202);
    let owner = "_acme-challenge.b.lag.test";
    common::wait_until("the record at the primary", Duration::from_secs(20), || {
        let primary = &primary;
        async move { !primary.txt(owner).await.is_empty() }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let waiting = admin.get("/certificates/lag/status").await.unwrap().json();
    assert_eq!(
        waiting["status"], "generating",
        "waiting for ns2: {waiting}"
    );
    for value in primary.txt(owner).await {
        lagging.set_txt(owner, &value);
    }
    let status = common::wait_generation(&admin, "lag", Duration::from_secs(60)).await;
    assert_eq!(status["status"], "completed", "{status}");
}
