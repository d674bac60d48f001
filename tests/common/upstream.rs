//! Upstream services for edge tests: an echo server with streaming, slow and WebSocket-style
//! endpoints, and a listener that accepts and never answers.

#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;

type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

/// A running upstream; stops when dropped.
pub struct Upstream {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An HTTP/1.1 upstream tagged `name` (echoed in `x-upstream`):
/// - `/download/{bytes}` streams that many bytes;
/// - `/slow/{ms}` answers after a delay;
/// - `/ws` upgrades (101) and echoes raw bytes;
/// - anything else: JSON `{upstream, method, uri, headers, body_bytes}` (the body is counted
///   as it streams, never buffered).
pub async fn start(name: &'static str) -> Upstream {
    start_counting(name).await.0
}

/// [`start`], also counting the TCP connections open to it right now.
pub async fn start_counting(
    name: &'static str,
) -> (Upstream, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let (upstream, counts) = start_with_counts(name).await;
    (upstream, counts.open)
}

/// What [`start_with_counts`] counts.
pub struct Counts {
    /// TCP connections open right now.
    pub open: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// The most requests it was answering at once.
    pub peak_busy: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// [`start`], counting open connections and the most requests answered at once.
pub async fn start_with_counts(name: &'static str) -> (Upstream, Counts) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let open = Arc::new(AtomicUsize::new(0));
    let peak_busy = Arc::new(AtomicUsize::new(0));
    let busy = Arc::new(AtomicUsize::new(0));
    let counter = open.clone();
    let peak = peak_busy.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let counter = counter.clone();
            counter.fetch_add(1, Ordering::SeqCst);
            let (busy, peak) = (busy.clone(), peak.clone());
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let (busy, peak) = (busy.clone(), peak.clone());
                    async move {
                        peak.fetch_max(busy.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                        let answer = handle(name, req).await;
                        busy.fetch_sub(1, Ordering::SeqCst);
                        answer
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
                counter.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (Upstream { addr, task }, Counts { open, peak_busy })
}

/// What [`start_h2c`] counts.
pub struct H2cCounts {
    /// TCP connections accepted so far.
    pub accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// TCP connections open right now.
    pub open: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// [`start`]'s endpoints over HTTP/2 with prior knowledge (an `h2c://` upstream), counting its
/// connections; and `/goaway`, answered, then the connection it came on is shut down
/// gracefully (`GOAWAY`), as a server going away does.
pub async fn start_h2c(name: &'static str) -> (Upstream, H2cCounts) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let open = Arc::new(AtomicUsize::new(0));
    let counts = H2cCounts {
        accepted: accepted.clone(),
        open: open.clone(),
    };
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            accepted.fetch_add(1, Ordering::SeqCst);
            open.fetch_add(1, Ordering::SeqCst);
            let open = open.clone();
            tokio::spawn(async move {
                let goaway = Arc::new(tokio::sync::Notify::new());
                let asked = goaway.clone();
                let service = service_fn(move |req: Request<Incoming>| {
                    if req.uri().path() == "/goaway" {
                        asked.notify_one();
                    }
                    handle(name, req)
                });
                let connection =
                    hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service);
                tokio::pin!(connection);
                tokio::select! {
                    _ = connection.as_mut() => {}
                    _ = goaway.notified() => {
                        connection.as_mut().graceful_shutdown();
                        let _ = connection.await;
                    }
                }
                open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (Upstream { addr, task }, counts)
}

async fn handle(
    name: &'static str,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_owned();
    let tag = |mut r: Response<Body>| {
        r.headers_mut().insert("x-upstream", name.parse().unwrap());
        Ok(r)
    };
    if let Some(n) = path.strip_prefix("/download/") {
        let total: usize = n.parse().unwrap_or(0);
        let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
        let stream = futures_util::stream::unfold(0usize, move |sent| {
            let chunk = chunk.clone();
            async move {
                if sent >= total {
                    return None;
                }
                let n = chunk.len().min(total - sent);
                Some((
                    Ok::<_, std::io::Error>(Frame::data(chunk.slice(..n))),
                    sent + n,
                ))
            }
        });
        return tag(Response::new(BodyExt::boxed(StreamBody::new(stream))));
    }
    if let Some(ms) = path.strip_prefix("/slow/") {
        tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(1000))).await;
        return tag(Response::new(full("slow done")));
    }
    if path == "/ws" {
        let upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            if let Ok(upgraded) = upgrade.await {
                let (mut r, mut w) = tokio::io::split(TokioIo::new(upgraded));
                let _ = tokio::io::copy(&mut r, &mut w).await;
            }
        });
        let mut r = Response::new(full(""));
        *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        r.headers_mut()
            .insert("connection", "upgrade".parse().unwrap());
        r.headers_mut()
            .insert("upgrade", "websocket".parse().unwrap());
        return tag(r);
    }
    let method = req.method().to_string();
    let uri = req.uri().to_string();
    let headers: serde_json::Map<String, serde_json::Value> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or(""))))
        .collect();
    // Sent back as a response header too, for tests of large heads in both directions.
    let mirror = req.headers().get("x-mirror").cloned();
    let mut body = req.into_body();
    let mut body_bytes = 0usize;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => body_bytes += f.data_ref().map_or(0, |d| d.len()),
            Err(_) => break,
        }
    }
    let answer = json!({ "upstream": name, "method": method, "uri": uri, "headers": headers, "body_bytes": body_bytes });
    let mut r = Response::new(full(&answer.to_string()));
    r.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    r.headers_mut()
        .insert("keep-alive", "timeout=5".parse().unwrap());
    if let Some(mirror) = mirror {
        r.headers_mut().insert("x-mirror", mirror);
    }
    tag(r)
}

fn full(text: &str) -> Body {
    Full::new(Bytes::from(text.to_owned()))
        .map_err(|never| match never {})
        .boxed()
}

/// A listener that accepts connections and never answers (a hung upstream).
pub async fn black_hole() -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    Upstream { addr, task }
}

/// Every byte a [`recording`] upstream received, one entry per connection.
pub type Received = std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>;

/// A raw upstream that records every byte of every connection and, when `switch` is set,
/// answers each request head with `101 Switching Protocols` / `Upgrade: h2c` — an upstream
/// that would happily open a tunnel for anything.
pub async fn recording(switch: bool) -> (Upstream, Received) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received: Received = Default::default();
    let log = received.clone();
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let log = log.clone();
            let index = {
                let mut all = log.lock().unwrap();
                all.push(Vec::new());
                all.len() - 1
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let mut answered = false;
                loop {
                    let n = match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let seen = {
                        let mut all = log.lock().unwrap();
                        all[index].extend_from_slice(&buf[..n]);
                        all[index].clone()
                    };
                    if switch && !answered && seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        answered = true;
                        let _ = stream
                            .write_all(
                                b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
                            )
                            .await;
                    }
                }
            });
        }
    });
    (Upstream { addr, task }, received)
}

/// A raw HTTP/1.1 upstream that answers every request on a connection with `200 ok`, keeps the
/// connection open (no `Connection: close`), and closes it `close_after` later — as a server
/// with a short keep-alive time does, without saying so. Counts the connections it accepted.
pub async fn closing_after(
    close_after: Duration,
) -> (Upstream, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::Ordering;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await;
                tokio::time::sleep(close_after).await;
            });
        }
    });
    (Upstream { addr, task }, accepted)
}

/// Request lines (`GET / HTTP/1.1`, …) a [`dropping_second_request`] upstream has read, in order.
pub type RequestLines = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// A raw HTTP/1.1 upstream that answers the first request of every connection with `200 ok`
/// (keep-alive), then reads the second request's head whole and closes the connection without
/// answering: the race of an upstream's keep-alive timeout, made certain. Counts the
/// connections it accepted and records every request line it read.
pub async fn dropping_second_request() -> (
    Upstream,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
    RequestLines,
) {
    use std::sync::atomic::Ordering;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let lines: RequestLines = Default::default();
    let (counter, log) = (accepted.clone(), lines.clone());
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let log = log.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                for answer in [true, false] {
                    let mut seen = Vec::new();
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => seen.extend_from_slice(&buf[..n]),
                        }
                    }
                    let line = String::from_utf8_lossy(&seen);
                    log.lock()
                        .unwrap()
                        .push(line.lines().next().unwrap_or("").to_owned());
                    if answer {
                        let _ = stream
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                            .await;
                    }
                }
                // Dropped here: closed with the second request unanswered.
            });
        }
    });
    (Upstream { addr, task }, accepted, lines)
}
