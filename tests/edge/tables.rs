//! The edge's tables against a real Redis: a full load (start-up, reconnect, periodic resync)
//! must not undo a change applied while it reads its snapshot.

use std::sync::Arc;

use certgate::edge::sync::EdgeTables;
use certgate::events::Change;
use certgate::routes::model::Route;
use certgate::store::Store;

use super::*;

fn route_for(hostname: &str) -> Route {
    Route {
        hostname: hostname.to_owned(),
        upstream: "http://127.0.0.1:9".to_owned(),
        cert_name: None,
        https_redirect: true,
        preserve_host: true,
        owner_token_hash: "0".repeat(64),
        created_at: "2026-01-01T00:00:00Z".to_owned(),
        updated_at: "2026-01-01T00:00:00Z".to_owned(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_applied_during_a_full_load_survive_it() {
    let redis = Redis::start().await;
    let store = Store::connect(&redis.url(), "t:").unwrap().writer();
    // Enough routes that reading the snapshot takes a while.
    for i in 0..3000 {
        store
            .put_route(&route_for(&format!("seed{i}.test")))
            .await
            .unwrap();
    }
    let tables = Arc::new(EdgeTables::new(Store::clone(&store), 100, 100));
    let mut created = Vec::new();
    for round in 0..5 {
        let loading = tokio::spawn({
            let tables = tables.clone();
            async move { tables.load_all().await.unwrap() }
        });
        // Create routes the way the admin API does (write, then apply) until the load is over.
        let mut during = 0;
        while !loading.is_finished() {
            let host = format!("r{round}-{during}.test");
            store.put_route(&route_for(&host)).await.unwrap();
            tables.apply(&Change::Route(host.clone())).await;
            created.push(host);
            during += 1;
        }
        loading.await.unwrap();
        assert!(
            during > 0,
            "round {round}: no route was created during the load"
        );
    }
    let lost: Vec<&String> = created
        .iter()
        .filter(|host| tables.routes.get(host).is_none())
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} routes created during full loads are not served: {:?}",
        lost.len(),
        created.len(),
        &lost[..lost.len().min(5)]
    );
    assert!(tables.routes.get("seed2999.test").is_some());
}
