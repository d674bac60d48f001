//! Many certificates at once: bulk onboarding against Pebble.

use std::time::{Duration, Instant};

use serde_json::json;

use super::env_with;

use crate::common;

/// Bulk onboarding: 1,000 single-name ACME certificates submitted at once all become active,
/// every request answered without a 5xx; time and peak memory printed for the notes.
#[tokio::test]
async fn a_thousand_certificates_onboard_at_once() {
    let env = env_with(&[("PEBBLE_WFE_NONCEREJECT", "0")], &[]).await;
    let admin = env.certgate.admin();
    let started = Instant::now();
    let submit: Vec<_> = (0..20)
        .map(|worker| {
            let admin = admin.clone();
            tokio::spawn(async move {
                for i in (worker..1000).step_by(20) {
                    let body = json!({ "cert_name": format!("bulk{i:04}"), "domain": format!("bulk{i:04}.example.com") });
                    let r = admin.post("/certificates/", &body).await.unwrap();
                    assert_eq!(r.status, 202, "{}", r.json());
                }
            })
        })
        .collect();
    for s in submit {
        s.await.unwrap();
    }
    let submitted = started.elapsed();
    let deadline = started + Duration::from_secs(240);
    while !all_active(&admin).await {
        if Instant::now() > deadline {
            panic!(
                "not all 1000 certificates active after 240 s: {}",
                stuck_report(&env).await
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let pid = env.certgate.pid().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let peak = status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .unwrap_or("VmHWM: ?")
        .to_owned();
    println!(
        "1000 certificates: submitted in {submitted:?}, all active after {:?}; {peak}",
        started.elapsed()
    );
    let failed = common::listed(&admin, "/certificates/?limit=10000", "status").await;
    assert_eq!(failed.len(), 1000);
    assert!(failed.iter().all(|s| s == "active"));
}

async fn all_active(admin: &certgate::client::AdminClient) -> bool {
    let m = admin.get("/metrics").await.unwrap();
    String::from_utf8_lossy(&m.body).contains("certgate_certificates{status=\"active\"} 1000")
}

/// What a timed-out run needs to be understood from CI output alone: how many certificates are in
/// each status, the distinct errors of those not active, and certgate's last warnings.
async fn stuck_report(env: &super::Env) -> String {
    let admin = env.certgate.admin();
    let list = admin
        .get("/certificates/?limit=10000")
        .await
        .unwrap()
        .json();
    let mut by_status = std::collections::BTreeMap::<String, usize>::new();
    let mut errors = std::collections::BTreeMap::<String, usize>::new();
    for cert in list.as_array().into_iter().flatten() {
        let status = cert["status"].as_str().unwrap_or("?").to_owned();
        if status != "active" {
            let error = cert["last_error"].as_str().unwrap_or("(none)").to_owned();
            *errors.entry(error).or_default() += 1;
        }
        *by_status.entry(status).or_default() += 1;
    }
    let log = env.certgate.log_text();
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .collect();
    let last = &warnings[warnings.len().saturating_sub(20)..];
    // For a few of the certificates not active: their generation's status and every log line
    // that names them.
    let mut stuck = String::new();
    let names = list
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["status"] != "active");
    for cert in names.take(3) {
        let name = cert["cert_name"].as_str().unwrap_or_default();
        let status = admin
            .get(&format!("/certificates/{name}/status"))
            .await
            .unwrap()
            .json();
        stuck.push_str(&format!("\n{name}: generation {status}\n"));
        for line in log.lines().filter(|l| l.contains(name)) {
            stuck.push_str(line);
            stuck.push('\n');
        }
    }
    format!(
        "statuses {by_status:?}; errors of the rest {errors:?}; {} warnings, the last: \n{}\nnot active:{stuck}",
        warnings.len(),
        last.join("\n")
    )
}
