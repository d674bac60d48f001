//! Prometheus metrics (`GET /metrics` on the admin listener).
//!
//! Counters and histograms live in one process-wide [`METRICS`]; the counts of certificates by
//! status are read from Redis at scrape time (counters the writes keep), the per-certificate
//! gauges from memory ([`certificates`]).

pub mod certificates;
pub mod registry;
pub mod route;

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;

use registry::{escape, CounterVec, HistogramVec};

/// Every metric certgate records.
pub struct Metrics {
    /// `certgate_certificate_generations_total`.
    pub generation_attempts: CounterVec,
    /// `certgate_certificate_generation_failures_total`.
    pub generation_failures: CounterVec,
    /// `certgate_acme_request_duration_seconds`.
    pub acme_request_seconds: HistogramVec,
    /// `certgate_ari_requests_total`.
    pub ari_requests: CounterVec,
    /// `certgate_on_demand_decisions_total`.
    pub on_demand_decisions: CounterVec,
    /// `certgate_on_demand_issuance_seconds`.
    pub on_demand_issuance_seconds: HistogramVec,
    /// `certgate_tls_handshakes_total`.
    pub tls_handshakes: CounterVec,
    /// `certgate_tls_handshake_failures_total`.
    pub tls_handshake_failures: CounterVec,
    /// `certgate_requests_total`.
    pub requests: CounterVec,
    /// `certgate_upstream_response_seconds`.
    pub upstream_seconds: HistogramVec,
    /// `certgate_upstream_queue_seconds`.
    pub upstream_queue_seconds: HistogramVec,
    /// `certgate_upstream_failures_total`.
    pub upstream_failures: CounterVec,
    /// `certgate_upstream_connections_opened_total`.
    pub upstream_connections_opened: CounterVec,
    /// `certgate_crl_fetches_total`.
    pub crl_fetches: CounterVec,
    /// `certgate_redis_errors_total`.
    pub redis_errors: CounterVec,
    /// `certgate_access_log_errors_total`.
    pub access_log_errors: CounterVec,
    /// `certgate_proxy_protocol_refusals_total`.
    pub proxy_protocol_refusals: CounterVec,
    /// `certgate_quic_retries_total`.
    pub quic_retries: CounterVec,
    /// `certgate_rate_limited_total`.
    pub rate_limited: CounterVec,
    /// `certgate_redis_reconnects_total`.
    pub redis_reconnects: CounterVec,
    /// Open client connections (HTTP and HTTPS).
    pub open_connections: AtomicU64,
}

/// The process's one set of metrics, rendered by `GET /metrics`.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    Metrics {
    generation_attempts: CounterVec::new(
        "certgate_certificate_generations_total",
        "Issuance and renewal attempts, by kind (issue or renew) and issuer.",
        &["kind", "issuer"],
    ),
    generation_failures: CounterVec::new(
        "certgate_certificate_generation_failures_total",
        "Failed issuances and renewals, by kind, issuer and reason (rejected, transient, storage, internal).",
        &["kind", "issuer", "reason"],
    ),
    acme_request_seconds: HistogramVec::new(
        "certgate_acme_request_duration_seconds",
        "Latency of HTTP requests to ACME servers, by method.",
        &["method"],
    ),
    ari_requests: CounterVec::new(
        "certgate_ari_requests_total",
        "Renewal-information (ARI) requests to ACME CAs, by outcome (window, unsupported, failed).",
        &["outcome"],
    ),
    on_demand_decisions: CounterVec::new(
        "certgate_on_demand_decisions_total",
        "Handshakes for names no certificate covered, with ON_DEMAND on, by outcome (allowed, refused, rate_limited, backed_off, busy, not_ready, unavailable).",
        &["outcome"],
    ),
    on_demand_issuance_seconds: HistogramVec::new(
        "certgate_on_demand_issuance_seconds",
        "From a first handshake's order to its certificate being served, for orders started here.",
        &[],
    ),
    tls_handshakes: CounterVec::new(
        "certgate_tls_handshakes_total",
        "Completed TLS handshakes, by kind (full or resumed), protocol version and key exchange group.",
        &["kind", "version", "group"],
    ),
    tls_handshake_failures: CounterVec::new(
        "certgate_tls_handshake_failures_total",
        "TLS handshakes that failed or timed out, by reason.",
        &["reason"],
    ),
    requests: CounterVec::new(
        "certgate_requests_total",
        "Requests answered by the edge, by route hostname (or \"-\"), status class and protocol (h1, h2, h3).",
        &["route", "class", "protocol"],
    ),
    upstream_seconds: HistogramVec::new(
        "certgate_upstream_response_seconds",
        "Time until an upstream's response head, by route hostname.",
        &["route"],
    ),
    upstream_queue_seconds: HistogramVec::new(
        "certgate_upstream_queue_seconds",
        "Time requests waited in line for a place under UPSTREAM_MAX_CONNECTIONS (only those that waited; included in certgate_upstream_response_seconds), by route hostname.",
        &["route"],
    ),
    upstream_failures: CounterVec::new(
        "certgate_upstream_failures_total",
        "Requests that could not be forwarded, by route hostname and which side failed (upstream_connect, upstream_connect_timeout, upstream_timeout, upstream_reset, upstream_tls, upstream_none_healthy, upstream_queue_timeout, upstream_bad_upgrade, client_body, client_body_timeout).",
        &["route", "reason"],
    ),
    upstream_connections_opened: CounterVec::new(
        "certgate_upstream_connections_opened_total",
        "Connections opened to upstreams, by route hostname (a steady load reuses them: few per 1,000 requests).",
        &["route"],
    ),
    access_log_errors: CounterVec::new(
        "certgate_access_log_errors_total",
        "Access-log lines that could not be written (disk full, file gone).",
        &[],
    ),
    quic_retries: CounterVec::new(
        "certgate_quic_retries_total",
        "QUIC handshakes answered with a Retry, so the client proves its address before any state is kept (QUIC_RETRY).",
        &[],
    ),
    proxy_protocol_refusals: CounterVec::new(
        "certgate_proxy_protocol_refusals_total",
        "Connections closed for their PROXY header: missing where required, malformed, late, or sent by a source not in PROXY_PROTOCOL_TRUSTED.",
        &[],
    ),
    rate_limited: CounterVec::new(
        "certgate_rate_limited_total",
        "Requests refused with 429 by their route's rate_limit, by route hostname.",
        &["route"],
    ),
    crl_fetches: CounterVec::new(
        "certgate_crl_fetches_total",
        "Fetches of CRLs named by routes' client_auth.crl_urls, by result (ok or error); one instance fetches each for the cluster.",
        &["result"],
    ),
    redis_errors: CounterVec::new("certgate_redis_errors_total", "Redis connection errors.", &[]),
    redis_reconnects: CounterVec::new("certgate_redis_reconnects_total", "Redis reconnections.", &[]),
    open_connections: AtomicU64::new(0),
}
});

/// `2xx`, `4xx`, … for a status code.
pub fn status_class(status: u16) -> &'static str {
    STATUS_CLASSES[status_class_index(status)]
}

/// The `protocol` label values of `certgate_requests_total`: HTTP/1.x, HTTP/2, HTTP/3.
pub const PROTOCOLS: [&str; 3] = ["h1", "h2", "h3"];

/// The `class` label values, in the order of [`status_class_index`].
pub const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// `status`'s class as an index into [`STATUS_CLASSES`].
pub fn status_class_index(status: u16) -> usize {
    match status {
        100..=199 => 0,
        200..=299 => 1,
        300..=399 => 2,
        400..=499 => 3,
        _ => 4,
    }
}

/// Counts an open connection until dropped.
pub struct ConnectionGauge;

impl ConnectionGauge {
    /// Counts one more open connection until the gauge is dropped.
    pub fn open() -> ConnectionGauge {
        METRICS.open_connections.fetch_add(1, Ordering::Relaxed);
        ConnectionGauge
    }
}

impl Drop for ConnectionGauge {
    fn drop(&mut self) {
        METRICS.open_connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What `/metrics` knows of the certificates for one scrape.
pub struct CertificateFigures {
    /// Certificates by status, from the counters the writes keep (no scan).
    pub by_status: std::collections::HashMap<String, i64>,
    /// Each certificate's figures, by name, for the per-certificate series; `None` above
    /// `METRICS_PER_CERTIFICATE_LIMIT` (the series are left out).
    pub series: Option<Vec<(String, certificates::Figures)>>,
}

/// The whole exposition: the process metrics plus the certificate gauges (`None` when Redis
/// could not be read: those gauges are left out for this scrape).
pub fn render(certificates: Option<&CertificateFigures>) -> String {
    let m = &*METRICS;
    let mut out = String::with_capacity(8192);
    if let Some(figures) = certificates {
        render_status_counts(&mut out, &figures.by_status);
        if let Some(series) = &figures.series {
            render_certificates(&mut out, series);
        }
    }
    m.generation_attempts.render(&mut out);
    m.generation_failures.render(&mut out);
    m.acme_request_seconds.render(&mut out);
    m.ari_requests.render(&mut out);
    m.on_demand_decisions.render(&mut out);
    m.on_demand_issuance_seconds.render(&mut out);
    m.tls_handshakes.render(&mut out);
    m.tls_handshake_failures.render(&mut out);
    m.requests.render(&mut out);
    m.quic_retries.render(&mut out);
    m.upstream_seconds.render(&mut out);
    m.upstream_queue_seconds.render(&mut out);
    m.upstream_failures.render(&mut out);
    m.upstream_connections_opened.render(&mut out);
    m.crl_fetches.render(&mut out);
    m.redis_errors.render(&mut out);
    m.access_log_errors.render(&mut out);
    m.proxy_protocol_refusals.render(&mut out);
    m.rate_limited.render(&mut out);
    m.redis_reconnects.render(&mut out);
    let _ = writeln!(
        out,
        "# HELP certgate_open_connections Open client connections.\n# TYPE certgate_open_connections gauge\ncertgate_open_connections {}",
        m.open_connections.load(Ordering::Relaxed)
    );
    out
}

fn render_status_counts(out: &mut String, by_status: &std::collections::HashMap<String, i64>) {
    let _ = writeln!(
        out,
        "# HELP certgate_certificates Certificates by status.\n# TYPE certgate_certificates gauge"
    );
    for word in ["pending", "active", "failed", "expired"] {
        let n = by_status.get(word).copied().unwrap_or(0).max(0);
        let _ = writeln!(out, "certgate_certificates{{status=\"{word}\"}} {n}");
    }
}

/// The per-certificate series (expiry, scheduled renewal, failures).
fn render_certificates(out: &mut String, series: &[(String, certificates::Figures)]) {
    let _ = writeln!(
        out,
        "# HELP certgate_certificate_expiry_seconds Seconds until the certificate expires (negative: expired).\n# TYPE certgate_certificate_expiry_seconds gauge"
    );
    let now = time::OffsetDateTime::now_utc();
    for (name, figures) in series {
        if let Some(expires) = figures.expires_at {
            let seconds = (expires - now).whole_seconds();
            let _ = writeln!(
                out,
                "certgate_certificate_expiry_seconds{{cert_name=\"{}\"}} {seconds}",
                escape(name)
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP certgate_certificate_renewal_at_seconds Unix time the next renewal is scheduled for (the CA's ARI moment when it gives one, else the threshold rule or the back-off).\n# TYPE certgate_certificate_renewal_at_seconds gauge"
    );
    for (name, figures) in series {
        if let Some(at) = figures.renewal_at {
            let _ = writeln!(
                out,
                "certgate_certificate_renewal_at_seconds{{cert_name=\"{}\"}} {}",
                escape(name),
                at.unix_timestamp()
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP certgate_certificate_renewal_failures Failed renewal attempts in a row.\n# TYPE certgate_certificate_renewal_failures gauge"
    );
    for (name, figures) in series.iter().filter(|(_, f)| f.renewal_failures > 0) {
        let _ = writeln!(
            out,
            "certgate_certificate_renewal_failures{{cert_name=\"{}\"}} {}",
            escape(name),
            figures.renewal_failures
        );
    }
}
