//! `X-Request-Id`: made when the client sent none (or an unusable one), kept when it sent one,
//! forwarded upstream and written in the access log.

use super::*;

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
