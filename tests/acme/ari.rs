//! ACME Renewal Information (RFC 9773) against Pebble v2.10.1: the window recorded after
//! issuance, a CA-moved window renewing with `replaces`, a malformed answer falling back to the
//! threshold rule, and one request per certificate per interval across three instances.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{env_with_profiles, Env};
use certgate::certs::pem::leaf_info;
use common::client::{served_leaf, try_connect};
use common::{wait_until, with_pem, Certgate};

use crate::common;

/// Short ARI intervals so a test sees several polls.
const FAST_ARI: &[(&str, &str)] = &[
    ("ARI_MIN_POLL_SECONDS", "1"),
    ("ARI_MAX_POLL_SECONDS", "2"),
    ("RENEWAL_CHECK_INTERVAL", "1"),
];

/// An environment whose Pebble answers ARI; `None` (after one printed line) when it does not.
async fn ari_env() -> Option<Env> {
    let env = env_with_profiles(&[], FAST_ARI, &[], &[]).await;
    if !env.pebble.has_renewal_info().await {
        common::skip_unless_ci(
            "this Pebble has no renewalInfo (v2.10.1 in ../shared/tools/pebble does)",
        );
        return None;
    }
    Some(env)
}

fn at(text: &str) -> OffsetDateTime {
    OffsetDateTime::parse(text, &Rfc3339).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

/// Issues `name` for `domain` and waits until its renewal window is recorded.
async fn issue_with_window(env: &Env, name: &str, domain: &str) -> Value {
    let (status, _) = super::issue(env, name, &[domain.to_owned()], "ari@example.com").await;
    assert_eq!(status["status"], "completed", "{status}");
    let admin = env.certgate.admin();
    wait_until("the renewal window", Duration::from_secs(20), || {
        let admin = admin.clone();
        async move {
            let cert = admin.get(&format!("/certificates/{name}")).await.unwrap();
            cert.json()["renewal_window"].is_object()
        }
    })
    .await;
    with_pem(&admin, name).await
}

async fn metric(certgate: &Certgate, line_prefix: &str) -> f64 {
    let answer = certgate.admin().get("/metrics").await.unwrap();
    let text = String::from_utf8_lossy(&answer.body).to_string();
    text.lines()
        .filter(|l| l.starts_with(line_prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// After issuance the record holds Pebble's window and a moment inside it; when Pebble moves
/// the window to "now", certgate renews within the poll interval, the new order names the old
/// certificate in `replaces` (Pebble then refuses a second replacement of it with
/// `alreadyReplaced`), and handshakes never fail while the served certificate switches.
#[tokio::test]
async fn the_ca_window_is_recorded_and_a_moved_window_renews_with_replaces() {
    let Some(env) = ari_env().await else { return };
    let cert = issue_with_window(&env, "steered", "steered.example.com").await;
    let cert_id = cert["ari_cert_id"].as_str().unwrap().to_owned();
    let answer = env.pebble.renewal_info(&cert_id).await;
    let window = &cert["renewal_window"];
    for edge in ["start", "end"] {
        assert_eq!(
            at(window[edge].as_str().unwrap()),
            at(answer["suggestedWindow"][edge].as_str().unwrap()),
            "window {edge}: record {cert} vs Pebble {answer}"
        );
    }
    let renewal_at = at(cert["renewal_at"].as_str().unwrap());
    assert!(
        at(window["start"].as_str().unwrap()) <= renewal_at
            && renewal_at <= at(window["end"].as_str().unwrap()),
        "renewal_at outside the window: {cert}"
    );
    assert_eq!(cert["next_renewal_at"], cert["renewal_at"], "{cert}");
    assert!(cert["ari_checked_at"].is_string(), "{cert}");
    assert!(
        cert["replaces"].is_null(),
        "a first issuance replaces nothing"
    );
    let scheduled = metric(
        &env.certgate,
        "certgate_certificate_renewal_at_seconds{cert_name=\"steered\"}",
    )
    .await;
    assert_eq!(scheduled as i64, renewal_at.unix_timestamp());

    // Handshakes all along; each records which serial it saw.
    let old_chain = cert["fullchain_pem"].as_str().unwrap().to_owned();
    let old_serial = leaf_info(&old_chain).unwrap().serial;
    let failures = Arc::new(AtomicU32::new(0));
    let stop = Arc::new(AtomicU32::new(0));
    let port = env.certgate.https_port;
    let watcher = {
        let (failures, stop) = (failures.clone(), stop.clone());
        tokio::spawn(async move {
            let mut serials = Vec::new();
            while stop.load(Ordering::SeqCst) == 0 {
                match try_connect(port, "steered.example.com", &[]).await {
                    Ok(tls) => {
                        let leaf = served_leaf(&tls);
                        serials.push(certgate::certs::pem::leaf_info_der(&leaf).unwrap().serial);
                    }
                    Err(e) => {
                        eprintln!("handshake failed: {e}");
                        failures.fetch_add(1, Ordering::SeqCst);
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            serials
        })
    };

    let now = OffsetDateTime::now_utc();
    let moved = json!({ "suggestedWindow": {
        "start": (now - time::Duration::minutes(1)).format(&Rfc3339).unwrap(),
        "end": (now + time::Duration::seconds(1)).format(&Rfc3339).unwrap(),
    }});
    let started = Instant::now();
    env.pebble
        .set_renewal_info(&old_chain, &moved.to_string())
        .await;
    let admin = env.certgate.admin();
    wait_until("the ARI-triggered renewal", Duration::from_secs(60), || {
        let admin = admin.clone();
        let old = cert_id.clone();
        async move {
            let now = admin.get("/certificates/steered").await.unwrap().json();
            now["replaces"].as_str() == Some(old.as_str()) && now["status"] == "active"
        }
    })
    .await;
    println!(
        "ARI-triggered renewal: {:?} after the window moved",
        started.elapsed()
    );
    let renewed = with_pem(&admin, "steered").await;
    let new_serial = leaf_info(renewed["fullchain_pem"].as_str().unwrap())
        .unwrap()
        .serial;
    assert_ne!(new_serial, old_serial);
    let status = admin
        .get("/certificates/steered/status")
        .await
        .unwrap()
        .json();
    assert_eq!(status["status"], "completed", "{status}");

    // The edge switches to the new certificate with no failed handshake.
    wait_until(
        "the edge to serve the new certificate",
        Duration::from_secs(10),
        || {
            let serial = new_serial.clone();
            async move {
                let tls = try_connect(port, "steered.example.com", &[]).await.unwrap();
                certgate::certs::pem::leaf_info_der(&served_leaf(&tls))
                    .unwrap()
                    .serial
                    == serial
            }
        },
    )
    .await;
    // A few more handshakes by the watcher on the new certificate before it stops.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(1, Ordering::SeqCst);
    let serials = watcher.await.unwrap();
    assert_eq!(failures.load(Ordering::SeqCst), 0, "failed handshakes");
    assert!(
        serials.contains(&old_serial) && serials.contains(&new_serial),
        "the watcher saw {} handshakes, old {old_serial} and new {new_serial} among them: {:?}",
        serials.len(),
        serials.iter().collect::<std::collections::BTreeSet<_>>()
    );

    // Pebble marked the old certificate replaced: a second order replacing it is refused.
    let refusal = second_replacement(&env, "steered.example.com", &cert_id).await;
    assert!(refusal.contains("alreadyReplaced"), "{refusal}");
}

/// Places an order naming `cert_id` in `replaces` from a fresh account; the CA's problem.
async fn second_replacement(env: &Env, domain: &str, cert_id: &str) -> String {
    use instant_acme::{Account, CertificateIdentifier, Identifier, NewAccount, NewOrder};
    let (account, _) = Account::builder_with_root(&env.pebble.ca_bundle)
        .unwrap()
        .create(
            &NewAccount {
                contact: &[],
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            env.pebble.directory_url(),
            None,
        )
        .await
        .unwrap();
    let (aki, serial) = cert_id.split_once('.').unwrap();
    let id = CertificateIdentifier {
        authority_key_identifier: aki.to_owned().into(),
        serial: serial.to_owned().into(),
    };
    let identifiers = [Identifier::Dns(domain.to_owned())];
    match account
        .new_order(&NewOrder::new(&identifiers).replaces(id))
        .await
    {
        Ok(_) => "the CA accepted a second replacement".into(),
        Err(e) => format!("{e:?}"),
    }
}

/// Malformed ARI JSON: a warning is logged, the threshold rule schedules the renewal, and
/// certgate keeps serving.
#[tokio::test]
async fn a_malformed_answer_falls_back_to_the_threshold_rule() {
    let Some(env) = ari_env().await else { return };
    let cert = issue_with_window(&env, "garbled", "garbled.example.com").await;
    let chain = cert["fullchain_pem"].as_str().unwrap();
    env.pebble
        .set_renewal_info(chain, "{\"suggestedWindow\": {\"start\": ")
        .await;
    let admin = env.certgate.admin();
    wait_until("the fallback", Duration::from_secs(20), || {
        let admin = admin.clone();
        async move {
            let now = admin.get("/certificates/garbled").await.unwrap().json();
            now["renewal_window"].is_null()
        }
    })
    .await;
    let after = admin.get("/certificates/garbled").await.unwrap().json();
    let expires = at(after["expires_at"].as_str().unwrap());
    // Pebble's default certificate lives 90 days, RENEWAL_THRESHOLD_DAYS is 30.
    assert_eq!(
        at(after["next_renewal_at"].as_str().unwrap()),
        expires - time::Duration::days(30),
        "{after}"
    );
    assert!(after["renewal_at"].is_null(), "{after}");
    let log = env.certgate.log_text();
    assert!(
        log.contains("renewal information unavailable; renewing by the threshold rule"),
        "no warning in the log"
    );
    assert!(
        metric(
            &env.certgate,
            "certgate_ari_requests_total{outcome=\"failed\"}"
        )
        .await
            >= 1.0
    );
    let health = admin.get("/health").await.unwrap();
    assert_eq!(health.status, 200, "{}", health.json());
}

/// Three instances on one Redis: each certificate's window is fetched once per interval in
/// all, not once per instance.
#[tokio::test]
async fn three_instances_ask_once_per_interval() {
    let Some(env) = ari_env().await else { return };
    issue_with_window(&env, "shared", "shared.example.com").await;
    let mut others = Vec::new();
    for _ in 0..2 {
        let mut vars = env.certgate.env.clone();
        vars.retain(|(k, _)| !k.ends_with("_ADDR"));
        others.push(Certgate::start_with_env(vars).await);
    }
    let instances: Vec<&Certgate> = std::iter::once(&env.certgate).chain(&others).collect();
    let total = || async {
        let mut sum = 0.0;
        for cg in &instances {
            sum += metric(cg, "certgate_ari_requests_total").await;
        }
        sum
    };
    // Let the new instances run a pass, then count over a span of several intervals.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = total().await;
    let span = Duration::from_secs(12);
    tokio::time::sleep(span).await;
    let asked = total().await - before;
    // ARI_MAX_POLL_SECONDS is 2: one instance asking every 2 s makes about 6 requests; three
    // instances asking on their own would make about 18.
    println!("ARI requests by three instances in {span:?}: {asked}");
    assert!(
        (3.0..=8.0).contains(&asked),
        "{asked} ARI requests in {span:?}"
    );
    let mut askers = 0;
    for cg in &instances {
        if metric(cg, "certgate_ari_requests_total").await > 0.0 {
            askers += 1;
        }
    }
    assert!(askers >= 1);
}
