//! A fast upstream for benchmarks: answers every request with a small fixed body.
//!
//! `cargo run --release --example bench_upstream -- 127.0.0.1:9000 [threads] [mode]`
//!
//! `/page` answers 64 KiB of HTML-like text (the compression rows); any other path the small body.
//!
//! Modes: `http` (default; HTTP/1.1), `tls CERT KEY` (HTTP/1.1 over TLS, for proxies' `https://`
//! upstream rows), `grpc` (HTTP/2 with prior knowledge: every request gets one gRPC message and
//! `grpc-status: 0` in trailers, as a unary gRPC call would).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{Full, StreamBody};
use hyper::body::Frame;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};

const BODY: &[u8] = b"hello from the upstream\n";
/// `/page`: 64 KiB of HTML-like text for the compression rows, words drawn by a fixed
/// pseudo-random sequence so it compresses about as real pages do (3 to 5 times), not 100.
static PAGE: std::sync::LazyLock<Bytes> = std::sync::LazyLock::new(|| {
    let words = [
        "<div class=\"item\">",
        "</div>",
        "<p>",
        "</p>",
        "<a href=\"/docs/",
        "\">",
        "</a>",
        "certificate",
        "renewal",
        "upstream",
        "request",
        "handshake",
        "the",
        "of",
        "and",
        "to",
        "a",
        "in",
        "is",
        "for",
        "on",
        "with",
        "cluster",
        "instance",
        "Redis",
        "route",
        "edge",
        "proxy",
        "order",
        "challenge",
        "account",
        "profile",
        "expiry",
        "issuer",
        "client",
        "server",
        "compression",
        "latency",
        "throughput",
        "connection",
        "stream",
        "header",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut page = String::with_capacity(64 * 1024 + 64);
    while page.len() < 64 * 1024 {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        page.push_str(words[(state >> 33) as usize % words.len()]);
        page.push(if (state >> 20).is_multiple_of(11) {
            '\n'
        } else {
            ' '
        });
        if (state >> 40).is_multiple_of(7) {
            page.push_str(&format!("{}", (state >> 44) % 100_000));
            page.push(' ');
        }
    }
    page.truncate(64 * 1024);
    Bytes::from(page)
});
/// A gRPC message: not compressed, 24 bytes (the same text as `BODY`).
const GRPC_MESSAGE: &[u8] = b"\x00\x00\x00\x00\x18hello from the upstream\n";

enum Mode {
    Http,
    Tls(tokio_rustls::TlsAcceptor),
    Grpc,
}

fn tls_acceptor(cert: &str, key: &str) -> tokio_rustls::TlsAcceptor {
    let certs = rustls_pemfile::certs(&mut std::fs::read(cert).expect("cert file").as_slice())
        .map(|c| c.expect("a certificate"))
        .collect();
    let key = rustls_pemfile::private_key(&mut std::fs::read(key).expect("key file").as_slice())
        .expect("a key")
        .expect("a key");
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("certificate and key");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9000".into());
    let threads: usize = args.next().and_then(|t| t.parse().ok()).unwrap_or(1);
    let mode = match args.next().as_deref() {
        None | Some("http") => Mode::Http,
        Some("grpc") => Mode::Grpc,
        Some("tls") => {
            let (cert, key) = (args.next().expect("CERT"), args.next().expect("KEY"));
            Mode::Tls(tls_acceptor(&cert, &key))
        }
        Some(other) => panic!("unknown mode {other}: http, tls CERT KEY or grpc"),
    };
    let mode = Arc::new(mode);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        eprintln!("bench upstream on {addr}");
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            let mode = mode.clone();
            tokio::spawn(async move {
                let plain = service_fn(|req: Request<hyper::body::Incoming>| async move {
                    if req.uri().path() == "/page" {
                        let mut page = Response::new(Full::new(PAGE.clone()));
                        page.headers_mut().insert(
                            http::header::CONTENT_TYPE,
                            http::HeaderValue::from_static("text/html; charset=utf-8"),
                        );
                        return Ok::<_, Infallible>(page);
                    }
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(BODY))))
                });
                match &*mode {
                    Mode::Http => {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), plain)
                            .await;
                    }
                    Mode::Tls(acceptor) => {
                        if let Ok(tls) = acceptor.accept(stream).await {
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(tls), plain)
                                .await;
                        }
                    }
                    Mode::Grpc => {
                        let grpc = service_fn(|_req: Request<hyper::body::Incoming>| async {
                            let mut trailers = http::HeaderMap::new();
                            trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
                            let frames = futures_util::stream::iter([
                                Ok::<_, Infallible>(Frame::data(Bytes::from_static(GRPC_MESSAGE))),
                                Ok(Frame::trailers(trailers)),
                            ]);
                            let mut response = Response::new(StreamBody::new(frames));
                            response.headers_mut().insert(
                                http::header::CONTENT_TYPE,
                                http::HeaderValue::from_static("application/grpc"),
                            );
                            Ok::<_, Infallible>(response)
                        });
                        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(stream), grpc)
                            .await;
                    }
                }
            });
        }
    })
}
