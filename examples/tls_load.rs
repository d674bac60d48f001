//! TLS load for benchmarks (loopback only): full or resumed handshakes per second, with the SNI
//! name fixed or spread over a list; or N idle connections held open for memory measurement.
//!
//! ```text
//! tls_load handshakes <addr> <sni|@names-file> <concurrency> <seconds> [--resume] [--any-answer]
//!          [--groups X25519MLKEM768,X25519] [--client-cert CERT.pem --client-key KEY.pem]
//! tls_load idle <addr> <sni> <connections> <hold-seconds> [--h2]
//! ```
//! `--groups` sets the key exchange groups offered (the first gets the key share);
//! `--client-cert`/`--client-key` present a client certificate (mTLS). `idle --h2` holds HTTP/2
//! connections instead, each after one answered `GET /`.
//! Prints one JSON line. Each handshake is followed by one `GET /` (so the server does its full
//! per-connection work), counted only when answered `200`; the client verifies nothing (it
//! measures the server).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "shared/accept_any.rs"]
mod accept_any;
use accept_any::AcceptAny;

/// The client's ticket store, counting the handshakes that had a TLS 1.3 ticket to offer: it
/// tells a server that refused tickets from a client that ran out of them.
#[derive(Debug)]
struct CountingStore {
    inner: rustls::client::ClientSessionMemoryCache,
    offered: AtomicU64,
    lacked: AtomicU64,
}

impl rustls::client::ClientSessionStore for CountingStore {
    fn set_kx_hint(&self, name: ServerName<'static>, group: rustls::NamedGroup) {
        self.inner.set_kx_hint(name, group)
    }
    fn kx_hint(&self, name: &ServerName<'_>) -> Option<rustls::NamedGroup> {
        self.inner.kx_hint(name)
    }
    fn set_tls12_session(
        &self,
        name: ServerName<'static>,
        value: rustls::client::Tls12ClientSessionValue,
    ) {
        self.inner.set_tls12_session(name, value)
    }
    fn tls12_session(
        &self,
        name: &ServerName<'_>,
    ) -> Option<rustls::client::Tls12ClientSessionValue> {
        self.inner.tls12_session(name)
    }
    fn remove_tls12_session(&self, name: &ServerName<'static>) {
        self.inner.remove_tls12_session(name)
    }
    fn insert_tls13_ticket(
        &self,
        name: ServerName<'static>,
        value: rustls::client::Tls13ClientSessionValue,
    ) {
        self.inner.insert_tls13_ticket(name, value)
    }
    fn take_tls13_ticket(
        &self,
        name: &ServerName<'static>,
    ) -> Option<rustls::client::Tls13ClientSessionValue> {
        let ticket = self.inner.take_tls13_ticket(name);
        let counter = if ticket.is_some() {
            &self.offered
        } else {
            &self.lacked
        };
        counter.fetch_add(1, Ordering::Relaxed);
        ticket
    }
}

static STORE: std::sync::OnceLock<Arc<CountingStore>> = std::sync::OnceLock::new();

fn store() -> Arc<CountingStore> {
    STORE
        .get_or_init(|| {
            Arc::new(CountingStore {
                inner: rustls::client::ClientSessionMemoryCache::new(256),
                offered: AtomicU64::new(0),
                lacked: AtomicU64::new(0),
            })
        })
        .clone()
}

/// What the client offers beyond the defaults.
#[derive(Default)]
struct Offer {
    resume: bool,
    /// Key exchange group names (IANA), most preferred first; empty: rustls' defaults.
    groups: Vec<String>,
    /// A client certificate chain and key, PEM files.
    client: Option<(String, String)>,
    /// Count any HTTP answer, not only `200` (hosts with a certificate and no route get `404`).
    any_answer: bool,
}

impl Offer {
    fn parse(flags: &[String]) -> Offer {
        let mut offer = Offer::default();
        let mut client_cert = None;
        let mut client_key = None;
        let mut rest = flags.iter();
        while let Some(flag) = rest.next() {
            match flag.as_str() {
                "--resume" => offer.resume = true,
                "--any-answer" => offer.any_answer = true,
                "--groups" => {
                    offer.groups = rest
                        .next()
                        .expect("--groups LIST")
                        .split(',')
                        .map(str::to_owned)
                        .collect()
                }
                "--client-cert" => client_cert = rest.next().cloned(),
                "--client-key" => client_key = rest.next().cloned(),
                other => panic!("unknown flag {other}"),
            }
        }
        offer.client = client_cert.zip(client_key);
        offer
    }
}

fn group(name: &str) -> &'static dyn rustls::crypto::SupportedKxGroup {
    use rustls::crypto::aws_lc_rs::kx_group;
    match name {
        "X25519MLKEM768" => kx_group::X25519MLKEM768,
        "X25519" => kx_group::X25519,
        "secp256r1" => kx_group::SECP256R1,
        "secp384r1" => kx_group::SECP384R1,
        other => panic!("unknown group {other}"),
    }
}

fn config(offer: &Offer) -> Arc<rustls::ClientConfig> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    if !offer.groups.is_empty() {
        provider.kx_groups = offer.groups.iter().map(|g| group(g)).collect();
    }
    let provider = Arc::new(provider);
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)));
    let mut config = match &offer.client {
        Some((cert, key)) => {
            let chain: Vec<CertificateDer<'static>> =
                rustls_pemfile::certs(&mut std::fs::read(cert).unwrap().as_slice())
                    .collect::<Result<_, _>>()
                    .unwrap();
            let key = rustls_pemfile::private_key(&mut std::fs::read(key).unwrap().as_slice())
                .unwrap()
                .expect("a private key");
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.resumption = if offer.resume {
        rustls::client::Resumption::store(store())
    } else {
        rustls::client::Resumption::disabled()
    };
    Arc::new(config)
}

/// One connection: handshake, `GET /`, read the answer. Whether the session was resumed.
async fn one(
    addr: &str,
    connector: &tokio_rustls::TlsConnector,
    name: &str,
    any_answer: bool,
) -> std::io::Result<bool> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let server = ServerName::try_from(name.to_owned()).map_err(std::io::Error::other)?;
    let mut tls = connector.connect(server, tcp).await?;
    let resumed = tls.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
    tls.write_all(
        format!("GET / HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut buf = vec![0u8; 4096];
    let n = tls.read(&mut buf).await?;
    let wanted: &[u8] = if any_answer {
        b"HTTP/1.1 "
    } else {
        b"HTTP/1.1 200"
    };
    if n == 0 || !buf.starts_with(wanted) {
        return Err(std::io::Error::other("no 200 answer"));
    }
    Ok(resumed)
}

fn names(arg: &str) -> Vec<String> {
    match arg.strip_prefix('@') {
        Some(file) => std::fs::read_to_string(file)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .filter(|l| !l.is_empty())
            .collect(),
        None => vec![arg.to_owned()],
    }
}

async fn handshakes(
    addr: String,
    names: Vec<String>,
    concurrency: usize,
    seconds: u64,
    offer: Offer,
) {
    let connector = tokio_rustls::TlsConnector::from(config(&offer));
    let any_answer = offer.any_answer;
    let (done, resumed, errors) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let names = Arc::new(names);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let (addr, connector, names) = (addr.clone(), connector.clone(), names.clone());
        let (done, resumed, errors) = (done.clone(), resumed.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = worker;
            let mut took = Vec::new();
            while Instant::now() < deadline {
                let name = &names[i % names.len()];
                i = i.wrapping_add(concurrency);
                let began = Instant::now();
                match one(&addr, &connector, name, any_answer).await {
                    Ok(r) => {
                        took.push(began.elapsed());
                        done.fetch_add(1, Ordering::Relaxed);
                        if r {
                            resumed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            took
        }));
    }
    let mut took = Vec::new();
    for t in tasks {
        took.extend(t.await.unwrap_or_default());
    }
    took.sort();
    // Connection, handshake and one request, each: the latency a new visitor sees.
    let quantile = |q: f64| {
        took.get(((took.len() as f64 * q) as usize).min(took.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let elapsed = started.elapsed().as_secs_f64();
    let n = done.load(Ordering::Relaxed);
    println!(
        "{{\"handshakes\":{n},\"seconds\":{elapsed:.3},\"rate\":{:.1},\"resumed_ratio\":{:.3},\"offered_ratio\":{:.3},\"errors\":{},\"p50_ms\":{:.3},\"p99_ms\":{:.3}}}",
        n as f64 / elapsed,
        resumed.load(Ordering::Relaxed) as f64 / n.max(1) as f64,
        {
            let store = store();
            let offered = store.offered.load(Ordering::Relaxed) as f64;
            offered / (offered + store.lacked.load(Ordering::Relaxed) as f64).max(1.0)
        },
        errors.load(Ordering::Relaxed),
        quantile(0.50),
        quantile(0.99)
    );
}

async fn idle(addr: String, name: String, connections: usize, hold: u64, http2: bool) {
    let mut config = config(&Offer::default());
    if http2 {
        Arc::make_mut(&mut config).alpn_protocols = vec![b"h2".to_vec()];
    }
    let connector = tokio_rustls::TlsConnector::from(config);
    let mut held = Vec::with_capacity(connections);
    let mut failed = 0;
    for _ in 0..connections {
        let attempt = async {
            let tcp = tokio::net::TcpStream::connect(&addr).await?;
            let server = ServerName::try_from(name.clone()).map_err(std::io::Error::other)?;
            let mut tls = connector.connect(server, tcp).await?;
            if http2 {
                return one_http2_request(tls, &name).await;
            }
            tls.write_all(format!("GET / HTTP/1.1\r\nHost: {name}\r\n\r\n").as_bytes())
                .await?;
            let mut buf = vec![0u8; 4096];
            let _answer = tls.read(&mut buf).await?;
            Ok::<_, std::io::Error>(Held::Http1 {
                _tls: Box::new(tls),
            })
        };
        match attempt.await {
            Ok(connection) => held.push(connection),
            Err(_) => failed += 1,
        }
    }
    println!("{{\"open\":{},\"failed\":{failed}}}", held.len());
    tokio::time::sleep(Duration::from_secs(hold)).await;
    drop(held);
}

/// An idle connection held open: HTTP/1.1 after one answer, or HTTP/2 with its connection's
/// task (answering the server's pings and settings) running.
enum Held {
    Http1 {
        _tls: Box<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
    },
    Http2 {
        _sender: hyper::client::conn::http2::SendRequest<http_body_util::Empty<bytes::Bytes>>,
        _connection: tokio::task::JoinHandle<()>,
    },
}

/// One `GET /` over HTTP/2 on `tls`, answered; the connection stays open.
async fn one_http2_request(
    tls: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    name: &str,
) -> std::io::Result<Held> {
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tls),
    )
    .await
    .map_err(std::io::Error::other)?;
    let task = tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = http::Request::get(format!("https://{name}/"))
        .body(http_body_util::Empty::new())
        .map_err(std::io::Error::other)?;
    let answer = sender
        .send_request(request)
        .await
        .map_err(std::io::Error::other)?;
    answer
        .into_body()
        .collect()
        .await
        .map_err(std::io::Error::other)?;
    Ok(Held::Http2 {
        _sender: sender,
        _connection: task,
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    match args.first().map(String::as_str) {
        Some("handshakes") if args.len() >= 5 => runtime.block_on(handshakes(
            args[1].clone(),
            names(&args[2]),
            args[3].parse().unwrap(),
            args[4].parse().unwrap(),
            Offer::parse(&args[5..]),
        )),
        Some("idle") if args.len() >= 5 => runtime.block_on(idle(
            args[1].clone(),
            args[2].clone(),
            args[3].parse().unwrap(),
            args[4].parse().unwrap(),
            args.get(5).map(String::as_str) == Some("--h2"),
        )),
        _ => {
            eprintln!("usage: tls_load handshakes <addr> <sni|@file> <concurrency> <seconds> [--resume] [--any-answer] [--groups LIST] [--client-cert FILE --client-key FILE] | idle <addr> <sni> <n> <hold-seconds> [--h2]");
            std::process::exit(2);
        }
    }
}
