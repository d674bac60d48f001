//! The whole lifecycle on the Redis topologies operators run: a three-node Redis Cluster and a
//! TLS-only Redis.

use std::time::Duration;

use serde_json::json;

use super::{cert, serial, wait_serial_change, FAST};
use common::client::{connect, get, leaf_der, served_leaf};
use common::topologies::{certgate_acl, RedisCluster, RedisTls, CLUSTER_ACL};
use common::{create_self_signed, upstream, wait_until, Certgate};

use crate::common;

/// Create, issue, serve, renew, delete through `url`, with a second instance seeing the route.
async fn lifecycle(url: &str, extra: &[(&str, &str)]) {
    let mut settings: Vec<(&str, &str)> = FAST.to_vec();
    settings.extend_from_slice(extra);
    let a = Certgate::start(url, "l:", &settings).await;
    let b = Certgate::start(url, "l:", &settings).await;
    let up = upstream::start("app").await;
    create_self_signed(&a.admin(), "life", &["life.test", "www.life.test"]).await;
    // A rate limit far above the test's requests: its script (EVAL with TIME) runs on every
    // topology, and a refusal by Redis would show as the fail-open warning checked below.
    let body = json!({ "hostname": "life.test", "upstream": up.url(), "cert_name": "life",
        "rate_limit": { "requests": 10000, "per_seconds": 1 } });
    assert_eq!(
        a.admin().post("/proxies/", &body).await.unwrap().status,
        201
    );
    let port = b.https_port;
    wait_until(
        "the second instance to serve the route",
        Duration::from_secs(10),
        || async move { get(port, "life.test", "life.test", "/").await.status == 200 },
    )
    .await;
    let before = cert(&a, "life").await;
    assert_eq!(
        a.admin()
            .post("/certificates/life/renew", &json!({}))
            .await
            .unwrap()
            .status,
        202
    );
    let renewed = wait_serial_change(&b, "life", &serial(&before), Duration::from_secs(30)).await;
    let chain = renewed["fullchain_pem"].as_str().unwrap().to_owned();
    wait_until(
        "the renewed certificate served by the second instance",
        Duration::from_secs(10),
        || {
            let chain = chain.clone();
            async move {
                served_leaf(&connect(port, "life.test", &[b"http/1.1"]).await) == leaf_der(&chain)
            }
        },
    )
    .await;
    assert_eq!(
        a.admin().delete("/proxies/life.test").await.unwrap().status,
        204
    );
    assert_eq!(
        a.admin().delete("/certificates/life").await.unwrap().status,
        204
    );
    assert_eq!(
        b.admin().get("/certificates/life").await.unwrap().status,
        404
    );
    wait_until(
        "the route gone from the second instance",
        Duration::from_secs(10),
        || async move { get(port, "life.test", "life.test", "/").await.status == 404 },
    )
    .await;
    for instance in [&a, &b] {
        let log = instance.log_text();
        assert!(!log.contains("rate limits are not enforced"), "{log}");
        assert!(!log.contains("NOPERM"), "{log}");
    }
}

#[tokio::test]
async fn lifecycle_on_one_redis_as_the_least_privilege_user() {
    let redis = common::Redis::start().await;
    let rules = certgate_acl("l:");
    let mut setuser = vec!["ACL", "SETUSER"];
    setuser.extend(rules.split(' ').filter(|w| !w.is_empty()));
    assert_eq!(redis.cli(&setuser).trim(), "OK");
    let url = format!("redis://certgate:secret@127.0.0.1:{}", redis.port);
    lifecycle(&url, &[]).await;
}

#[tokio::test]
async fn lifecycle_on_a_three_node_redis_cluster_as_the_least_privilege_user() {
    let user = format!("{} {CLUSTER_ACL}", certgate_acl("l:"));
    let cluster = RedisCluster::start_with_user(Some(&user)).await;
    lifecycle(&cluster.url_as("certgate", "secret"), &[]).await;
}

#[tokio::test]
async fn lifecycle_on_a_tls_only_redis_as_the_least_privilege_user() {
    let redis = RedisTls::start_with_user(Some(&certgate_acl("l:"))).await;
    let ca = redis.ca_file.display().to_string();
    // Rate limits and sealed keys exercise EVAL with TIME and the key writes too.
    let dir = common::TempDir::new("acl-keys");
    let key_file = dir.0.join("keys");
    std::fs::write(
        &key_file,
        "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
    )
    .unwrap();
    let keys = key_file.display().to_string();
    let url = redis.url_as("certgate", "secret");
    lifecycle(
        &url,
        &[("REDIS_CA_BUNDLE", &ca), ("KEY_ENCRYPTION_KEYS", &keys)],
    )
    .await;
    // The user is not +@all: what certgate never needs is refused.
    for refused in [
        &["FLUSHALL"][..],
        &["CONFIG", "GET", "maxmemory"],
        &["KEYS", "*"],
        &["GET", "other:key"],
        &["SCRIPT", "FLUSH"],
    ] {
        let answer = redis.cli_as("certgate", "secret", refused);
        assert!(answer.contains("NOPERM"), "{refused:?} answered {answer}");
    }
    assert!(redis
        .cli_as("certgate", "secret", &["PING"])
        .contains("PONG"));
}
