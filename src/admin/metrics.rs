//! `GET /metrics`: Prometheus text exposition.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::AdminState;
use crate::edge::upstreams::MemberGauges;
use crate::metrics::CertificateFigures;

/// `GET /metrics`: the Prometheus text format, from memory (no Redis round trip).
pub async fn metrics(State(state): State<AdminState>) -> impl IntoResponse {
    let figures = if state.store.is_down() {
        None
    } else {
        figures(&state).await.ok()
    };
    let mut body = crate::metrics::render(figures.as_ref());
    render_upstream_health(&mut body, &state);
    render_crl_staleness(&mut body, &state);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}

/// Status counts from Redis (the status indexes' sizes, one round trip); the per-certificate
/// series from memory (the edge tables keep them current), so a scrape costs no Redis round
/// trip per certificate.
async fn figures(state: &AdminState) -> crate::store::StoreResult<CertificateFigures> {
    let by_status = state.store.certs().status_counts().await?;
    Ok(CertificateFigures {
        by_status,
        series: state.certificate_series.snapshot(),
    })
}

/// Per upstream in use (this instance's view, for upstreams of routes it has forwarded to or
/// checked): `certgate_upstream_healthy{route, upstream}`, 1 in rotation and 0 ejected; and
/// `certgate_upstream_waiting{route, upstream}`, requests in line under
/// `UPSTREAM_MAX_CONNECTIONS`.
fn render_upstream_health(out: &mut String, state: &AdminState) {
    let gauges = state.upstreams.member_gauges();
    member_gauge(
        out,
        "certgate_upstream_healthy",
        "Whether an upstream is in rotation (1) or ejected by failures or health checks (0), as this instance sees it.",
        gauges.iter().map(|g| (g, u64::from(g.healthy))),
    );
    member_gauge(
        out,
        "certgate_upstream_waiting",
        "Requests waiting in line for an upstream at UPSTREAM_MAX_CONNECTIONS, on this instance.",
        gauges.iter().map(|g| (g, g.waiting as u64)),
    );
}

/// `certgate_crls_stale`: CRLs routes name in `client_auth.crl_urls` that are past their
/// `nextUpdate` or not fetched yet (`/health` names them).
fn render_crl_staleness(out: &mut String, state: &AdminState) {
    use std::fmt::Write;
    let _ = writeln!(
        out,
        "# HELP certgate_crls_stale CRLs named by routes' client_auth.crl_urls that are past their nextUpdate or not fetched yet (a crl_stale: deny route refuses every client meanwhile).\n# TYPE certgate_crls_stale gauge\ncertgate_crls_stale {}",
        state.health.crl_reasons().len()
    );
    let _ = writeln!(
        out,
        "# HELP certgate_keys_unreadable Stored private keys (certificates, ACME accounts) that no key in KEY_ENCRYPTION_KEYS opens; they are kept and not served (/health names them).\n# TYPE certgate_keys_unreadable gauge\ncertgate_keys_unreadable {}",
        state.health.sealing_reasons().len()
    );
}

/// One gauge family labelled `{route, upstream}`.
fn member_gauge<'a>(
    out: &mut String,
    name: &str,
    help: &str,
    values: impl Iterator<Item = (&'a MemberGauges, u64)>,
) {
    use crate::metrics::registry::escape;
    use std::fmt::Write;
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    for (g, value) in values {
        let _ = writeln!(
            out,
            "{name}{{route=\"{}\",upstream=\"{}\"}} {value}",
            escape(&g.route),
            escape(&g.upstream),
        );
    }
}
