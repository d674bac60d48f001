//! Renewal the CA steers: ACME Renewal Information (RFC 9773).
//!
//! For every active ACME certificate the CA's suggested window is fetched after issuance and then
//! whenever the CA's `Retry-After` says (clamped to `ARI_MIN_POLL_SECONDS..=ARI_MAX_POLL_SECONDS`).
//! One uniformly random moment inside the window becomes the certificate's `renewal_at` and — unless
//! a failed renewal is backing off — its `next_renewal_at`, which the renewal loop acts on. A CA
//! without ARI, or a failed request, leaves the threshold rule in charge; a failed request is
//! retried with back-off and never blocks renewal.
//!
//! `ACME_ARI=false` switches it off (the threshold rule alone), as an escape hatch for a CA whose
//! renewal information misbehaves.
//!
//! Across a cluster each window is fetched by one instance per interval: an instance first moves
//! the record's `ari_next_poll_at` forward with a compare-and-set (the claim), and records the
//! answer only if that claim and the certificate are still the ones it saw.

use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::Lifecycle;
use crate::certs::issuer::{IssuedRef, RenewalAdvice};
use crate::certs::model::{CertStatus, CertificateRecord, IssuerKind, RenewalWindow};
use crate::certs::schedule;
use crate::events::Change;
use crate::metrics::METRICS;
use crate::store::StoreResult;
use crate::timefmt;

/// How long a claimed poll is held: if the claiming instance dies mid-request, another asks
/// after this.
const CLAIM_HOLD: time::Duration = time::Duration::seconds(60);

/// Whether the CA should be asked about `record` now (never with `ACME_ARI=false`).
pub(super) fn poll_due(record: &CertificateRecord, now: OffsetDateTime, enabled: bool) -> bool {
    enabled
        && record.issuer == IssuerKind::Acme
        && record.status == CertStatus::Active
        && record.fullchain_pem.is_some()
        && record
            .ari
            .ari_next_poll_at
            .as_deref()
            .and_then(timefmt::parse)
            .is_none_or(|at| at <= now)
}

impl Lifecycle {
    /// Claims, fetches and records one certificate's renewal information. Does nothing when it
    /// is not due, another instance claimed it, or the certificate changed meanwhile.
    pub(super) async fn poll_renewal_info(&self, record: &CertificateRecord) {
        if let Err(e) = self.try_poll_renewal_info(record).await {
            tracing::warn!(cert_name = %record.cert_name, error = %e, "renewal information not recorded: storage unavailable");
        }
    }

    async fn try_poll_renewal_info(&self, record: &CertificateRecord) -> StoreResult<()> {
        let store = &self.inner.store;
        let name = record.cert_name.as_str();
        let now = OffsetDateTime::now_utc();
        if !poll_due(record, now, self.inner.config.acme.ari) {
            return Ok(());
        }
        let Some(issuer) = self.inner.issuers.get(record.issuer) else {
            return Ok(());
        };
        let claim = timefmt::format(now + CLAIM_HOLD);
        let seen = fields(&[
            ("expires_at", json!(record.expires_at)),
            ("ari_next_poll_at", json!(record.ari.ari_next_poll_at)),
        ]);
        let claimed = fields(&[("ari_next_poll_at", json!(claim))]);
        if !store.patch_certificate_if(name, &seen, &claimed).await? {
            return Ok(());
        }
        self.reindex_name(name).await?;
        let cert = IssuedRef {
            cert_name: name,
            directory_url: record.acme_directory_url.as_deref(),
            email: record.email.as_deref(),
            fullchain_pem: record.fullchain_pem.as_deref().unwrap_or_default(),
        };
        let answer = issuer.renewal_info(&cert).await;
        let now = OffsetDateTime::now_utc();
        let (outcome, patch) = match answer {
            Ok(Some(advice)) => ("window", self.advice_patch(record, &advice, now)),
            Ok(None) => {
                tracing::debug!(cert_name = name, "the CA offers no renewal information");
                let next = now + self.inner.config.acme.ari_max_poll;
                let patch = fields(&[
                    ("ari_next_poll_at", json!(timefmt::format(next))),
                    ("ari_failures", json!(0)),
                ]);
                ("unsupported", patch)
            }
            Err(e) => ("failed", self.failure_patch(record, &e, now)),
        };
        METRICS.ari_requests.inc(&[outcome]);
        let still = fields(&[
            ("expires_at", json!(record.expires_at)),
            ("ari_next_poll_at", json!(claim)),
            ("renewal_failures", json!(record.renewal_failures)),
        ]);
        if store.patch_certificate_if(name, &still, &patch).await? {
            self.reindex_name(name).await?;
            // The renewal moment is part of what every instance exports (`/metrics`).
            self.announce(Change::Certificate(name.to_owned())).await;
            self.inner.renewal_wake.notify_one();
        } else {
            tracing::debug!(
                cert_name = name,
                "certificate changed while asking the CA; answer dropped"
            );
        }
        Ok(())
    }

    /// The fields a failed question sets: back off, forget the window, and renew by the
    /// threshold rule meanwhile.
    fn failure_patch(
        &self,
        record: &CertificateRecord,
        e: &dyn std::fmt::Display,
        now: OffsetDateTime,
    ) -> Map<String, Value> {
        let name = record.cert_name.as_str();
        let failures = record.ari.ari_failures.saturating_add(1);
        let config = &self.inner.config;
        let retry = schedule::ari_retry_backoff(
            failures,
            config.acme.ari_min_poll,
            config.acme.ari_max_poll,
        );
        tracing::warn!(cert_name = name, error = %e, failures, retry_in_seconds = retry.as_secs(), "renewal information unavailable; renewing by the threshold rule");
        let mut patch = fields(&[
            ("ari_next_poll_at", json!(timefmt::format(now + retry))),
            ("ari_failures", json!(failures)),
            ("renewal_window", Value::Null),
            ("renewal_at", Value::Null),
        ]);
        if record.renewal_failures == 0 {
            if let Some(due) = self.threshold_due(record) {
                patch.insert("next_renewal_at".into(), json!(timefmt::format(due)));
            }
        }
        patch
    }

    /// The fields a successful answer sets. The moment already chosen is kept while the window
    /// is unchanged, so asking again does not reshuffle the schedule.
    fn advice_patch(
        &self,
        record: &CertificateRecord,
        advice: &RenewalAdvice,
        now: OffsetDateTime,
    ) -> Map<String, Value> {
        let config = &self.inner.config;
        let window = RenewalWindow {
            start: timefmt::format(advice.window_start),
            end: timefmt::format(advice.window_end),
        };
        let kept = match (&record.ari.renewal_window, &record.ari.renewal_at) {
            (Some(old), Some(at)) if *old == window => timefmt::parse(at),
            _ => None,
        };
        let moment = kept.unwrap_or_else(|| {
            let picked = schedule::moment_in_window(
                advice.window_start,
                advice.window_end,
                now,
                schedule::random_fraction(),
            );
            tracing::info!(cert_name = %record.cert_name, window_start = %window.start, window_end = %window.end, renewal_at = %timefmt::format(picked), "renewal window from the CA");
            picked
        });
        let next_poll = now
            + schedule::ari_poll_delay(
                advice.retry_after,
                config.acme.ari_min_poll,
                config.acme.ari_max_poll,
            );
        let mut patch = fields(&[
            ("renewal_window", json!(window)),
            ("renewal_at", json!(timefmt::format(moment))),
            ("ari_explanation_url", json!(advice.explanation_url)),
            ("ari_checked_at", json!(timefmt::format(now))),
            ("ari_next_poll_at", json!(timefmt::format(next_poll))),
            ("ari_failures", json!(0)),
            ("ari_cert_id", json!(advice.cert_id)),
        ]);
        // A failed renewal's back-off stands: the CA's window does not make retries faster.
        if record.renewal_failures == 0 {
            patch.insert("next_renewal_at".into(), json!(timefmt::format(moment)));
        }
        patch
    }

    /// When the threshold rule would renew `record`.
    fn threshold_due(&self, record: &CertificateRecord) -> Option<OffsetDateTime> {
        let not_before = timefmt::parse(record.not_before.as_deref()?)?;
        let not_after = timefmt::parse(record.expires_at.as_deref()?)?;
        Some(schedule::renewal_due_at(
            not_before,
            not_after,
            self.inner.config.certificates.renewal_threshold_days,
        ))
    }
}

fn fields(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}
