//! On-demand certificates against a real Pebble: issued at the first handshake, one order per
//! name across instances, the cluster-wide rate, the ask endpoint, and a flood of unknown names.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;

use super::{env_with_profiles, Env};
use certgate::certs::pem::{leaf_info, leaf_info_der};
use common::client::{get, served_leaf, try_connect};
use common::tls::verify_chain;
use common::{with_pem, Certgate};

use crate::common;

const NO_NONCE_REJECTION: &[(&str, &str)] = &[("PEBBLE_WFE_NONCEREJECT", "0")];

async fn on_demand_env(extra: &[(&str, &str)]) -> Env {
    let mut settings = vec![("ON_DEMAND", "true")];
    settings.extend_from_slice(extra);
    env_with_profiles(NO_NONCE_REJECTION, &settings, &[], &[]).await
}

fn orders(env: &Env) -> usize {
    env.pebble.log_text().matches("POST /order-plz").count()
}

/// The serial a handshake with SNI `host` is served, and how long the handshake took.
async fn handshake(port: u16, host: &str) -> (String, Duration) {
    let started = Instant::now();
    let tls = try_connect(port, host, &[])
        .await
        .unwrap_or_else(|e| panic!("{host}: {e}"));
    let serial = leaf_info_der(&served_leaf(&tls)).unwrap().serial;
    (serial, started.elapsed())
}

async fn allow(certgate: &Certgate, pattern: &str) {
    let r = certgate
        .admin()
        .send(
            http::Method::PUT,
            &format!("/on-demand/allow/{pattern}"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.json());
}

fn other_instance(env: &Env) -> Vec<(String, String)> {
    let mut vars = env.certgate.env.clone();
    vars.retain(|(k, _)| !k.ends_with("_ADDR"));
    vars
}

/// An allowed name gets a certificate verifying against Pebble's root within the first
/// handshake, is proxied to ON_DEMAND_UPSTREAM, shows in the API; a second instance serves the
/// same certificate without ordering; a name no pattern allows gets the default certificate at
/// once.
#[tokio::test]
async fn an_allowed_name_is_issued_at_its_first_handshake() {
    let upstream = common::upstream::start("saas-app").await;
    let env = on_demand_env(&[("ON_DEMAND_UPSTREAM", &upstream.url())]).await;
    let admin = env.certgate.admin();
    allow(&env.certgate, "*.shop.test").await;
    let listed = admin.get("/on-demand/allow/").await.unwrap().json();
    assert_eq!(listed["patterns"], serde_json::json!(["*.shop.test"]));
    assert_eq!(listed["enabled"], true);

    let port = env.certgate.https_port;
    let (serial, took) = handshake(port, "a.shop.test").await;
    println!("first handshake for an on-demand name: {took:?}");
    let cert = with_pem(&admin, "a.shop.test").await;
    assert_eq!(cert["status"], "active", "{cert}");
    let chain = cert["fullchain_pem"].as_str().unwrap();
    assert_eq!(serial, leaf_info(chain).unwrap().serial, "served at once");
    verify_chain(chain, &env.pebble.issuing_root().await, "a.shop.test").unwrap();
    assert_eq!(orders(&env), 1);

    let answer = get(port, "a.shop.test", "a.shop.test", "/").await;
    assert_eq!(answer.status, 200);
    assert!(String::from_utf8_lossy(&answer.body).contains("saas-app"));
    let metrics = String::from_utf8_lossy(&admin.get("/metrics").await.unwrap().body).to_string();
    assert!(
        metrics.contains("certgate_upstream_response_seconds_count{route=\"on-demand\"} 1"),
        "one label for every customer host: {metrics}"
    );

    let second = Certgate::start_with_env(other_instance(&env)).await;
    let (again, _) = handshake(second.https_port, "a.shop.test").await;
    assert_eq!(
        again, serial,
        "the second instance serves the same certificate"
    );
    assert_eq!(orders(&env), 1, "without ordering again");

    let (default_serial, took) = handshake(port, "x.elsewhere.test").await;
    assert_ne!(default_serial, serial);
    assert!(took < Duration::from_secs(1), "refused at once: {took:?}");
    assert_eq!(orders(&env), 1);
    let metrics = String::from_utf8_lossy(&admin.get("/metrics").await.unwrap().body).to_string();
    assert!(metrics.contains("certgate_on_demand_decisions_total{outcome=\"allowed\"} 1"));
    assert!(metrics.contains("certgate_on_demand_decisions_total{outcome=\"refused\"} 1"));

    // Removing the pattern stops new names; the certificate stays until deleted.
    let r = admin.delete("/on-demand/allow/*.shop.test").await.unwrap();
    assert_eq!(r.status, 204);
    let r = admin
        .send(http::Method::PUT, "/on-demand/allow/com", None)
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["field"], "pattern");
}

/// Over HTTP/3 too: the first QUIC handshake for an allowed name waits for its issuance (the
/// ClientHello is read from the Initial packets before quinn accepts the connection) and is
/// served the new certificate, with no TCP connection before it.
#[tokio::test]
async fn an_allowed_name_is_issued_at_its_first_quic_handshake() {
    let upstream = common::upstream::start("saas-h3").await;
    let env = on_demand_env(&[("ON_DEMAND_UPSTREAM", &upstream.url())]).await;
    allow(&env.certgate, "*.quic.test").await;
    let got = common::h3::h3(env.certgate.https_port, "a.quic.test", "GET", "/", &[]).await;
    let cert = with_pem(&env.certgate.admin(), "a.quic.test").await;
    assert_eq!(cert["status"], "active", "{cert}");
    let serial = leaf_info(cert["fullchain_pem"].as_str().unwrap())
        .unwrap()
        .serial
        .to_ascii_lowercase();
    assert_eq!(common::h3::got_serial(&got), serial.trim_start_matches('0'));
    assert_eq!(got["answers"][0]["status"], 200, "{got}");
    assert!(
        got["answers"][0]["text"]
            .as_str()
            .unwrap()
            .contains("saas-h3"),
        "{got}"
    );
    assert_eq!(orders(&env), 1);
}

/// Twenty first handshakes for one new name, spread over three instances, make one order.
#[tokio::test]
async fn concurrent_first_handshakes_on_three_instances_make_one_order() {
    let env = on_demand_env(&[("ON_DEMAND_MAX_CONCURRENT", "32")]).await;
    allow(&env.certgate, "crowd.test").await;
    let mut instances = vec![env.certgate.https_port];
    let mut others = Vec::new();
    for _ in 0..2 {
        let other = Certgate::start_with_env(other_instance(&env)).await;
        instances.push(other.https_port);
        others.push(other);
    }
    let handshakes: Vec<_> = (0..20)
        .map(|i| {
            let port = instances[i % 3];
            tokio::spawn(async move { handshake(port, "crowd.test").await })
        })
        .collect();
    let mut serials = Vec::new();
    for h in handshakes {
        serials.push(h.await.unwrap().0);
    }
    let issued = with_pem(&env.certgate.admin(), "crowd.test").await;
    let serial = leaf_info(issued["fullchain_pem"].as_str().unwrap())
        .unwrap()
        .serial;
    let mut decisions = String::new();
    for cg in std::iter::once(&env.certgate).chain(&others) {
        let text = String::from_utf8_lossy(&cg.admin().get("/metrics").await.unwrap().body)
            .lines()
            .filter(|l| l.starts_with("certgate_on_demand_decisions_total"))
            .collect::<Vec<_>>()
            .join(", ");
        decisions.push_str(&format!("[{text}] "));
    }
    assert!(
        serials.iter().all(|s| *s == serial),
        "every handshake got the one certificate: {serials:?}; decisions per instance: {decisions}"
    );
    assert_eq!(orders(&env), 1, "one order for twenty handshakes");
}

/// `ON_DEMAND_RATE=5`: twenty allowed names at once make five orders; the other fifteen
/// handshakes get the default certificate at once.
#[tokio::test]
async fn the_order_rate_is_counted_once_for_the_cluster() {
    let env = on_demand_env(&[("ON_DEMAND_RATE", "5"), ("ON_DEMAND_MAX_CONCURRENT", "32")]).await;
    allow(&env.certgate, "*.rate.test").await;
    let port = env.certgate.https_port;
    let handshakes: Vec<_> = (0..20)
        .map(|i| tokio::spawn(async move { handshake(port, &format!("n{i}.rate.test")).await }))
        .collect();
    let mut results = Vec::new();
    for h in handshakes {
        results.push(h.await.unwrap());
    }
    assert_eq!(orders(&env), 5, "{results:?}");
    let admin = env.certgate.admin();
    let issued = common::listed(&admin, "/certificates/", "cert_name").await;
    assert_eq!(issued.len(), 5, "{issued:?}");
    let mut issued_serials = Vec::new();
    for name in &issued {
        let cert = with_pem(&admin, name).await;
        issued_serials.push(
            leaf_info(cert["fullchain_pem"].as_str().unwrap())
                .unwrap()
                .serial,
        );
    }
    // The other fifteen got the default certificate, and none of them waited.
    let defaulted: Vec<&(String, Duration)> = results
        .iter()
        .filter(|(serial, _)| !issued_serials.contains(serial))
        .collect();
    assert_eq!(defaulted.len(), 15, "{results:?}");
    assert!(
        defaulted
            .iter()
            .all(|(_, took)| *took < Duration::from_secs(1)),
        "{defaulted:?}"
    );
    let metrics =
        String::from_utf8_lossy(&env.certgate.admin().get("/metrics").await.unwrap().body)
            .to_string();
    assert!(
        metrics.contains("certgate_on_demand_decisions_total{outcome=\"rate_limited\"} 15"),
        "{metrics}"
    );
}

/// A test ask endpoint: `ok-*` → 200, `no-*` → 403, `redir-*` → 302, `hang-*` → no answer for
/// 10 s; it counts the questions per name.
async fn ask_server() -> (String, Arc<Mutex<HashMap<String, u32>>>) {
    let hits: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/ask", listener.local_addr().unwrap());
    let counts = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let counts = counts.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let counts = counts.clone();
                    async move {
                        let domain = req
                            .uri()
                            .query()
                            .and_then(|q| q.strip_prefix("domain="))
                            .unwrap_or_default()
                            .to_owned();
                        *counts.lock().unwrap().entry(domain.clone()).or_default() += 1;
                        let status = if domain.starts_with("ok-") {
                            200
                        } else if domain.starts_with("redir-") {
                            302
                        } else if domain.starts_with("hang-") {
                            tokio::time::sleep(Duration::from_secs(10)).await;
                            200
                        } else {
                            403
                        };
                        Ok::<_, Infallible>(
                            Response::builder()
                                .status(status)
                                .header("location", "http://127.0.0.1:9/")
                                .body(Full::new(Bytes::from_static(b"")))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, hits)
}

/// The ask endpoint: 2xx allows, 403 refuses, a redirect refuses, a hang refuses after 5 s;
/// answers are remembered (one question per name).
#[tokio::test]
async fn the_ask_endpoint_decides_and_is_asked_once_per_name() {
    let (url, hits) = ask_server().await;
    let env = on_demand_env(&[("ON_DEMAND_ASK_URL", &url)]).await;
    let port = env.certgate.https_port;
    let issued = |serial: &str, name: &str| {
        let admin = env.certgate.admin();
        let (serial, name) = (serial.to_owned(), name.to_owned());
        async move {
            let cert: Value = admin
                .get(&format!("/certificates/{name}?pem=true"))
                .await
                .unwrap()
                .json();
            cert["fullchain_pem"]
                .as_str()
                .is_some_and(|pem| leaf_info(pem).unwrap().serial == serial)
        }
    };
    let (serial, _) = handshake(port, "ok-1.ask.test").await;
    assert!(issued(&serial, "ok-1.ask.test").await, "2xx allows");
    for name in ["no-1.ask.test", "redir-1.ask.test"] {
        let (serial, took) = handshake(port, name).await;
        assert!(!issued(&serial, name).await, "{name} refused");
        assert!(took < Duration::from_secs(1), "{name}: {took:?}");
    }
    let (_, took) = handshake(port, "hang-1.ask.test").await;
    assert!(
        took >= Duration::from_secs(5) && took < Duration::from_secs(8),
        "a hanging endpoint refuses after 5 s: {took:?}"
    );
    for name in ["ok-1.ask.test", "no-1.ask.test", "redir-1.ask.test"] {
        handshake(port, name).await;
    }
    let hits = hits.lock().unwrap().clone();
    for name in [
        "ok-1.ask.test",
        "no-1.ask.test",
        "redir-1.ask.test",
        "hang-1.ask.test",
    ] {
        assert_eq!(hits.get(name), Some(&1), "{name} asked once: {hits:?}");
    }
    assert_eq!(orders(&env), 1);
}

/// A thousand random unknown names with on-demand on and no pattern: no order, a normal
/// request meanwhile succeeds, and Redis gains no key per name.
#[tokio::test]
async fn a_flood_of_unknown_names_costs_nothing() {
    let upstream = common::upstream::start("steady").await;
    let env = on_demand_env(&[]).await;
    let admin = env.certgate.admin();
    let route = serde_json::json!({ "hostname": "steady.test", "upstream": upstream.url(), "https_redirect": false });
    assert_eq!(admin.post("/proxies/", &route).await.unwrap().status, 201);
    let keys_before = env.redis.keys("acme:*").await.len();
    let port = env.certgate.https_port;
    let started = Instant::now();
    let flood: Vec<_> = (0..20)
        .map(|worker| {
            tokio::spawn(async move {
                for i in 0..50 {
                    let name = format!("r{}-{worker}-{i}.flood.test", common::rand_u64());
                    let _ = try_connect(port, &name, &[]).await;
                }
            })
        })
        .collect();
    let steady = get(port, "steady.test", "steady.test", "/").await;
    assert_eq!(steady.status, 200, "a normal request during the flood");
    for f in flood {
        f.await.unwrap();
    }
    println!("1000 unknown names in {:?}", started.elapsed());
    assert_eq!(orders(&env), 0);
    let keys_after = env.redis.keys("acme:*").await.len();
    assert!(
        keys_after <= keys_before + 2,
        "Redis keys {keys_before} → {keys_after}"
    );
    let metrics = String::from_utf8_lossy(&admin.get("/metrics").await.unwrap().body).to_string();
    let decided: Vec<(&str, u64)> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("certgate_on_demand_decisions_total{outcome=\""))
        .filter_map(|l| {
            let (outcome, n) = l.split_once("\"} ")?;
            Some((outcome, n.parse().ok()?))
        })
        .collect();
    // The thousand and the steady request's handshake (a route, but no certificate): each
    // refused, or turned away at once when 16 were already being decided.
    assert!(
        decided.iter().all(|(o, _)| *o == "refused" || *o == "busy"),
        "{decided:?}"
    );
    assert_eq!(
        decided.iter().map(|(_, n)| n).sum::<u64>(),
        1001,
        "{decided:?}"
    );
}

/// A name whose validation fails backs off for every instance: later handshakes, here and on
/// another instance, get the default certificate at once and order nothing.
#[tokio::test]
async fn a_failed_name_backs_off_everywhere() {
    let env = on_demand_env(&[]).await;
    allow(&env.certgate, "broken.test").await;
    // Pebble validates against an address where nothing listens.
    env.pebble.set_a("broken.test", "127.0.0.2").await;
    let port = env.certgate.https_port;
    let (first, _) = handshake(port, "broken.test").await;
    let status = common::wait_generation(
        &env.certgate.admin(),
        "broken.test",
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(status["status"], "failed", "{status}");
    assert_eq!(orders(&env), 1);
    // The waiter that saw the failure started the back-off; give it a moment to be written.
    common::wait_until("the back-off", Duration::from_secs(10), || async {
        !env.redis.keys("acme:ondemand:backoff:*").await.is_empty()
    })
    .await;
    let other = Certgate::start_with_env(other_instance(&env)).await;
    for p in [port, other.https_port] {
        let (serial, took) = handshake(p, "broken.test").await;
        assert!(
            took < Duration::from_secs(1),
            "backed off at once: {took:?}"
        );
        assert!(first == serial || p != port, "the default certificate");
    }
    assert_eq!(orders(&env), 1, "no order while backing off");
    let metrics =
        String::from_utf8_lossy(&other.admin().get("/metrics").await.unwrap().body).to_string();
    assert!(
        metrics.contains("certgate_on_demand_decisions_total{outcome=\"backed_off\"} 1"),
        "{metrics}"
    );
}

/// Once a failed name's back-off is over, the handshake that starts its retry waits for the new
/// generation and is served its certificate (the record still says `failed` while the retry
/// runs: the generation's own status decides).
#[tokio::test]
async fn the_handshake_that_retries_a_failed_name_is_served_its_certificate() {
    let env = on_demand_env(&[]).await;
    allow(&env.certgate, "retry.test").await;
    env.pebble.set_a("retry.test", "127.0.0.2").await;
    let port = env.certgate.https_port;
    let (default_serial, _) = handshake(port, "retry.test").await;
    let status =
        common::wait_generation(&env.certgate.admin(), "retry.test", Duration::from_secs(60)).await;
    assert_eq!(status["status"], "failed", "{status}");
    common::wait_until("the back-off", Duration::from_secs(10), || async {
        !env.redis.keys("acme:ondemand:backoff:*").await.is_empty()
    })
    .await;

    // Validation can succeed now, and the back-off is over (its key gone, as at its end).
    env.pebble.clear_a("retry.test").await;
    let client = env.redis.client().await;
    for key in env.redis.keys("acme:ondemand:backoff:*").await {
        let _: i64 = fred::prelude::KeysInterface::del(&client, key)
            .await
            .unwrap();
    }
    let (serial, took) = handshake(port, "retry.test").await;
    if serial == default_serial {
        let status = env
            .certgate
            .admin()
            .get("/certificates/retry.test/status")
            .await
            .unwrap();
        panic!(
            "the retrying handshake got the default certificate after {took:?}: {}",
            status.json()
        );
    }
    let cert = with_pem(&env.certgate.admin(), "retry.test").await;
    assert_eq!(
        leaf_info(cert["fullchain_pem"].as_str().unwrap())
            .unwrap()
            .serial,
        serial
    );
    assert_eq!(orders(&env), 2, "one order per attempt");
}
