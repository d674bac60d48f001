//! One access-log line: what is known when the request arrives ([`AccessStart`]), what the
//! handler learns ([`super::super::context::RequestCtx`]), and what the sent body adds (bytes,
//! the whole duration).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use http::{Method, Request, Version};
use serde::Serialize;

use super::super::shared_values::HostName;
use crate::config::tls::TlsVersion;

/// What the line needs from the request head, kept only when the log is on.
#[derive(Debug)]
pub struct AccessStart {
    method: Method,
    path: String,
    version: Version,
    /// The client: the peer (or the PROXY header's source), or behind `TRUSTED_PROXIES` the
    /// address `X-Forwarded-For` gives.
    client: IpAddr,
}

impl AccessStart {
    /// From the request head and the client's address.
    pub fn of<B>(req: &Request<B>, client: IpAddr) -> AccessStart {
        AccessStart {
            method: req.method().clone(),
            path: req.uri().path().to_owned(),
            version: req.version(),
            client,
        }
    }
}

/// Everything but the body's part, gathered when the answer's head is ready.
#[derive(Debug)]
#[allow(missing_docs)] // The fields are the line's, named alike.
pub struct Pending {
    pub start: AccessStart,
    pub began: Instant,
    pub peer: IpAddr,
    pub host: Option<HostName>,
    pub status: u16,
    pub route: String,
    pub outcome: &'static str,
    pub upstream: Option<String>,
    pub upstream_time: Option<Duration>,
    pub tls: Option<TlsVersion>,
    pub request_id: Option<String>,
}

/// The JSON line's fields, in their order.
#[derive(Serialize)]
struct Line<'a> {
    time: String,
    client: IpAddr,
    peer: IpAddr,
    method: &'a str,
    host: Option<&'a str>,
    path: &'a str,
    protocol: &'static str,
    tls: Option<&'static str>,
    status: u16,
    bytes: u64,
    duration_ms: f64,
    upstream_ms: Option<f64>,
    upstream: Option<&'a str>,
    route: &'a str,
    outcome: &'static str,
    request_id: Option<&'a str>,
}

impl Pending {
    /// The line once `bytes` of body were sent, with its newline.
    pub fn render(&self, bytes: u64) -> Vec<u8> {
        let millis = |d: Duration| (d.as_secs_f64() * 1_000_000.0).round() / 1000.0;
        let line = Line {
            time: crate::timefmt::now_string(),
            client: self.start.client,
            peer: self.peer,
            method: self.start.method.as_str(),
            host: self.host.as_deref(),
            path: &self.start.path,
            protocol: match self.start.version {
                Version::HTTP_2 => "h2",
                Version::HTTP_3 => "h3",
                _ => "h1",
            },
            tls: self.tls.map(|v| match v {
                TlsVersion::Tls12 => "1.2",
                TlsVersion::Tls13 => "1.3",
            }),
            status: self.status,
            bytes,
            duration_ms: millis(self.began.elapsed()),
            upstream_ms: self.upstream_time.map(millis),
            upstream: self.upstream.as_deref(),
            route: &self.route,
            outcome: self.outcome,
            request_id: self.request_id.as_deref(),
        };
        let mut out = serde_json::to_vec(&line).unwrap_or_default();
        out.push(b'\n');
        out
    }
}
