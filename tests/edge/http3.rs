//! HTTP/3 on the HTTPS port, driven by aioquic (a client no one here wrote, PyPI): a GET and a
//! 1 MB POST through the same route and upstream as TCP, exact as the upstream saw them; 100
//! streams at once on one connection; `421` for a host the connection's certificate does not
//! cover; `Alt-Svc` on HTTP/1.1 and HTTP/2 answers; with `HTTP3=false` neither the header nor
//! a UDP socket.

use serde_json::Value;

use super::*;
use common::h3::{got_serial, h3, header};

/// `h3.test`, with a self-signed certificate of its own, routed to `upstream`.
async fn serve_h3_test(cg: &Certgate, upstream: &str) {
    create_self_signed(&cg.admin(), "h3", &["h3.test"]).await;
    route(cg, "h3.test", upstream, Some("h3")).await;
}

/// The `alt-svc` header curl gets over `version` (`--http1.1`, `--http2`).
async fn alt_svc_over_tcp(port: u16, version: &str) -> Option<String> {
    alt_svc_of(port, "h3.test", version).await
}

/// The `alt-svc` header curl gets from `host` over `version`.
async fn alt_svc_of(port: u16, host: &str, version: &str) -> Option<String> {
    let out = tokio::process::Command::new("curl")
        .args(["-sk", "-o", "/dev/null", "-D", "-", version, "--resolve"])
        .arg(format!("{host}:{port}:127.0.0.1"))
        .arg(format!("https://{host}:{port}/"))
        .output()
        .await
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("alt-svc: ")
            .map(|v| v.trim().to_owned())
    })
}

#[tokio::test]
async fn http3_serves_the_same_routes_as_tcp() {
    let (redis, mut cg) = instance(&[("HTTPS_PUBLIC_PORT", "8443")]).await;
    let up = upstream::start("h3-app").await;
    create_self_signed(&cg.admin(), "h3", &["h3.test"]).await;
    create_self_signed(&cg.admin(), "other", &["other.test"]).await;
    route(&cg, "h3.test", &up.url(), Some("h3")).await;
    route(&cg, "other.test", &up.url(), Some("other")).await;
    let port = cg.https_port;
    assert!(
        std::net::UdpSocket::bind(("127.0.0.1", port)).is_err(),
        "the UDP port is certgate's"
    );

    let got = h3(port, "h3.test", "GET", "/hello?x=1", &[]).await;
    let answer = &got["answers"][0];
    assert_eq!(answer["status"], 200, "{got}");
    let seen: Value = serde_json::from_str(answer["text"].as_str().unwrap()).unwrap();
    assert_eq!(seen["method"], "GET");
    assert_eq!(seen["uri"], "/hello?x=1");
    assert_eq!(seen["upstream"], "h3-app");
    assert_eq!(header(answer, "x-upstream"), Some("h3-app"));
    let chain = chain_of(&cg, "h3").await;
    let serial = certgate::certs::pem::leaf_info(&chain).unwrap().serial;
    assert_eq!(
        got_serial(&got).trim_start_matches('0'),
        serial.to_ascii_lowercase().trim_start_matches('0'),
        "the certificate by SNI"
    );

    let dir = common::TempDir::new("h3-post");
    let file = dir.0.join("body");
    std::fs::write(&file, vec![b'p'; 1_000_000]).unwrap();
    let file = file.display().to_string();
    let got = h3(port, "h3.test", "POST", "/upload", &["--body-file", &file]).await;
    let answer = &got["answers"][0];
    assert_eq!(answer["status"], 200, "{got}");
    let seen: Value = serde_json::from_str(answer["text"].as_str().unwrap()).unwrap();
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["body_bytes"], 1_000_000, "{seen}");

    // 150 requests at once on one connection: 100 streams open (the cap), the other 50 wait
    // for stream credit and are answered too.
    let got = h3(port, "h3.test", "GET", "/", &["--count", "150"]).await;
    let answers = got["answers"].as_array().unwrap();
    assert_eq!(answers.len(), 150);
    assert!(answers.iter().all(|a| a["status"] == 200), "{got}");

    let got = h3(port, "h3.test", "GET", "/", &["--authority", "other.test"]).await;
    assert_eq!(got["answers"][0]["status"], 421, "{got}");

    // A bodiless GET is replayable over HTTP/3 as over TCP: the first upstream refuses, the
    // next answers.
    let refused = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    create_self_signed(&cg.admin(), "failover", &["failover.test"]).await;
    let body = json!({ "hostname": "failover.test", "upstreams": [format!("http://{refused}"), up.url()], "policy": "first", "cert_name": "failover" });
    assert_eq!(
        cg.admin().post("/proxies/", &body).await.unwrap().status,
        201
    );
    let got = h3(port, "failover.test", "GET", "/", &[]).await;
    assert_eq!(got["answers"][0]["status"], 200, "{got}");

    // A renewal reaches new QUIC connections (the same cache serves both transports), while a
    // client that stays connected through it is answered every time.
    let old = got_serial(&h3(port, "h3.test", "GET", "/", &[]).await);
    let running = tokio::spawn(async move {
        let args = ["--count", "25", "--one-by-one", "--pause", "0.1"];
        h3(port, "h3.test", "GET", "/", &args).await
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    let r = cg
        .admin()
        .post("/certificates/h3/renew", &json!({}))
        .await
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.json());
    let through = running.await.unwrap();
    let answers = through["answers"].as_array().unwrap();
    assert_eq!(answers.len(), 25);
    assert!(answers.iter().all(|a| a["status"] == 200), "{through}");
    common::wait_until(
        "the renewed certificate over QUIC",
        Duration::from_secs(20),
        || {
            let old = old.clone();
            async move { got_serial(&h3(port, "h3.test", "GET", "/", &[]).await) != old }
        },
    )
    .await;

    let metrics = cg.admin().get("/metrics").await.unwrap();
    let text = String::from_utf8_lossy(&metrics.body).to_string();
    let h3_answers: f64 = text
        .lines()
        .filter(|l| {
            l.starts_with("certgate_requests_total{route=\"h3.test\"")
                && l.contains("protocol=\"h3\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(
        h3_answers >= 150.0,
        "requests over HTTP/3 counted as h3: {h3_answers}"
    );

    for version in ["--http1.1", "--http2"] {
        assert_eq!(
            alt_svc_over_tcp(port, version).await.as_deref(),
            Some("h3=\":8443\"; ma=86400"),
            "{version}"
        );
    }

    // The stateless-reset key is the cluster's, in Redis: a restarted instance keeps it.
    let client = redis.client().await;
    let key: String = fred::prelude::KeysInterface::get(&client, "e:quic:reset_key")
        .await
        .unwrap();
    assert_eq!(key.len(), 64, "{key}");
    cg.restart().await;
    assert_eq!(
        h3(port, "h3.test", "GET", "/", &[]).await["answers"][0]["status"],
        200
    );
    let again: String = fred::prelude::KeysInterface::get(&client, "e:quic:reset_key")
        .await
        .unwrap();
    assert_eq!(again, key);
}

#[tokio::test]
async fn http3_off_binds_no_udp_socket_and_advertises_nothing() {
    let (_redis, cg) = instance(&[("HTTP3", "false")]).await;
    let up = upstream::start("tcp-only").await;
    serve_h3_test(&cg, &up.url()).await;
    let port = cg.https_port;
    assert!(std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok());
    assert_eq!(alt_svc_over_tcp(port, "--http2").await, None);
}

/// `VmRSS` of `pid`, KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// 10,000 random datagrams and 1,000 packets shaped like QUIC Initials (long header, version 1,
/// random connection ids, padded to 1,200 bytes) from 50 source ports: certgate stays up, TCP
/// and HTTP/3 clients are still served, and its memory comes back. With `QUIC_RETRY=always`
/// every client proves its address first (aioquic follows the Retry), and the retries are
/// counted.
#[tokio::test]
async fn junk_datagrams_leave_the_edge_serving() {
    let (_redis, cg) = instance(&[("QUIC_RETRY", "always")]).await;
    let up = upstream::start("after-junk").await;
    serve_h3_test(&cg, &up.url()).await;
    let port = cg.https_port;
    assert_eq!(
        h3(port, "h3.test", "GET", "/", &[]).await["answers"][0]["status"],
        200
    );
    let pid = cg.pid().unwrap();
    let before = rss_kib(pid);

    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut sockets = Vec::new();
    for _ in 0..50 {
        sockets.push(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
    }
    for i in 0..11_000usize {
        let socket = &sockets[i % sockets.len()];
        let packet: Vec<u8> = if i < 10_000 {
            let len = (next() % 1_400 + 1) as usize;
            (0..len).map(|_| next() as u8).collect()
        } else {
            let mut p = vec![0xc0, 0, 0, 0, 1, 8];
            p.extend((0..8).map(|_| next() as u8));
            p.push(8);
            p.extend((0..8).map(|_| next() as u8));
            p.extend([0, 0x44, 0xd0]);
            p.resize(1_200, 0);
            for b in p.iter_mut().skip(26) {
                *b = next() as u8;
            }
            p
        };
        let _ = socket.send_to(&packet, ("127.0.0.1", port)).await;
        if i % 500 == 0 {
            tokio::task::yield_now().await;
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(cg.pid().is_some(), "certgate is still running");
    assert_eq!(
        get(port, "h3.test", "h3.test", "/").await.headers["x-upstream"],
        "after-junk"
    );
    assert_eq!(
        h3(port, "h3.test", "GET", "/", &[]).await["answers"][0]["status"],
        200
    );
    let metrics = cg.admin().get("/metrics").await.unwrap();
    let text = String::from_utf8_lossy(&metrics.body).to_string();
    let retries: f64 = text
        .lines()
        .find(|l| l.starts_with("certgate_quic_retries_total"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0);
    assert!(retries >= 2.0, "each client was sent a Retry: {retries}");
    let after = rss_kib(pid);
    println!("RSS before the junk {before} KiB, after {after} KiB");
    assert!(after < before + 20 * 1024, "{before} KiB → {after} KiB");
}

/// SIGTERM while an HTTP/3 answer is on its way: it completes within `DRAIN_GRACE_SECONDS`,
/// a new QUIC connection is not served, and certgate exits cleanly.
#[tokio::test]
async fn sigterm_lets_an_http3_answer_finish() {
    let (_redis, mut cg) = instance(&[("DRAIN_GRACE_SECONDS", "6")]).await;
    let up = upstream::start("draining").await;
    serve_h3_test(&cg, &up.url()).await;
    let port = cg.https_port;
    let slow = tokio::spawn(async move { h3(port, "h3.test", "GET", "/slow/2500", &[]).await });
    tokio::time::sleep(Duration::from_millis(800)).await;
    cg.terminate();
    let got = slow.await.unwrap();
    assert_eq!(got["answers"][0]["status"], 200, "{got}");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/h3_client.py");
    let late = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::process::Command::new("python3")
            .args([script, &port.to_string(), "h3.test", "GET", "/"])
            .output(),
    )
    .await;
    if let Ok(Ok(out)) = &late {
        assert!(
            !out.status.success(),
            "a new connection was served while draining"
        );
    }
    let status = tokio::task::spawn_blocking(move || cg.wait_exit())
        .await
        .unwrap();
    assert!(status.success(), "certgate exited with {status}");
}

/// With `CERT_CACHE_SIZE=1` one of two names is always missing from memory: a QUIC handshake
/// for it waits while it is loaded from Redis (the ClientHello is read from the Initial
/// packets before quinn accepts the connection) and is served its own certificate the first
/// time, with no TCP handshake in between to load it.
#[tokio::test]
async fn a_name_missing_from_memory_is_loaded_before_its_quic_handshake() {
    let (_redis, cg) = instance(&[("CERT_CACHE_SIZE", "1")]).await;
    let up = upstream::start("loaded").await;
    for name in ["a", "b"] {
        create_self_signed(&cg.admin(), name, &[&format!("{name}.test")]).await;
        route(&cg, &format!("{name}.test"), &up.url(), Some(name)).await;
    }
    let port = cg.https_port;
    for round in 0..2 {
        for name in ["a", "b"] {
            let chain = chain_of(&cg, name).await;
            let want = certgate::certs::pem::leaf_info(&chain)
                .unwrap()
                .serial
                .to_ascii_lowercase();
            let got = h3(port, &format!("{name}.test"), "GET", "/", &[]).await;
            assert_eq!(
                got_serial(&got),
                want.trim_start_matches('0'),
                "round {round}, {name}.test"
            );
            assert_eq!(got["answers"][0]["status"], 200, "{got}");
        }
    }
}

/// 0-RTT: with `QUIC_0RTT=true` a returning client's GET in early data is served and its POST
/// answered `425 Too Early`; by default early data is refused and the same GET waits for the
/// handshake.
#[tokio::test]
async fn early_data_serves_safe_methods_only() {
    let (_redis, cg) = instance(&[("QUIC_0RTT", "true")]).await;
    let up = upstream::start("early").await;
    serve_h3_test(&cg, &up.url()).await;
    let port = cg.https_port;
    let got = h3(port, "h3.test", "GET", "/", &["--zero-rtt"]).await;
    assert_eq!(got["early_data_accepted"], true, "{got}");
    assert_eq!(got["answers"][0]["status"], 200, "{got}");
    let got = h3(port, "h3.test", "POST", "/", &["--zero-rtt"]).await;
    assert_eq!(got["early_data_accepted"], true, "{got}");
    assert_eq!(got["answers"][0]["status"], 425, "{got}");

    let (_redis2, plain) = instance(&[]).await;
    serve_h3_test(&plain, &up.url()).await;
    let got = h3(plain.https_port, "h3.test", "POST", "/", &["--zero-rtt"]).await;
    assert_eq!(got["early_data_accepted"], false, "{got}");
    assert_eq!(got["answers"][0]["status"], 200, "{got}");
}
