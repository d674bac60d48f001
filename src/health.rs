//! Whether this instance can serve traffic, read by both `/health` endpoints (the admin
//! listener's with details, the HTTP listener's status word) and set by start-up and shutdown.
//!
//! `503` only when this instance cannot serve (starting, or draining at shutdown); otherwise
//! `healthy`, or `degraded` with reasons, so a load balancer never takes every instance out for
//! one expired certificate or a Redis outage (`docs/api.md`, "Health").

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use crate::certs::model::CertStatus;
use crate::tls::cache::CertCache;
use crate::tls::crls::CrlCache;

/// Whether this instance can serve; shared by the listeners and the shutdown sequence.
#[derive(Clone, Default)]
pub struct Health {
    inner: Arc<HealthInner>,
}

#[derive(Default)]
struct HealthInner {
    ready: AtomicBool,
    draining: AtomicBool,
    certificates: OnceLock<Arc<CertCache>>,
    crls: OnceLock<Arc<CrlCache>>,
}

impl Health {
    /// Startup finished: the instance serves.
    pub fn set_ready(&self) {
        self.inner.ready.store(true, Ordering::SeqCst);
    }

    /// Shutdown began: health checks fail so load balancers stop sending.
    pub fn set_draining(&self) {
        self.inner.draining.store(true, Ordering::SeqCst);
    }

    /// Lets `/health` report expired certificates and failing renewals among those served.
    pub fn watch_certificates(&self, cache: Arc<CertCache>) {
        let _ = self.inner.certificates.set(cache);
    }

    /// Lets `/health` report CRLs that routes name but that are missing or stale.
    pub fn watch_crls(&self, crls: Arc<CrlCache>) {
        let _ = self.inner.crls.set(crls);
    }

    /// `crl_stale:<url>` entries: CRLs routes name that were never fetched or are past their
    /// `nextUpdate` (a `require` route with `crl_stale: deny` refuses every client meanwhile).
    pub fn crl_reasons(&self) -> Vec<String> {
        let Some(crls) = self.inner.crls.get() else {
            return Vec::new();
        };
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        crls.stale(now)
            .into_iter()
            .map(|url| format!("crl_stale:{url}"))
            .collect()
    }

    /// `key_unreadable:<record>` entries: stored private keys no configured key opens (left as
    /// they are, not served), from this instance's reads.
    pub fn sealing_reasons(&self) -> Vec<String> {
        crate::sealing::unreadable()
            .into_iter()
            .map(|(record, _)| format!("key_unreadable:{record}"))
            .collect()
    }

    /// Serving.
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::SeqCst)
    }

    /// Shutting down.
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

    /// `certificate_expired:<name>`, `certificate_revoked:<name>` (served while its replacement
    /// is issued) and `renewal_failing:<name>` entries, from the certificates
    /// this instance serves (no Redis round trip), sorted.
    pub fn certificate_reasons(&self) -> Vec<String> {
        let Some(cache) = self.inner.certificates.get() else {
            return Vec::new();
        };
        let mut reasons: Vec<String> = cache
            .all()
            .iter()
            .filter_map(|c| match c.record.status {
                CertStatus::Expired => Some(format!("certificate_expired:{}", c.cert_name)),
                CertStatus::Active if c.record.revoked_at.is_some() => {
                    Some(format!("certificate_revoked:{}", c.cert_name))
                }
                CertStatus::Active if c.record.renewal_failures > 0 => {
                    Some(format!("renewal_failing:{}", c.cert_name))
                }
                _ => None,
            })
            .collect();
        reasons.sort();
        reasons
    }
}
