//! The whole lifecycle on the Redis topologies operators run: a three-node Redis Cluster and a
//! TLS-only Redis.

use std::time::Duration;

use serde_json::json;

use super::{cert, serial, wait_serial_change, FAST};
use common::client::{connect, get, leaf_der, served_leaf};
use common::topologies::{RedisCluster, RedisTls};
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
    let body = json!({ "hostname": "life.test", "upstream": up.url(), "cert_name": "life" });
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
}

#[tokio::test]
async fn lifecycle_on_a_three_node_redis_cluster() {
    let cluster = RedisCluster::start().await;
    lifecycle(&cluster.url(), &[]).await;
}

#[tokio::test]
async fn lifecycle_on_a_tls_only_redis() {
    let redis = RedisTls::start().await;
    let ca = redis.ca_file.display().to_string();
    lifecycle(&redis.url(), &[("REDIS_CA_BUNDLE", &ca)]).await;
}
