//! The periodic resync reads the change log, not every record: a change whose pub/sub message
//! never came is served after one resync, the resync of an idle instance costs a handful of Redis
//! commands whatever the number of certificates, and a log trimmed past an instance's cursor
//! makes it reload in full.

use super::*;

/// `redis-cli` against the test's Redis.
fn redis_cli(redis: &Redis, args: &[&str]) -> String {
    redis.cli(args)
}

/// Redis commands run since the last `CONFIG RESETSTAT`, by command name.
fn commandstats(redis: &Redis) -> std::collections::HashMap<String, u64> {
    redis.commandstats()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resync_reads_the_change_log_not_every_record() {
    let redis = Redis::start().await;
    let store = certgate::store::Store::connect(&redis.url(), "log:")
        .unwrap()
        .writer();
    store.wait_connected(Duration::from_secs(5)).await;
    // Many certificates already in Redis (written as a restore would write them).
    for i in 0..1500 {
        let record = common::records::failed(&format!("many-{i}"), &format!("many{i}.log.test"));
        store
            .restore_certificate(&record, &certgate::secret::Secret::new(String::new()))
            .await
            .unwrap();
    }
    let cg = Certgate::start(&redis.url(), "log:", &[("RESYNC_INTERVAL_SECONDS", "1")]).await;
    let up = upstream::start("logged").await;

    // A route written by "another instance" whose pub/sub message was lost: only the log has it.
    let now = certgate::timefmt::now_string();
    store
        .put_route(&certgate::routes::Route {
            hostname: "late.log.test".into(),
            upstream: up.url(),
            https_redirect: false,
            preserve_host: true,
            owner_token_hash: "sha256:00".into(),
            created_at: now.clone(),
            updated_at: now,
            ..Default::default()
        })
        .await
        .unwrap();
    store.log_change("route", "late.log.test").await.unwrap();
    let http =
        certgate::client::AdminClient::new(&format!("http://127.0.0.1:{}", cg.http_port), None);
    wait_until(
        "the logged route to be served",
        Duration::from_secs(5),
        || async {
            http.send_raw(http::Method::GET, "/", &[("host", "late.log.test")], None)
                .await
                .is_ok_and(|r| r.status == 200)
        },
    )
    .await;

    // Idle: three resyncs cost a few commands each, not one per certificate.
    redis_cli(&redis, &["config", "resetstat"]);
    tokio::time::sleep(Duration::from_millis(3300)).await;
    let stats = commandstats(&redis);
    let total: u64 = stats.values().sum();
    assert!(
        total < 150,
        "{total} commands in 3 s with 1,500 certificates: {stats:?}"
    );
    // A full reload reads every record with one HMGET each (4,500 in three resyncs).
    assert_eq!(stats.get("hmget"), None, "no record was read: {stats:?}");
    assert!(
        stats
            .get("evalsha")
            .or(stats.get("eval"))
            .copied()
            .unwrap_or(0)
            >= 3,
        "the log was read at every resync: {stats:?}"
    );

    // Trimmed past the cursor (here: deleted with one more entry written): a full reload, which
    // picks up a route only the records hold.
    store
        .put_route(&certgate::routes::Route {
            hostname: "unlogged.log.test".into(),
            upstream: up.url(),
            https_redirect: false,
            preserve_host: true,
            owner_token_hash: "sha256:00".into(),
            created_at: certgate::timefmt::now_string(),
            updated_at: certgate::timefmt::now_string(),
            ..Default::default()
        })
        .await
        .unwrap();
    redis_cli(&redis, &["del", "log:changes"]);
    store.log_change("route", "other.log.test").await.unwrap();
    wait_until(
        "a full reload after the gap",
        Duration::from_secs(5),
        || async {
            http.send_raw(
                http::Method::GET,
                "/",
                &[("host", "unlogged.log.test")],
                None,
            )
            .await
            .is_ok_and(|r| r.status == 200)
        },
    )
    .await;
    assert!(cg.log_text().contains("reloading in full"));
}
