//! Every challenge and identifier against real servers: TLS-ALPN-01 at certgate's HTTPS port,
//! dns-01 through a real BIND 9 by RFC 2136 update, IP-address certificates, and the names each
//! refuses.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::Env;
use certgate::certs::pem::{leaf_info, leaf_info_der};
use common::bind::Bind;
use common::client::{get, served_leaf, try_connect};
use common::pebble::{Pebble, PebbleOptions};
use common::tls::verify_chain;
use common::{free_port, wait_generation, with_pem, Certgate, Redis};

use crate::common;

/// Redis, Pebble validating HTTP-01 at certgate's HTTP port and TLS-ALPN-01 at its HTTPS port
/// (resolving through `dns_server` when given), and one certgate with `extra` settings.
pub(super) async fn env_for_challenges(extra: &[(&str, &str)], dns_server: Option<String>) -> Env {
    let redis = Redis::start().await;
    let (http_port, https_port) = (free_port(), free_port());
    let pebble = Pebble::start(PebbleOptions {
        http_port,
        tls_port: Some(https_port),
        dns_server,
        ..Default::default()
    })
    .await;
    let mut vars = common::base_env(&redis.url(), "challenges:");
    vars.extend(pebble.certgate_env());
    vars.push(("HTTP_ADDR".into(), format!("127.0.0.1:{http_port}")));
    vars.push(("HTTPS_ADDR".into(), format!("127.0.0.1:{https_port}")));
    for (k, v) in extra {
        vars.push((k.to_string(), v.to_string()));
    }
    let certgate = Certgate::start_with_env(vars).await;
    Env {
        redis,
        pebble,
        certgate,
    }
}

/// Creates `name` for `domains` with `challenge`, waits for the generation; status and time.
pub(super) async fn issue_with(
    certgate: &Certgate,
    name: &str,
    domains: &[&str],
    challenge: &str,
) -> (Value, Duration) {
    let started = Instant::now();
    let body = json!({ "cert_name": name, "domains": domains, "challenge": challenge });
    let r = certgate
        .admin()
        .post("/certificates/multi-domain", &body)
        .await
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.json());
    let status = wait_generation(&certgate.admin(), name, Duration::from_secs(120)).await;
    (status, started.elapsed())
}

/// The certificate verifies against Pebble's root for each name, and the record keeps its
/// challenge.
pub(super) async fn assert_valid_for(env: &Env, name: &str, names: &[&str], challenge: &str) {
    let cert = with_pem(&env.certgate.admin(), name).await;
    assert_eq!(cert["status"], "active", "{cert}");
    assert_eq!(cert["challenge"], challenge, "{cert}");
    let chain = cert["fullchain_pem"].as_str().unwrap();
    let root = env.pebble.issuing_root().await;
    for host in names {
        verify_chain(chain, &root, host).unwrap_or_else(|e| panic!("{host}: {e}"));
    }
}

/// TLS-ALPN-01: a 1-name and a 3-name certificate validate at certgate's HTTPS port while
/// ordinary HTTPS requests for the same names keep getting 200 from their route; a second
/// instance, which the CA never reaches, orders one too (the challenge is in Redis).
#[tokio::test]
async fn tls_alpn_01_validates_while_traffic_flows() {
    let env = env_for_challenges(&[], None).await;
    let admin = env.certgate.admin();
    let upstream = common::upstream::start("alpn-app").await;
    let names = ["alpn.example.com", "alpn2.example.com", "alpn3.example.com"];
    for host in names {
        let route =
            json!({ "hostname": host, "upstream": upstream.url(), "https_redirect": false });
        assert_eq!(admin.post("/proxies/", &route).await.unwrap().status, 201);
    }
    let port = env.certgate.https_port;
    let stop = Arc::new(AtomicU32::new(0));
    let (ok, bad) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let traffic = {
        let (stop, ok, bad) = (stop.clone(), ok.clone(), bad.clone());
        tokio::spawn(async move {
            while stop.load(Ordering::SeqCst) == 0 {
                for host in names {
                    let answer = get(port, host, host, "/").await;
                    let counter = if answer.status == 200 { &ok } else { &bad };
                    counter.fetch_add(1, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };

    let (status, one) = issue_with(&env.certgate, "alpn-one", &names[..1], "tls-alpn-01").await;
    assert_eq!(status["status"], "completed", "{status}");
    let (status, three) = issue_with(&env.certgate, "alpn-three", &names, "tls-alpn-01").await;
    assert_eq!(status["status"], "completed", "{status}");
    println!("tls-alpn-01 issuance: 1 name {one:?}, 3 names {three:?}");
    assert_valid_for(&env, "alpn-one", &names[..1], "tls-alpn-01").await;
    assert_valid_for(&env, "alpn-three", &names, "tls-alpn-01").await;

    // A second instance orders; the CA's handshake reaches the first one.
    let mut vars = env.certgate.env.clone();
    vars.retain(|(k, _)| !k.ends_with("_ADDR"));
    let other = Certgate::start_with_env(vars).await;
    let (status, _) = issue_with(&other, "alpn-via-b", &["alpnb.example.com"], "tls-alpn-01").await;
    assert_eq!(status["status"], "completed", "{status}");

    stop.store(1, Ordering::SeqCst);
    traffic.await.unwrap();
    assert_eq!(
        bad.load(Ordering::SeqCst),
        0,
        "requests that did not get 200"
    );
    assert!(ok.load(Ordering::SeqCst) > 0);
    assert!(
        env.certgate
            .log_text()
            .contains("answered a TLS-ALPN-01 validation"),
        "the first instance answered the CA"
    );
}

/// An IP-address certificate through HTTP-01: issued for 127.0.0.1, served to a TLS client that
/// sends no SNI, and a route keyed by the address proxies.
#[tokio::test]
async fn ip_address_certificate_is_served_without_sni() {
    let env = env_for_challenges(&[], None).await;
    let admin = env.certgate.admin();
    let (status, took) = issue_with(&env.certgate, "loopback", &["127.0.0.1"], "http-01").await;
    assert_eq!(status["status"], "completed", "{status}");
    println!("IP certificate (http-01): {took:?}");
    let cert = with_pem(&admin, "loopback").await;
    let chain = cert["fullchain_pem"].as_str().unwrap();
    assert_eq!(
        leaf_info(chain).unwrap().names,
        vec!["127.0.0.1".to_owned()]
    );

    let upstream = common::upstream::start("by-address").await;
    let route =
        json!({ "hostname": "127.0.0.1", "upstream": upstream.url(), "https_redirect": false });
    let r = admin.post("/proxies/", &route).await.unwrap();
    assert_eq!(r.status, 201, "{}", r.json());

    // No SNI: rustls sends none for an IP-address server name.
    let port = env.certgate.https_port;
    let tls = try_connect(port, "127.0.0.1", &[]).await.unwrap();
    let served = leaf_info_der(&served_leaf(&tls)).unwrap();
    assert_eq!(served.serial, leaf_info(chain).unwrap().serial);
    let answer = get(port, "127.0.0.1", "127.0.0.1", "/").await;
    assert_eq!(answer.status, 200);
    assert!(
        String::from_utf8_lossy(&answer.body).contains("by-address"),
        "proxied by the route keyed 127.0.0.1"
    );
}

/// Names a challenge cannot prove are refused at create, naming the entry.
#[tokio::test]
async fn names_a_challenge_cannot_prove_are_refused() {
    let env = env_for_challenges(&[], None).await;
    let admin = env.certgate.admin();
    for (domains, challenge, entry) in [
        (vec!["*.a.*.test"], "http-01", "*.a.*.test"),
        (vec!["ok.test", "*"], "http-01", "*"),
        (vec!["*.wild.test"], "http-01", "*.wild.test"),
        (vec!["*.wild.test"], "tls-alpn-01", "*.wild.test"),
        (vec!["fe80::1%eth0"], "http-01", "fe80::1%eth0"),
    ] {
        let body = json!({ "cert_name": "refused", "domains": domains, "challenge": challenge });
        let r = admin
            .post("/certificates/multi-domain", &body)
            .await
            .unwrap();
        assert_eq!(r.status, 400, "{domains:?} {challenge}: {}", r.json());
        let answer = r.json();
        assert_eq!(answer["field"], "domains", "{answer}");
        assert!(
            answer["detail"].as_str().unwrap().contains(entry),
            "{answer}"
        );
    }
    // dns-01 without the DNS settings names them (409: well-formed, not offered by this
    // instance); an IP with dns-01 is refused too.
    let body = json!({ "cert_name": "refused", "domain": "a.test", "challenge": "dns-01" });
    let r = admin.post("/certificates/", &body).await.unwrap();
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["error"], "unavailable");
    assert_eq!(r.json()["field"], "challenge");
    assert!(r.json()["detail"]
        .as_str()
        .unwrap()
        .contains("DNS_UPDATE_SERVER"));
    let body = json!({ "cert_name": "refused", "domain": "a.test", "challenge": "carrier-pigeon" });
    let r = admin.post("/certificates/", &body).await.unwrap();
    assert_eq!(r.json()["field"], "challenge", "{}", r.json());
    assert_eq!(
        admin.get("/certificates/refused").await.unwrap().status,
        404
    );
}

/// 1 and 10 names with each challenge in one environment; the times are printed for the notes
/// (`cargo test --test acme ten_names -- --nocapture`).
#[tokio::test]
async fn one_and_ten_names_with_each_challenge() {
    let bind = Bind::start("ten.test").await;
    let dns = super::dns01::rfc2136_settings(&bind, &[]);
    let extra = super::dns01::pairs(&dns);
    let env = env_for_challenges(&extra, Some(bind.address())).await;
    for challenge in ["http-01", "tls-alpn-01", "dns-01"] {
        for count in [1, 10] {
            let names: Vec<String> = (0..count)
                .map(|i| format!("n{i}.{}.ten.test", challenge.replace('-', "")))
                .collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let name = format!("{}-{count}", challenge.replace('-', ""));
            let (status, took) = issue_with(&env.certgate, &name, &refs, challenge).await;
            assert_eq!(
                status["status"], "completed",
                "{challenge} × {count}: {status}"
            );
            println!("{challenge}: {count} name(s) in {took:?}");
            assert_valid_for(&env, &name, &refs, challenge).await;
        }
    }
    let leftovers = bind.txt("_acme-challenge.n0.dns01.ten.test").await;
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// `ON_DEMAND_CHALLENGE=tls-alpn-01`: a host whose port 80 is closed (certgate's HTTP listener
/// is not where the CA looks) is still issued at its first handshake, validated on the HTTPS
/// port.
#[tokio::test]
async fn on_demand_names_validate_by_tls_alpn_01_when_port_80_is_closed() {
    let elsewhere = format!("127.0.0.1:{}", common::free_port());
    let env = env_for_challenges(
        &[
            ("ON_DEMAND", "true"),
            ("ON_DEMAND_CHALLENGE", "tls-alpn-01"),
            ("HTTP_ADDR", &elsewhere),
        ],
        None,
    )
    .await;
    let admin = env.certgate.admin();
    let r = admin
        .send(http::Method::PUT, "/on-demand/allow/*.closed80.test", None)
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.json());
    let host = "a.closed80.test";
    let tls = try_connect(env.certgate.https_port, host, &[])
        .await
        .unwrap_or_else(|e| panic!("{host}: {e}"));
    let served = leaf_info_der(&served_leaf(&tls)).unwrap().serial;
    let cert = common::with_pem(&admin, host).await;
    assert_eq!(cert["status"], "active", "{cert}");
    assert_eq!(cert["challenge"], "tls-alpn-01", "{cert}");
    let chain = cert["fullchain_pem"].as_str().unwrap();
    assert_eq!(served, leaf_info(chain).unwrap().serial, "served at once");
    verify_chain(chain, &env.pebble.issuing_root().await, host).unwrap();
}
