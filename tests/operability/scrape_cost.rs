//! `/metrics`' per-certificate series come from memory kept current by the change events: a
//! scrape costs a handful of Redis commands whatever the number of certificates, and a change
//! made through another instance shows in this one's next scrape.

use std::time::Duration;

use super::{sample, scrape};
use common::{create_self_signed, wait_until, Certgate, Redis};

use crate::common;

#[tokio::test]
async fn a_scrape_reads_no_certificate_records() {
    let redis = Redis::start().await;
    let fast = [("KEY_TYPE", "ecdsa-p256")];
    let a = Certgate::start(&redis.url(), "s:", &fast).await;
    let b = Certgate::start(&redis.url(), "s:", &fast).await;
    for i in 0..20 {
        create_self_signed(&a.admin(), &format!("s{i}"), &[&format!("s{i}.test")]).await;
    }
    let series = |text: &str| text.matches("certgate_certificate_expiry_seconds{").count();
    wait_until("instance B to know all 20", Duration::from_secs(10), || {
        let b = &b;
        async move { series(&scrape(b).await) == 20 }
    })
    .await;

    redis.reset_stats();
    let text = scrape(&b).await;
    let commands: u64 = redis.commandstats().values().sum();
    assert_eq!(series(&text), 20);
    assert!(
        commands <= 5,
        "one scrape of 20 certificates ran {commands} Redis commands: {:?}",
        redis.commandstats()
    );
    let expiry = sample(
        &text,
        "certgate_certificate_expiry_seconds{cert_name=\"s7\"}",
    )
    .unwrap();
    assert!((expiry - 365.0 * 86400.0).abs() < 3600.0, "expiry {expiry}");

    // A certificate deleted through A leaves B's series with the change event.
    assert_eq!(
        a.admin().delete("/certificates/s7").await.unwrap().status,
        204
    );
    wait_until("B to drop s7's series", Duration::from_secs(10), || {
        let b = &b;
        async move { !scrape(b).await.contains("cert_name=\"s7\"") }
    })
    .await;
    assert_eq!(series(&scrape(&b).await), 19);
}
