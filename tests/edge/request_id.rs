//! `X-Request-Id`: made when the client sent none (or an unusable one), kept when it sent one,
//! forwarded upstream and written in the access log.

use super::*;
use crate::python_tools;

#[tokio::test]
async fn every_proxied_request_carries_an_id_to_the_upstream_and_the_log() {
    let (_redis, cg) = instance(&[("ACCESS_LOG", "true"), ("LOG_FORMAT", "json")]).await;
    let up = upstream::start("ids").await;
    create_self_signed(&cg.admin(), "ids", &["ids.test"]).await;
    route(&cg, "ids.test", &up.url(), None).await;

    let made: Vec<String> = futures_util::future::join_all((0..3).map(|_| async {
        let answer = get(cg.https_port, "ids.test", "ids.test", "/made").await;
        answer.json()["headers"]["x-request-id"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }))
    .await;
    assert!(made.iter().all(|id| !id.is_empty()), "{made:?}");
    let distinct: std::collections::BTreeSet<_> = made.iter().collect();
    assert_eq!(distinct.len(), 3, "{made:?}");

    let tls = connect(cg.https_port, "ids.test", &[b"http/1.1"]).await;
    let mut sender = http1(tls).await;
    let req = Request::get("/kept")
        .header("host", "ids.test")
        .header("x-request-id", "client-chose-this")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let answer = collect(sender.send_request(req).await.unwrap()).await;
    assert_eq!(
        answer.json()["headers"]["x-request-id"],
        "client-chose-this"
    );

    // The access log names each request's id.
    let mut log = String::new();
    for _ in 0..50 {
        log = cg.log_text();
        if log.contains("client-chose-this") && made.iter().all(|id| log.contains(id.as_str())) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("ids missing from the access log:\n{log}");
}

/// To an HTTP/2 upstream the id goes as a never-indexed HPACK literal, and the headers that
/// repeat go as references to the connection's header table in every request. Indexed, the
/// ids (≈ 64 table bytes each) filled the 4,096-byte table by the 60th request and pushed the
/// repeated headers out, so that one request in ≈ 60 sent them all in full again (121 bytes
/// against 30, measured).
#[tokio::test]
async fn the_id_is_never_indexed_by_an_http2_upstreams_header_table() {
    let (_redis, cg) = instance(&[]).await;
    python_tools::require("h2, hpack, hyperframe", "h2");
    let port = common::free_port();
    let _upstream = python_tools::start_server("tools/h2c_headers.py", &[port.to_string()]).await;
    create_self_signed(&cg.admin(), "hpack", &["hpack.test"]).await;
    route(&cg, "hpack.test", &format!("h2c://127.0.0.1:{port}"), None).await;

    let tls = connect(cg.https_port, "hpack.test", &[b"http/1.1"]).await;
    let mut sender = http1(tls).await;
    let mut reports = Vec::new();
    for _ in 0..100 {
        let req = Request::get("/same")
            .header("host", "hpack.test")
            .header("user-agent", "the-same-client/1.0")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let answer = collect(sender.send_request(req).await.unwrap()).await;
        assert_eq!(answer.status, 200);
        reports.push(answer.json());
    }
    for report in &reports {
        assert_eq!(report["x-request-id"], "never-indexed", "{report}");
        assert_eq!(report["user-agent"], "indexable", "{report}");
        assert_eq!(report["x-forwarded-for"], "indexable", "{report}");
    }
    let sizes: Vec<u64> = reports
        .iter()
        .map(|r| r["header_block_bytes"].as_u64().unwrap())
        .collect();
    // After the first: the id (its name and ≈ 20 bytes of value), one byte per repeated header.
    assert!(
        sizes[1..].iter().all(|&bytes| bytes <= 60),
        "a request's header block re-sent the repeated headers in full: {sizes:?}"
    );
}
