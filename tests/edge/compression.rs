//! A route's `encode`: answers compressed as the client asks, read back by curl and by the
//! reference decoders (Python's zstandard, brotli, gzip); what must pass unchanged does; a
//! 50 MB stream compresses in flat memory; a pause in a stream flushes what came before it.

use std::convert::Infallible;
use std::process::Stdio;

use http::{Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use super::*;

type UpBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// `n` bytes of text that compresses as pages do.
fn page(n: usize) -> Vec<u8> {
    let words = b"<p>certgate compresses answers the way the client asks for them.</p>\n";
    words.iter().copied().cycle().take(n).collect()
}

fn full(content_type: &str, body: Vec<u8>, extra: &[(&'static str, &str)]) -> Response<UpBody> {
    let mut response = Response::new(http_body_util::Full::new(Bytes::from(body)).boxed());
    response
        .headers_mut()
        .insert("content-type", content_type.parse().unwrap());
    for (name, value) in extra {
        response
            .headers_mut()
            .insert(*name, value.parse::<http::HeaderValue>().unwrap());
    }
    response
}

/// Streams `total` bytes of page text in 64 KiB frames, or (`/events`) two events a second
/// apart.
fn streamed(content_type: &str, frames: Vec<(Duration, Vec<u8>)>) -> Response<UpBody> {
    let stream = futures_util::stream::unfold(frames.into_iter(), |mut rest| async move {
        let (pause, data) = rest.next()?;
        tokio::time::sleep(pause).await;
        Some((Ok::<_, Infallible>(Frame::data(Bytes::from(data))), rest))
    });
    let mut response = Response::new(StreamBody::new(stream).boxed());
    response
        .headers_mut()
        .insert("content-type", content_type.parse().unwrap());
    response
}

async fn media(req: http::Request<hyper::body::Incoming>) -> Result<Response<UpBody>, Infallible> {
    let path = req.uri().path().to_owned();
    Ok(match path.as_str() {
        "/page" => full(
            "text/html; charset=utf-8",
            page(100_000),
            &[("etag", "\"v1\"")],
        ),
        "/small" => full("text/plain", page(100), &[]),
        "/image" => full("image/png", page(20_000), &[]),
        "/encoded" => full("text/plain", page(20_000), &[("content-encoding", "gzip")]),
        "/kept" => full(
            "text/plain",
            page(20_000),
            &[("cache-control", "no-transform")],
        ),
        "/stream" => {
            let frames = (0..800)
                .map(|_| (Duration::ZERO, page(64 * 1024)))
                .collect();
            streamed("text/plain", frames)
        }
        "/events" => streamed(
            "text/event-stream",
            vec![
                (Duration::ZERO, b"data: one\n\n".to_vec()),
                (Duration::from_secs(2), b"data: two\n\n".to_vec()),
            ],
        ),
        _ => {
            let mut r = full("text/plain", Vec::new(), &[]);
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        }
    })
}

async fn media_upstream() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(media))
                    .await;
            });
        }
    });
    (url, task)
}

async fn compressing_instance() -> (Redis, Certgate, tokio::task::JoinHandle<()>) {
    let (redis, cg) = instance(&[]).await;
    let (url, task) = media_upstream().await;
    create_self_signed(&cg.admin(), "zip", &["zip.test"]).await;
    let body = json!({ "hostname": "zip.test", "upstream": url, "encode": ["zstd", "br", "gzip"] });
    let r = cg.admin().post("/proxies/", &body).await.unwrap();
    assert_eq!(r.status, 201, "{}", r.json());
    (redis, cg, task)
}

/// curl's answer: (headers in lower case, body bytes as received).
async fn curl(cg: &Certgate, path: &str, args: &[&str]) -> (String, Vec<u8>) {
    let port = cg.https_port;
    let dir = common::TempDir::new("curl-zip");
    let head = dir.0.join("head");
    let out = tokio::process::Command::new("curl")
        .args(["-sk", "--max-time", "60", "--resolve"])
        .arg(format!("zip.test:{port}:127.0.0.1"))
        .arg("-D")
        .arg(&head)
        .args(args)
        .arg(format!("https://zip.test:{port}{path}"))
        .stderr(Stdio::inherit())
        .output()
        .await
        .expect("curl (apt-get install curl)");
    assert!(out.status.success(), "curl {path}: {out:?}");
    let head = std::fs::read_to_string(head).unwrap().to_ascii_lowercase();
    (head, out.stdout)
}

/// Decodes `data` with Python's reference decoder for `coding`.
async fn python_decode(coding: &str, data: &[u8]) -> Vec<u8> {
    let script = "import sys, gzip, brotli, zstandard\n\
        data = sys.stdin.buffer.read()\n\
        coding = sys.argv[1]\n\
        if coding == 'gzip': out = gzip.decompress(data)\n\
        elif coding == 'br': out = brotli.decompress(data)\n\
        else: out = zstandard.ZstdDecompressor().decompressobj().decompress(data)\n\
        sys.stdout.buffer.write(out)\n";
    let mut child = tokio::process::Command::new("python3")
        .args(["-c", script, coding])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut stdin = child.stdin.take().unwrap();
    let input = data.to_vec();
    let feeding = tokio::spawn(async move {
        stdin.write_all(&input).await.unwrap();
    });
    let out = child.wait_with_output().await.unwrap();
    feeding.await.unwrap();
    assert!(
        out.status.success(),
        "python3 could not decode {coding} (scripts/test-tools.sh installs zstandard and brotli): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .map(str::trim)
}

#[tokio::test]
async fn each_coding_decodes_to_the_same_body_with_reference_decoders_and_curl() {
    let (_redis, cg, _up) = compressing_instance().await;
    let (plain_head, plain) = curl(&cg, "/page", &[]).await;
    assert_eq!(plain, page(100_000));
    assert_eq!(header(&plain_head, "content-encoding"), None);
    assert_eq!(header(&plain_head, "vary"), Some("accept-encoding"));
    assert_eq!(header(&plain_head, "etag"), Some("\"v1\""));

    for coding in ["zstd", "br", "gzip"] {
        let accept = format!("Accept-Encoding: {coding}");
        let (head, body) = curl(&cg, "/page", &["-H", &accept]).await;
        assert_eq!(header(&head, "content-encoding"), Some(coding), "{head}");
        assert_eq!(header(&head, "content-length"), None, "{head}");
        assert_eq!(header(&head, "etag"), Some("w/\"v1\""), "{head}");
        assert!(body.len() < 10_000, "{coding}: {} bytes", body.len());
        assert_eq!(python_decode(coding, &body).await, plain, "{coding}");
    }
    // curl's own choice ("deflate, gzip, br, zstd") gets the route's first, decoded by curl.
    let (head, body) = curl(&cg, "/page", &["--compressed"]).await;
    assert_eq!(header(&head, "content-encoding"), Some("zstd"));
    assert_eq!(body, plain);
    // q-values: gzip preferred by the client over the route's order.
    let (head, _) = curl(&cg, "/page", &["-H", "Accept-Encoding: zstd;q=0.5, gzip"]).await;
    assert_eq!(header(&head, "content-encoding"), Some("gzip"));
    // Over HTTP/2 as well.
    let (head, body) = curl(&cg, "/page", &["--http2", "--compressed"]).await;
    assert!(head.starts_with("http/2 200"), "{head}");
    assert_eq!(header(&head, "content-encoding"), Some("zstd"));
    assert_eq!(body, plain);
}

#[tokio::test]
async fn small_images_encoded_and_no_transform_answers_pass_unchanged() {
    let (_redis, cg, _up) = compressing_instance().await;
    let everything = ["-H", "Accept-Encoding: zstd, br, gzip"];
    for (path, len) in [("/small", 100), ("/image", 20_000), ("/kept", 20_000)] {
        let (head, body) = curl(&cg, path, &everything).await;
        assert_eq!(header(&head, "content-encoding"), None, "{path}: {head}");
        assert_eq!(body, page(len), "{path}");
    }
    // Encoded by the upstream: passed through as it is, not encoded twice.
    let (head, body) = curl(&cg, "/encoded", &everything).await;
    assert_eq!(header(&head, "content-encoding"), Some("gzip"));
    assert_eq!(body, page(20_000));
    // HEAD gets the uncompressed head.
    let (head, _) = curl(&cg, "/page", &["-I", "-H", "Accept-Encoding: gzip"]).await;
    assert_eq!(header(&head, "content-encoding"), None, "{head}");
    // A route without encode compresses nothing.
    let r = cg
        .admin()
        .send(
            http::Method::PUT,
            "/proxies/zip.test",
            Some(&json!({ "upstream": route_upstream(&cg).await })),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.json());
    let (head, _) = curl(&cg, "/page", &everything).await;
    assert_eq!(header(&head, "content-encoding"), None, "{head}");
    assert_eq!(header(&head, "vary"), None, "{head}");
    // A bad list is refused naming the entry.
    let bad = json!({ "hostname": "bad.test", "upstream": "http://127.0.0.1:9", "encode": ["gzip", "gzip"] });
    let r = cg.admin().post("/proxies/", &bad).await.unwrap();
    assert_eq!(r.status, 400);
    assert!(r.json().to_string().contains("encode[1]"), "{}", r.json());
    let unknown =
        json!({ "hostname": "bad.test", "upstream": "http://127.0.0.1:9", "encode": ["deflate"] });
    let r = cg.admin().post("/proxies/", &unknown).await.unwrap();
    assert_eq!(r.status, 400);
    assert!(r.json().to_string().contains("encode"), "{}", r.json());
}

async fn route_upstream(cg: &Certgate) -> String {
    let r = cg.admin().get("/proxies/zip.test").await.unwrap().json();
    r["upstream"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_50_mb_stream_compresses_in_flat_memory() {
    let (_redis, cg, _up) = compressing_instance().await;
    // Warm up, then measure the peak while 50 MB streams through gzip.
    curl(&cg, "/page", &["--compressed"]).await;
    let pid = cg.pid().unwrap();
    let before = peak_rss_kib(pid);
    let (head, body) = curl(&cg, "/stream", &["-H", "Accept-Encoding: gzip"]).await;
    assert_eq!(header(&head, "content-encoding"), Some("gzip"));
    let decoded = python_decode("gzip", &body).await;
    assert_eq!(decoded.len(), 800 * 64 * 1024);
    let grown = peak_rss_kib(pid).saturating_sub(before);
    assert!(
        grown < 20 * 1024,
        "peak RSS grew {grown} KiB while compressing a 50 MB stream"
    );
}

#[tokio::test]
async fn a_pause_in_a_stream_flushes_what_came_before_it() {
    let (_redis, cg, _up) = compressing_instance().await;
    let tls = connect(cg.https_port, "zip.test", &[b"http/1.1"]).await;
    let mut sender = http1(tls).await;
    let req = Request::get("/events")
        .header("host", "zip.test")
        .header("accept-encoding", "gzip")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let started = Instant::now();
    let response = sender.send_request(req).await.unwrap();
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let mut body = response.into_body();
    // The first event, compressed and flushed, arrives while the upstream waits two seconds.
    let first = tokio::time::timeout(Duration::from_secs(10), body.frame())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
        .into_data()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "first event after {:?}",
        started.elapsed()
    );
    let mut decoder = compression_codecs::GzipDecoder::new();
    let mut input = compression_core::util::PartialBuffer::new(&first[..]);
    let mut out = compression_core::util::PartialBuffer::new(vec![0u8; 1024]);
    compression_codecs::Decode::decode(&mut decoder, &mut input, &mut out).unwrap();
    assert_eq!(out.written(), b"data: one\n\n");
}
