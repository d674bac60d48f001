//! A route's `rate_limit` counted once for the cluster: three instances on one Redis, clients
//! spread round-robin over them, let through the limit (plus at most one lease per instance
//! and what refilled meanwhile), the rest `429` with `Retry-After`; far fewer Redis commands
//! than requests.

use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;

use common::client::{collect, http2};

use super::*;

/// How many `EVAL`s Redis has run.
async fn evals(redis: &Redis) -> u64 {
    use fred::prelude::ClientLike;
    let client = redis.client().await;
    let cmd = fred::types::CustomCommand::new_static("INFO", None, false);
    let info: String = client.custom(cmd, vec!["commandstats"]).await.unwrap();
    info.lines()
        .find(|l| l.starts_with("cmdstat_eval:"))
        .and_then(|l| l.split("calls=").nth(1))
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// One GET for `host` on `sender`: its status and `Retry-After`.
async fn limited_get(
    sender: &mut hyper::client::conn::http2::SendRequest<Full<Bytes>>,
    host: &str,
    api_key: Option<&str>,
) -> (u16, Option<u64>) {
    let mut req = Request::get(format!("https://{host}/limited"));
    if let Some(key) = api_key {
        req = req.header("x-api-key", key);
    }
    let response = sender
        .send_request(req.body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap();
    let answer = collect(response).await;
    let retry_after = answer
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    (answer.status, retry_after)
}

/// Three instances on one Redis, each with a route for `host` limited by `limit`, and one
/// HTTP/2 connection to each.
async fn limited_cluster(
    host: &'static str,
    limit: Value,
) -> (
    Redis,
    Vec<Certgate>,
    upstream::Upstream,
    Vec<hyper::client::conn::http2::SendRequest<Full<Bytes>>>,
) {
    let redis = Redis::start().await;
    let mut instances = Vec::new();
    for _ in 0..3 {
        instances.push(Certgate::start(&redis.url(), "rl:", &[]).await);
    }
    let up = upstream::start("limited").await;
    create_self_signed(&instances[0].admin(), "limited", &[host]).await;
    let body = json!({ "hostname": host, "upstream": up.url(), "rate_limit": limit });
    let r = instances[0].admin().post("/proxies/", &body).await.unwrap();
    assert_eq!(r.status, 201, "{}", r.json());
    let mut senders = Vec::new();
    for cg in &instances {
        wait_until(
            "the route on every instance",
            Duration::from_secs(10),
            || async { get(cg.https_port, host, host, "/").await.status != 404 },
        )
        .await;
        senders.push(http2(connect(cg.https_port, host, &[b"h2"]).await).await);
    }
    (redis, instances, up, senders)
}

#[tokio::test]
async fn three_instances_let_through_the_limit_once_and_refuse_the_rest() {
    let limit = json!({ "requests": 100, "per_seconds": 10 });
    let (redis, instances, _up, senders) = limited_cluster("limited.test", limit).await;
    // The probes above spent a few tokens; wait until the bucket is full again (10/s).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let evals_before = evals(&redis).await;
    let started = Instant::now();
    let mut answers = Vec::new();
    // 300 requests round-robin over the instances, 30 at a time.
    for _ in 0..10 {
        let batch = (0..30).map(|i| {
            let mut sender = senders[i % 3].clone();
            async move { limited_get(&mut sender, "limited.test", None).await }
        });
        answers.extend(futures_util::future::join_all(batch).await);
    }
    let elapsed = started.elapsed();
    let passed = answers.iter().filter(|(s, _)| *s == 200).count() as u64;
    let limited: Vec<_> = answers.iter().filter(|(s, _)| *s == 429).collect();
    assert_eq!(passed + limited.len() as u64, 300, "{answers:?}");
    assert!(
        limited
            .iter()
            .all(|(_, retry)| retry.is_some_and(|r| r >= 1)),
        "{limited:?}"
    );
    // The burst, plus what refilled during the run (10/s), plus 10 % at most.
    let refilled = (elapsed.as_secs_f64() * 10.0).ceil() as u64;
    assert!(
        (100..=110 + refilled).contains(&passed),
        "{passed} passed in {elapsed:?} (refill {refilled})"
    );
    let evals = evals(&redis).await - evals_before;
    eprintln!(
        "rate limit 100/10 s on 3 instances: {passed} of 300 passed in {elapsed:?}, {evals} EVALs"
    );
    assert!(evals * 2 < 300, "{evals} EVALs for 300 requests");
    // Each instance counted its refusals.
    let mut counted = 0;
    for cg in &instances {
        let metrics = cg.admin().get("/metrics").await.unwrap();
        let text = String::from_utf8_lossy(&metrics.body).into_owned();
        counted += text
            .lines()
            .find_map(|l| l.strip_prefix("certgate_rate_limited_total{route=\"limited.test\"} "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
    }
    assert_eq!(counted, limited.len() as u64);
}

#[tokio::test]
async fn a_header_key_gives_each_value_its_own_bucket() {
    let limit = json!({ "requests": 2, "per_seconds": 60, "key": "header:x-api-key" });
    let (_redis, _instances, _up, senders) = limited_cluster("keyed.test", limit).await;
    let mut statuses = Vec::new();
    for i in 0..4 {
        let mut sender = senders[i % 3].clone();
        statuses.push(
            limited_get(&mut sender, "keyed.test", Some("alice"))
                .await
                .0,
        );
    }
    assert_eq!(statuses, [200, 200, 429, 429]);
    let (status, retry) = limited_get(&mut senders[0].clone(), "keyed.test", Some("bob")).await;
    assert_eq!(status, 200);
    assert_eq!(retry, None);
    let (status, retry) = limited_get(&mut senders[1].clone(), "keyed.test", Some("alice")).await;
    assert_eq!(status, 429);
    assert!(retry.is_some_and(|r| (1..=30).contains(&r)), "{retry:?}");
}
