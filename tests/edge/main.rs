//! The HTTPS edge end to end: SNI, routes, forwarding, hot swap, protections, shutdown.

#[path = "../common/mod.rs"]
mod common;

mod access_log;
mod balancing;
mod client_auth;
mod client_auth_crls;
mod compression;
mod forwarding;
mod grpc;
mod h2c_upstream;
mod hardening;
mod http3;
mod idle_release;
mod ip_rules;
mod protections;
mod proxy_protocol;
mod python_tools;
mod queueing;
mod rebinding;
mod request_id;
mod rules;
mod sni;
mod swap;
mod tables;
mod tls_policy;
mod tunnels;
mod upstream_connections;
mod upstream_tls;

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use common::client::{collect, connect, get, http1, http2, leaf_der, served_leaf};
use common::{create_self_signed, upstream, with_pem, Certgate, Redis};

async fn instance(extra: &[(&str, &str)]) -> (Redis, Certgate) {
    let redis = Redis::start().await;
    let cg = Certgate::start(&redis.url(), "e:", extra).await;
    (redis, cg)
}

async fn route(cg: &Certgate, hostname: &str, upstream: &str, cert: Option<&str>) {
    let mut body = json!({ "hostname": hostname, "upstream": upstream });
    if let Some(c) = cert {
        body["cert_name"] = json!(c);
    }
    let r = cg.admin().post("/proxies/", &body).await.unwrap();
    assert_eq!(r.status, 201, "{}", r.json());
}

/// `certgate_upstream_connections_opened_total` of `route`.
async fn connections_opened(cg: &Certgate, route: &str) -> Option<u64> {
    let r = cg.admin().get("/metrics").await.unwrap();
    let prefix = format!("certgate_upstream_connections_opened_total{{route=\"{route}\"}}");
    String::from_utf8_lossy(&r.body)
        .lines()
        .find(|l| l.starts_with(&prefix))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

async fn chain_of(cg: &Certgate, name: &str) -> String {
    let cert = with_pem(&cg.admin(), name).await;
    cert["fullchain_pem"].as_str().unwrap().to_owned()
}

/// How many HKEYS commands Redis has served (the on-demand claim lookups).
async fn hkeys_calls(redis: &Redis) -> u64 {
    use fred::prelude::ClientLike;
    let client = redis.client().await;
    let cmd = fred::types::CustomCommand::new_static("INFO", None, false);
    let info: String = client.custom(cmd, vec!["commandstats"]).await.unwrap();
    info.lines()
        .find(|l| l.starts_with("cmdstat_hkeys:"))
        .and_then(|l| l.split("calls=").nth(1))
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Sends raw bytes over TLS and returns the status line's code.
async fn raw_status(port: u16, sni: &str, request: &str) -> u16 {
    let mut tls = connect(port, sni, &[b"http/1.1"]).await;
    status_over(&mut tls, request).await
}

/// Sends raw bytes over an open connection and returns the answer's status code.
async fn status_over<S>(stream: &mut S, request: &str) -> u16
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    text.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// Reads until the peer closes (TCP or TLS); how long that took (at most a minute).
async fn closed_after<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(60), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return started.elapsed(),
            Ok(Ok(_)) => {}
        }
    }
}
