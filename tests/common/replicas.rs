//! Upstream replicas for balancing tests: each counts the requests it answered by method, can
//! be killed (listener and every open connection gone, as when a process dies) and restarted
//! on the same port, and optionally speaks TLS with a certificate from a test CA.

#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Requests answered, by method (health checks counted apart, under `CHECK`).
type Counts = Arc<Mutex<HashMap<String, usize>>>;

pub struct Replica {
    pub addr: SocketAddr,
    name: &'static str,
    counts: Counts,
    tls: Option<TlsAcceptor>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Replica {
    /// A plain HTTP/1.1 replica on a free port.
    pub async fn start(name: &'static str) -> Replica {
        Replica::bind(name, "127.0.0.1:0".parse().unwrap(), None).await
    }

    /// A replica speaking TLS (HTTP/1.1 and HTTP/2 by ALPN) with `cert_pem`/`key_pem`.
    pub async fn start_tls(name: &'static str, cert_pem: &str, key_pem: &str) -> Replica {
        Replica::start_tls_offering(name, cert_pem, key_pem, &[b"h2", b"http/1.1"]).await
    }

    /// [`Replica::start_tls`], choosing among `protocols` only by ALPN (`[b"http/1.1"]`: an
    /// upstream that never speaks HTTP/2).
    pub async fn start_tls_offering(
        name: &'static str,
        cert_pem: &str,
        key_pem: &str,
        protocols: &[&[u8]],
    ) -> Replica {
        let certs = rustls_pemfile::certs(&mut cert_pem.as_bytes())
            .map(|c| c.unwrap())
            .collect();
        let key = rustls_pemfile::private_key(&mut key_pem.as_bytes())
            .unwrap()
            .unwrap();
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        config.alpn_protocols = protocols.iter().map(|p| p.to_vec()).collect();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        Replica::bind(name, "127.0.0.1:0".parse().unwrap(), Some(acceptor)).await
    }

    async fn bind(name: &'static str, at: SocketAddr, tls: Option<TlsAcceptor>) -> Replica {
        let mut replica = Replica {
            addr: at,
            name,
            counts: Counts::default(),
            tls,
            task: None,
        };
        replica.listen().await;
        replica
    }

    async fn listen(&mut self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.addr = listener.local_addr().unwrap();
        let (name, counts, tls) = (self.name, self.counts.clone(), self.tls.clone());
        self.task = Some(tokio::spawn(async move {
            // Owned by this task: aborting it drops the set, which aborts every connection.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (counts, tls) = (counts.clone(), tls.clone());
                connections.spawn(async move {
                    let service = service_fn(move |req| answer(name, counts.clone(), req));
                    let builder =
                        hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                let _ = builder
                                    .serve_connection(TokioIo::new(stream), service)
                                    .await;
                            }
                        }
                        None => {
                            let _ = builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                    }
                });
                while connections.try_join_next().is_some() {}
            }
        }));
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Requests with `method` answered so far (health checks not included).
    pub fn count(&self, method: &str) -> usize {
        self.counts
            .lock()
            .unwrap()
            .get(method)
            .copied()
            .unwrap_or(0)
    }

    /// Health checks answered so far.
    pub fn checks(&self) -> usize {
        self.count("CHECK")
    }

    /// Stops listening and drops every open connection.
    pub fn kill(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn restart(&mut self) {
        self.kill();
        for _ in 0..50 {
            if TcpListener::bind(self.addr).await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        self.listen().await;
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `/health` → 200 (counted as `CHECK`); anything else → JSON naming the replica, the method,
/// the `Host` and the HTTP version seen.
async fn answer(
    name: &'static str,
    counts: Counts,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let key = if req.uri().path() == "/health" {
        "CHECK".to_owned()
    } else {
        req.method().to_string()
    };
    *counts.lock().unwrap().entry(key).or_default() += 1;
    let seen = json!({
        "upstream": name,
        "method": req.method().as_str(),
        "host": req.headers().get("host").and_then(|h| h.to_str().ok()),
        "authority": req.uri().authority().map(|a| a.to_string()),
        "version": format!("{:?}", req.version()),
    });
    let _ = req.into_body().collect().await;
    let mut response = Response::new(Full::new(Bytes::from(seen.to_string())));
    response
        .headers_mut()
        .insert("x-upstream", name.parse().unwrap());
    Ok(response)
}

/// An upstream that accepts, reads what arrives first and closes without answering (a
/// process that dies mid-request); counts the connections it broke.
pub async fn breaker() -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::AsyncReadExt;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let broken = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = broken.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf).await;
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(stream);
        }
    });
    (addr, broken)
}
