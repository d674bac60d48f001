//! A burst of new connections is accepted at once: 1,000 clients connect and shake hands
//! together, and the kernel drops none of their SYNs for a full listen queue (`ListenOverflows`
//! in `/proc/net/netstat`, what `nstat` reads). Each dropped SYN costs its client a second.
//!
//! A test binary of its own: the counter is the whole network namespace's, and cargo runs test
//! binaries one after another, so no other test's listeners add to it meanwhile.

#[path = "../common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::client::try_connect;
use common::{create_self_signed, Certgate, Redis};

/// The kernel's count of connections dropped because a listen queue was full.
fn listen_overflows() -> u64 {
    let text = std::fs::read_to_string("/proc/net/netstat").expect("/proc/net/netstat");
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (lines.next().unwrap(), lines.next().unwrap());
    let at = names
        .split_whitespace()
        .position(|n| n == "ListenOverflows")
        .expect("TcpExt has ListenOverflows");
    values.split_whitespace().nth(at).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_clients_connecting_at_once_are_all_accepted() {
    const CLIENTS: usize = 1000;
    let redis = Redis::start().await;
    // One worker, as a pinned server would run, so that handshakes and accepting compete.
    let cg = Certgate::start(&redis.url(), "b:", &[("WORKER_THREADS", "1")]).await;
    create_self_signed(&cg.admin(), "burst", &["burst.test"]).await;
    let port = cg.https_port;

    let before = listen_overflows();
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            tokio::spawn(async move {
                let began = Instant::now();
                let tls = try_connect(port, "burst.test", &[b"http/1.1"]).await;
                (tls.map(|_| ()), began.elapsed())
            })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    let mut failed = Vec::new();
    for client in clients {
        let (result, took) = client.await.unwrap();
        slowest = slowest.max(took);
        if let Err(e) = result {
            failed.push(e);
        }
    }
    let dropped = listen_overflows() - before;
    println!(
        "{CLIENTS} handshakes in {:?}; slowest {slowest:?}; listen overflows {dropped}",
        started.elapsed()
    );
    assert!(
        failed.is_empty(),
        "{} handshakes failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(3)]
    );
    assert_eq!(
        dropped, 0,
        "the kernel dropped {dropped} SYNs for a full listen queue (slowest client {slowest:?})"
    );
}
