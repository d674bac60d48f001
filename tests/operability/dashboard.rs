//! The dashboard (`GET /ui/`) in a real headless browser: Debian's Chromium driven through
//! Selenium by `tests/ui/drive.py` (installed by `scripts/test-tools.sh`). Log in, see a new
//! certificate appear with its countdown, renew it from the page, see a failed certificate's
//! error, requests counted by protocol on the cluster tab, a tenant sees only its own and
//! deletes it (after confirming); zero console errors and zero CSP violations. The test
//! saves a screenshot (`target/ui/dashboard.png`; the README shows a copy).

use super::*;
use common::require_binary;

fn require_selenium() {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import selenium"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "python3 with selenium is needed: run scripts/test-tools.sh (pip install selenium)"
    );
}

/// A failed certificate, written to the store as a generation that failed would leave it.
async fn failed_certificate(redis_url: &str, prefix: &str) {
    let store = certgate::store::Store::connect(redis_url, prefix)
        .unwrap()
        .writer();
    store.wait_connected(Duration::from_secs(5)).await;
    let mut record = common::records::failed("ui-failed", "failed.ui.test");
    record.issuer = certgate::certs::model::IssuerKind::Acme;
    record.last_error =
        Some("urn:ietf:params:acme:error:dns: NXDOMAIN looking up A for failed.ui.test".into());
    common::records::create_failed(&store, &record, "NXDOMAIN looking up A for failed.ui.test")
        .await;
}

#[tokio::test]
async fn dashboard_in_a_headless_browser() {
    require_binary(
        "chromium",
        "apt-get install -y chromium (scripts/test-tools.sh does)",
    );
    require_binary(
        "chromedriver",
        "apt-get install -y chromium-driver (scripts/test-tools.sh does)",
    );
    require_selenium();
    let redis = Redis::start().await;
    failed_certificate(&redis.url(), "ui:").await;
    let cg = Certgate::start(&redis.url(), "ui:", &[]).await;
    let admin = cg.admin();

    // The page's own headers: strict CSP, never framed, never sniffed.
    let page = cg.client(None).get("/ui/").await.unwrap();
    assert_eq!(page.status, 200);
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(page.headers["x-content-type-options"], "nosniff");

    let tenant_token = common::requests::create_token(&admin, "tenant").await;
    create_self_signed(&admin, "ui-admin", &["admin.ui.test"]).await;
    create_self_signed(
        &cg.client(Some(&tenant_token)),
        "ui-tenant",
        &["tenant.ui.test"],
    )
    .await;

    // One HTTP/1.1 request at the edge (no route: 404), for the requests-by-protocol panel.
    let answer = common::client::get(cg.https_port, "admin.ui.test", "admin.ui.test", "/").await;
    assert_eq!(answer.status, 404);

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ui");
    std::fs::create_dir_all(&dir).unwrap();
    let screenshot = dir.join("dashboard.png");
    let _ = std::fs::remove_file(&screenshot);
    let script = format!("{}/tests/ui/drive.py", env!("CARGO_MANIFEST_DIR"));
    let run = tokio::process::Command::new("python3")
        .args([
            script,
            cg.admin_url(),
            ADMIN_TOKEN.to_owned(),
            tenant_token.clone(),
            screenshot.display().to_string(),
        ])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("the browser run ends within 180 s")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the browser run failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();

    assert_eq!(seen["console"], json!([]), "console errors: {seen}");
    assert_eq!(seen["csp_violations"], 0, "{seen}");
    assert_eq!(seen["admin_sees_cluster_tab"], true);
    let rows = &seen["protocol_rows"];
    let h1: Vec<&str> = rows["h1"].as_str().unwrap().split_whitespace().collect();
    assert_eq!(h1.first(), Some(&"HTTP/1.1"), "{rows}");
    assert!(
        h1[3].parse::<u32>().unwrap() >= 1,
        "the 404 counted under HTTP/1.1 4xx: {rows}"
    );
    assert!(rows["h3"].as_str().unwrap().starts_with("HTTP/3"), "{rows}");
    assert_eq!(seen["new_status"], "active", "{seen}");
    let countdown = seen["new_countdown"].as_str().unwrap();
    assert!(
        countdown.ends_with('h') && countdown.contains("d "),
        "{countdown}"
    );
    assert!(
        seen["renewed_status"]
            .as_str()
            .unwrap()
            .starts_with("generation: completed"),
        "{seen}"
    );
    assert!(
        seen["failed_text"]
            .as_str()
            .unwrap()
            .contains("NXDOMAIN looking up A for failed.ui.test"),
        "{seen}"
    );
    assert_eq!(seen["chain_rows"], 1, "a self-signed chain is its leaf");
    assert_eq!(seen["page_has_key"], false);
    assert_eq!(seen["filtered"], json!(["ui-tenant"]));
    assert_eq!(
        seen["admin_sees"],
        json!(["ui-admin", "ui-failed", "ui-new", "ui-tenant"])
    );
    assert_eq!(seen["instances"], 1);
    assert!(
        seen["events_text"].as_str().unwrap().contains("ui-new"),
        "{seen}"
    );
    assert_eq!(seen["tenant_sees"], json!(["ui-tenant"]), "{seen}");
    assert_eq!(seen["tenant_sees_cluster_tab"], false);
    assert_eq!(seen["after_first_delete_click"], json!(["ui-tenant"]));
    assert_eq!(seen["confirm_label"], "Confirm delete");
    assert_eq!(seen["after_confirm"], json!([]));
    let gone = admin.get("/certificates/ui-tenant").await.unwrap();
    assert_eq!(gone.status, 404, "deleted from the page");
    assert_eq!(seen["token_in_url"], false);
    let png = std::fs::read(&screenshot).expect("the screenshot was saved");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000);
}
