//! HTTP/3 load for benchmarks (loopback only), on quinn + h3: Debian's h2load is built without
//! HTTP/3, so `just bench` drives its HTTP/3 rows with this.
//!
//! ```text
//! h3_load requests <addr> <sni> <connections> <streams> <seconds>
//! h3_load handshakes <addr> <sni> <concurrency> <seconds>
//! ```
//! `requests`: `connections` QUIC connections, each keeping `streams` GETs of `/` in flight, for
//! `seconds` after a 1 s warm-up. `handshakes`: `concurrency` loops, each making a new
//! connection (a full handshake: no resumption) and one GET on it, then closing it.
//! Prints one JSON line: answered (status 200, body read to the end), errors, rate per second.
//! The client verifies nothing (it measures the server).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};

#[path = "shared/accept_any.rs"]
mod accept_any;
use accept_any::AcceptAny;

/// A QUIC client configuration with ALPN `h3`, no resumption and no certificate checks.
fn client_config() -> quinn::ClientConfig {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h3".to_vec()];
    tls.resumption = rustls::client::Resumption::disabled();
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport.max_idle_timeout(Some(Duration::from_secs(30).try_into().unwrap()));
    config.transport_config(Arc::new(transport));
    config
}

type Sender = h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>;

/// Opens one HTTP/3 connection; its driver runs on its own task.
async fn connect(
    endpoint: &quinn::Endpoint,
    addr: SocketAddr,
    sni: &str,
) -> Result<(quinn::Connection, Sender), String> {
    let conn = endpoint
        .connect(addr, sni)
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    let (mut driver, sender) = h3::client::new(h3_quinn::Connection::new(conn.clone()))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = std::future::poll_fn(|cx| driver.poll_close(cx)).await;
    });
    Ok((conn, sender))
}

/// One `GET /`: whether it was answered 200 with its body read to the end.
async fn get(sender: &mut Sender, sni: &str) -> bool {
    let request = http::Request::get(format!("https://{sni}/"))
        .body(())
        .unwrap();
    let Ok(mut stream) = sender.send_request(request).await else {
        return false;
    };
    if stream.finish().await.is_err() {
        return false;
    }
    let Ok(response) = stream.recv_response().await else {
        return false;
    };
    loop {
        match stream.recv_data().await {
            Ok(Some(mut chunk)) => chunk.advance(chunk.remaining()),
            Ok(None) => return response.status() == 200,
            Err(_) => return false,
        }
    }
}

/// What the loops counted.
#[derive(Default)]
struct Counts {
    answered: AtomicU64,
    errors: AtomicU64,
    /// Counting starts after the warm-up.
    counting: AtomicBool,
    stop: AtomicBool,
}

impl Counts {
    fn count(&self, ok: bool) {
        if self.counting.load(Ordering::Relaxed) {
            let counter = if ok { &self.answered } else { &self.errors };
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// `streams` request loops on each of `connections` connections.
async fn requests(
    endpoint: quinn::Endpoint,
    addr: SocketAddr,
    sni: String,
    c: usize,
    m: usize,
    counts: Arc<Counts>,
) {
    let mut tasks = Vec::new();
    for _ in 0..c {
        // The h3 connection keeps the QUIC connection open; this handle is not needed.
        let (_conn, sender) = connect(&endpoint, addr, &sni).await.expect("connect");
        for _ in 0..m {
            let (mut sender, sni, counts) = (sender.clone(), sni.clone(), counts.clone());
            tasks.push(tokio::spawn(async move {
                while !counts.stop.load(Ordering::Relaxed) {
                    let ok = get(&mut sender, &sni).await;
                    counts.count(ok);
                }
            }));
        }
    }
    for task in tasks {
        let _ = task.await;
    }
}

/// `concurrency` loops of a new connection and one request.
async fn handshakes(
    endpoint: quinn::Endpoint,
    addr: SocketAddr,
    sni: String,
    concurrency: usize,
    counts: Arc<Counts>,
) {
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (endpoint, sni, counts) = (endpoint.clone(), sni.clone(), counts.clone());
        tasks.push(tokio::spawn(async move {
            while !counts.stop.load(Ordering::Relaxed) {
                let ok = match connect(&endpoint, addr, &sni).await {
                    Ok((conn, mut sender)) => {
                        let ok = get(&mut sender, &sni).await;
                        conn.close(0u32.into(), b"done");
                        ok
                    }
                    Err(_) => false,
                };
                counts.count(ok);
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "h3_load requests ADDR SNI CONNECTIONS STREAMS SECONDS | handshakes ADDR SNI CONCURRENCY SECONDS";
    let mode = args.first().expect(usage).clone();
    let addr: SocketAddr = args.get(1).expect(usage).parse().expect("ADDR");
    let sni = args.get(2).expect(usage).clone();
    let number = |i: usize| -> usize { args.get(i).expect(usage).parse().expect(usage) };
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).expect("UDP socket");
    endpoint.set_default_client_config(client_config());
    let counts = Arc::new(Counts::default());
    let seconds = match mode.as_str() {
        "requests" => number(5),
        "handshakes" => number(4),
        _ => panic!("{usage}"),
    };
    let load = {
        let (endpoint, sni, counts) = (endpoint.clone(), sni.clone(), counts.clone());
        let (a, b) = (number(3), if mode == "requests" { number(4) } else { 0 });
        tokio::spawn(async move {
            if mode == "requests" {
                requests(endpoint, addr, sni, a, b, counts).await
            } else {
                handshakes(endpoint, addr, sni, a, counts).await
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    counts.counting.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds as u64)).await;
    counts.counting.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    counts.stop.store(true, Ordering::Relaxed);
    let _ = tokio::time::timeout(Duration::from_secs(5), load).await;
    let answered = counts.answered.load(Ordering::Relaxed);
    println!(
        "{{\"answered\": {answered}, \"errors\": {}, \"rate\": {:.1}}}",
        counts.errors.load(Ordering::Relaxed),
        answered as f64 / elapsed
    );
    endpoint.close(0u32.into(), b"done");
}
