//! `/health` (SPEC §1): `503` only when this instance cannot serve traffic (starting, or
//! draining at shutdown); otherwise `200` `healthy`, or `degraded` with the reasons, so a load
//! balancer never takes every instance out for one expired certificate or a Redis outage.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::AdminState;
use crate::certs::model::CertStatus;

/// How long the certificate part of the answer is reused (it reads every record).
const CERT_SUMMARY_TTL: Duration = Duration::from_secs(10);

/// Whether this instance can serve; shared by the listeners and the shutdown sequence.
#[derive(Clone, Default)]
pub struct Health {
    inner: Arc<HealthInner>,
}

#[derive(Default)]
struct HealthInner {
    ready: AtomicBool,
    draining: AtomicBool,
    cert_summary: Mutex<Option<(Instant, Vec<String>)>>,
}

impl Health {
    pub fn set_ready(&self) {
        self.inner.ready.store(true, Ordering::SeqCst);
    }

    pub fn set_draining(&self) {
        self.inner.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::SeqCst)
    }

    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::SeqCst)
    }

    /// `starting` / `draining` when traffic cannot be served, else `None`.
    pub fn unavailable_reason(&self) -> Option<&'static str> {
        if self.is_draining() {
            Some("draining")
        } else if !self.is_ready() {
            Some("starting")
        } else {
            None
        }
    }
}

/// `GET /health` on the admin listener, with details.
pub async fn health(State(state): State<AdminState>) -> Response {
    if let Some(word) = state.health.unavailable_reason() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": word })),
        )
            .into_response();
    }
    let mut reasons = Vec::new();
    if !state.store.ping().await {
        reasons.push("redis_unreachable".to_owned());
    } else {
        reasons.extend(certificate_reasons(&state).await);
    }
    let body = if reasons.is_empty() {
        json!({ "status": "healthy" })
    } else {
        json!({ "status": "degraded", "reasons": reasons })
    };
    (StatusCode::OK, Json(body)).into_response()
}

/// `certificate_expired:<name>` and `renewal_failing:<name>` entries, cached briefly.
async fn certificate_reasons(state: &AdminState) -> Vec<String> {
    if let Some((at, reasons)) = state
        .health
        .inner
        .cert_summary
        .lock()
        .expect("health lock")
        .as_ref()
    {
        if at.elapsed() < CERT_SUMMARY_TTL {
            return reasons.clone();
        }
    }
    let Ok(records) = state.store.list_certificates().await else {
        return Vec::new();
    };
    let mut reasons = Vec::new();
    for r in &records {
        if r.status == CertStatus::Expired {
            reasons.push(format!("certificate_expired:{}", r.cert_name));
        } else if r.status == CertStatus::Active && r.renewal_failures > 0 {
            reasons.push(format!("renewal_failing:{}", r.cert_name));
        }
    }
    *state.health.inner.cert_summary.lock().expect("health lock") =
        Some((Instant::now(), reasons.clone()));
    reasons
}
