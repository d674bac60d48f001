//! `ACCESS_LOG=FILE`: every request of a mixed run (HTTP/1.1 and HTTP/2, proxied, refused,
//! plain HTTP) is one JSON line with the usual fields; SIGHUP after logrotate moved the file
//! starts a new one.

use super::*;

/// The file's lines once it has `n` (waiting up to 5 s: a line is written as its answer's body
/// ends, a moment after the client has it).
async fn lines_when(path: &std::path::Path, n: usize) -> Vec<serde_json::Value> {
    let mut text = String::new();
    for _ in 0..50 {
        text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().count() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert_eq!(lines.len(), n, "{text}");
    lines
}

#[tokio::test]
async fn every_request_is_one_json_line_and_sighup_starts_a_new_file() {
    let dir = common::TempDir::new("access-log");
    let path = dir.0.join("access.log");
    let (_redis, mut cg) = instance(&[("ACCESS_LOG", path.to_str().unwrap())]).await;
    let up = upstream::start("logged").await;
    create_self_signed(&cg.admin(), "logged", &["logged.test", "unrouted.test"]).await;
    route(&cg, "logged.test", &up.url(), None).await;

    // HTTP/1.1: a download of known size, a POST with a body, a host without a route.
    let answer = get(
        cg.https_port,
        "logged.test",
        "logged.test",
        "/download/1000",
    )
    .await;
    assert_eq!(answer.status, 200);
    let tls = connect(cg.https_port, "logged.test", &[b"http/1.1"]).await;
    let mut sender = http1(tls).await;
    let post = Request::post("/form")
        .header("host", "logged.test")
        .header("x-request-id", "posted-1")
        .body(Full::new(Bytes::from_static(b"name=value")))
        .unwrap();
    assert_eq!(sender.send_request(post).await.unwrap().status(), 200);
    let unrouted = get(cg.https_port, "unrouted.test", "unrouted.test", "/").await;
    assert_eq!(unrouted.status, 404);
    // HTTP/2: two requests on one connection.
    let tls = connect(cg.https_port, "logged.test", &[b"h2"]).await;
    let mut h2 = http2(tls).await;
    for path in ["/h2/a", "/h2/b"] {
        let req = Request::get(format!("https://logged.test{path}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        collect(h2.send_request(req).await.unwrap()).await;
    }
    // Plain HTTP: redirected.
    let redirect = common::requests::plain_get(cg.http_port, "logged.test").await;
    assert_eq!(redirect.status.as_u16(), 308);

    let lines = lines_when(&path, 6).await;
    for line in &lines {
        for field in [
            "time",
            "client",
            "method",
            "host",
            "path",
            "status",
            "bytes",
            "duration_ms",
            "protocol",
            "route",
            "outcome",
        ] {
            assert!(!line[field].is_null(), "{field} missing: {line}");
        }
        assert_eq!(line["client"], "127.0.0.1");
    }
    let find = |path: &str| {
        lines
            .iter()
            .find(|l| l["path"] == path)
            .unwrap_or_else(|| panic!("no line for {path}: {lines:?}"))
    };
    let download = find("/download/1000");
    assert_eq!(download["bytes"], 1000);
    assert_eq!(download["status"], 200);
    assert_eq!(download["protocol"], "h1");
    assert_eq!(download["tls"], "1.3");
    assert_eq!(download["upstream"], up.url().as_str());
    assert!(download["upstream_ms"].as_f64().is_some());
    assert!(download["request_id"]
        .as_str()
        .is_some_and(|id| !id.is_empty()));
    let posted = find("/form");
    assert_eq!(
        (posted["method"].as_str(), posted["request_id"].as_str()),
        (Some("POST"), Some("posted-1"))
    );
    assert_eq!(find("/h2/a")["protocol"], "h2");
    let refused = lines
        .iter()
        .find(|l| l["status"] == 404)
        .expect("the 404's line");
    assert_eq!(refused["host"], "unrouted.test");
    let plain = lines
        .iter()
        .find(|l| l["status"] == 308)
        .expect("the redirect's line");
    assert!(plain["tls"].is_null(), "{plain}");

    // logrotate: the file is moved, SIGHUP makes a new one; the old one gets nothing more.
    let rotated = dir.0.join("access.log.1");
    std::fs::rename(&path, &rotated).unwrap();
    let pid = cg.pid().unwrap();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let mut reopened = false;
    for _ in 0..50 {
        if path.exists() {
            reopened = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reopened, "no new file after SIGHUP:\n{}", cg.log_text());
    for _ in 0..2 {
        get(cg.https_port, "logged.test", "logged.test", "/after").await;
    }
    let after = lines_when(&path, 2).await;
    assert!(after.iter().all(|l| l["path"] == "/after"));
    assert_eq!(lines_when(&rotated, 6).await.len(), 6);
    // Still serving after the signal.
    assert_eq!(
        get(cg.https_port, "logged.test", "logged.test", "/")
            .await
            .status,
        200
    );
    cg.kill();
}
