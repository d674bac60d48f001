//! Instance heartbeats: `GET /cluster/instances` lists the instances alive now.

use std::time::Duration;

use common::{wait_until, Certgate, Redis};

use crate::common;

/// Every instance's heartbeat shows in `GET /cluster/instances`; a killed one drops out once its
/// heartbeat expires.
#[tokio::test]
async fn live_instances_are_listed_and_a_dead_one_drops_out() {
    let redis = Redis::start().await;
    let a = Certgate::start(&redis.url(), "i:", &[]).await;
    let mut b = Certgate::start(&redis.url(), "i:", &[]).await;
    let count = |cg: &Certgate| {
        let admin = cg.admin();
        async move { admin.get("/cluster/instances").await.unwrap().json() }
    };
    wait_until("both instances listed", Duration::from_secs(10), || async {
        count(&a).await.as_array().is_some_and(|l| l.len() == 2)
    })
    .await;
    let listed = count(&a).await;
    let admins: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["admin_addr"].as_str().unwrap())
        .collect();
    assert!(
        admins.contains(&format!("127.0.0.1:{}", b.admin_port).as_str()),
        "{listed}"
    );
    assert_eq!(listed[0]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        a.client(None)
            .get("/cluster/instances")
            .await
            .unwrap()
            .status,
        401
    );
    b.kill();
    wait_until(
        "the killed instance to drop out",
        Duration::from_secs(15),
        || async { count(&a).await.as_array().is_some_and(|l| l.len() == 1) },
    )
    .await;
}
