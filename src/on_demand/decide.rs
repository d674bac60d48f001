//! Deciding whether a handshake's name gets a certificate on demand, starting its one order,
//! and waiting for it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{OnDemand, OWNER, PATTERNS_FRESH_FOR};
use crate::certs::model::{
    CertStatus, CertificateRecord, ChallengeKind, GenerationState, IssuerKind,
};
use crate::certs::validate::{self, FieldError, NameRules};
use crate::lifecycle::Created;
use crate::metrics::METRICS;
use crate::store::StoreResult;
use crate::timefmt;
use crate::tls::certified::name_matches;

/// What became of one handshake's request for a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The certificate is ready: complete the handshake with it.
    Issued,
    /// Not a name this edge may issue for.
    Refused,
    /// The cluster-wide order rate is used up.
    RateLimited,
    /// The name failed recently and is backing off.
    BackedOff,
    /// Too many handshakes waiting on this instance.
    Busy,
    /// Permitted and under way, but not ready within `ON_DEMAND_HANDSHAKE_WAIT` (or it failed).
    NotReady,
    /// Redis could not be asked.
    Unavailable,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Issued => "allowed",
            Outcome::Refused => "refused",
            Outcome::RateLimited => "rate_limited",
            Outcome::BackedOff => "backed_off",
            Outcome::Busy => "busy",
            Outcome::NotReady => "not_ready",
            Outcome::Unavailable => "unavailable",
        }
    }
}

/// Checks an allow pattern: `example.com` or `*.example.com` (a public DNS name of at least two
/// labels), normalised.
pub fn pattern(raw: &str) -> Result<String, FieldError> {
    let name = validate::domain("pattern", raw, NameRules::acme(ChallengeKind::Dns01))?;
    let host = name.strip_prefix("*.").unwrap_or(&name);
    if !host.contains('.') {
        return Err(FieldError::new(
            "pattern",
            format!(
                "{raw:?} is a single label: patterns name a domain (example.com or *.example.com)"
            ),
        ));
    }
    Ok(name)
}

/// The certificate name for an on-demand host: the host itself when it fits the name rules,
/// else a name derived from its hash.
fn cert_name_for(host: &str) -> String {
    if validate::cert_name(host).is_ok() {
        return host.to_owned();
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, host.as_bytes());
    format!("on-demand-{}", &hex::encode(digest.as_ref())[..32])
}

impl OnDemand {
    /// Gets `host` a certificate if it is permitted, and waits for it (at most
    /// `ON_DEMAND_HANDSHAKE_WAIT`); `ready` says whether this instance can now serve one.
    pub async fn obtain(&self, host: &str, ready: impl Fn() -> bool) -> Outcome {
        let outcome = match self.inner.waiting.try_acquire() {
            Ok(_permit) => self.decide_and_wait(host, &ready).await,
            Err(_) => Outcome::Busy,
        };
        METRICS.on_demand_decisions.inc(&[outcome.label()]);
        outcome
    }

    async fn decide_and_wait(&self, host: &str, ready: &impl Fn() -> bool) -> Outcome {
        let valid = validate::domain("sni", host, NameRules::acme(ChallengeKind::Http01))
            .is_ok_and(|n| n == host && n.contains('.') && n.parse::<std::net::IpAddr>().is_err());
        if !valid {
            return Outcome::Refused;
        }
        match self.start(host).await {
            Ok(Some(started)) => self.wait(host, ready, started).await,
            Ok(None) => Outcome::Refused,
            Err(outcome) => outcome,
        }
    }

    /// Permission, back-off, the rate, and the order. `Ok(Some(started_here))` once a
    /// generation is under way; `Ok(None)` when refused.
    async fn start(&self, host: &str) -> Result<Option<bool>, Outcome> {
        let unavailable = |e: crate::store::StoreError| {
            tracing::debug!(host, error = %e, "on-demand: storage unavailable");
            Outcome::Unavailable
        };
        if !self.permitted(host).await.map_err(unavailable)? {
            return Ok(None);
        }
        let store = &self.inner.store;
        if store
            .on_demand()
            .backing_off(host)
            .await
            .map_err(unavailable)?
        {
            return Err(Outcome::BackedOff);
        }
        let name = cert_name_for(host);
        let existing = store.certs().get(&name).await.map_err(unavailable)?;
        if existing
            .as_ref()
            .is_some_and(|r| r.status != CertStatus::Failed)
        {
            return Ok(Some(false));
        }
        // One handshake in the cluster orders; the others wait for its generation.
        let hold = self.inner.settings.handshake_wait + Duration::from_secs(5);
        if !store
            .lock_on_demand_order(host, hold)
            .await
            .map_err(unavailable)?
        {
            return Ok(Some(false));
        }
        let result = self.order(host, &name, existing).await;
        let _ = store.unlock_on_demand_order(host).await;
        result.map_err(unavailable)?
    }

    /// Under the name's order lock: the rate, then a new record or a retry of a failed one.
    async fn order(
        &self,
        host: &str,
        name: &str,
        existing: Option<CertificateRecord>,
    ) -> StoreResult<Result<Option<bool>, Outcome>> {
        if !self.admit(host).await? {
            return Ok(Err(Outcome::RateLimited));
        }
        if existing.is_some() {
            self.inner.lifecycle.renew(name, "on-demand retry").await?;
            return Ok(Ok(Some(true)));
        }
        let record = self.record(name, host);
        Ok(Ok(
            match self
                .inner
                .lifecycle
                .create_certificate(&record, false)
                .await?
            {
                Created::Queued => {
                    tracing::info!(host, cert_name = %name, "on-demand certificate requested");
                    Some(true)
                }
                // Created meanwhile (by an earlier lock holder): wait for it.
                Created::NameTaken => Some(false),
                Created::HostnameClaimed(_) => None,
            },
        ))
    }

    async fn admit(&self, host: &str) -> StoreResult<bool> {
        self.inner
            .store
            .admit_on_demand_order(host, self.inner.settings.rate_per_minute)
            .await
    }

    fn record(&self, name: &str, host: &str) -> CertificateRecord {
        let config = &self.inner.config;
        let now = timefmt::now_string();
        CertificateRecord {
            acme_directory_url: Some(config.acme.directory_url.clone()),
            profile: config.acme.profile.clone(),
            challenge: self.inner.settings.challenge,
            ..CertificateRecord::pending(
                name,
                vec![host.to_owned()],
                IssuerKind::Acme,
                config.certificates.key_type,
                OWNER,
                &now,
            )
        }
    }

    /// An allow pattern matches, or the ask URL (remembered answers first) allows it.
    async fn permitted(&self, host: &str) -> StoreResult<bool> {
        let patterns = self.patterns().await?;
        if patterns.iter().any(|p| name_matches(p, host)) {
            return Ok(true);
        }
        let Some(asker) = &self.inner.asker else {
            return Ok(false);
        };
        let store = &self.inner.store;
        if let Some(answer) = store.on_demand().asked(host).await? {
            return Ok(answer);
        }
        let allowed = asker.allows(host).await;
        let settings = &self.inner.settings;
        let ttl = if allowed {
            settings.ask_allow_ttl
        } else {
            settings.ask_deny_ttl
        };
        store.remember_on_demand_answer(host, allowed, ttl).await?;
        Ok(allowed)
    }

    /// The allow patterns, read from Redis at most every `PATTERNS_FRESH_FOR`.
    async fn patterns(&self) -> StoreResult<Arc<Vec<String>>> {
        if let Some((read, patterns)) = self.inner.patterns.lock().expect("patterns").as_ref() {
            if read.elapsed() < PATTERNS_FRESH_FOR {
                return Ok(patterns.clone());
            }
        }
        let patterns = Arc::new(self.inner.store.on_demand().patterns().await?);
        *self.inner.patterns.lock().expect("patterns") = Some((Instant::now(), patterns.clone()));
        Ok(patterns)
    }

    /// Waits for the certificate to be served here; a generation that fails meanwhile starts
    /// the name's back-off for every instance.
    ///
    /// The generation's own status decides, not the record's: a retry of a failed name runs
    /// while the record still says `failed`, and the handshake that started it waits for it.
    async fn wait(&self, host: &str, ready: &impl Fn() -> bool, started_here: bool) -> Outcome {
        let began = Instant::now();
        let began_at = timefmt::now() - time::Duration::seconds(1);
        let name = cert_name_for(host);
        let check = || self.check_generation(host, &name, began_at);
        let outcome = wait_for(self.inner.settings.handshake_wait, ready, check).await;
        if outcome == Outcome::Issued && started_here {
            METRICS
                .on_demand_issuance_seconds
                .observe(&[], began.elapsed().as_secs_f64());
        }
        outcome
    }

    /// What [`Self::wait`] learns from Redis: `Some` when waiting longer is pointless — the
    /// generation failed since the wait began (back-off started), or there is no record and
    /// nobody ordering one (the lock holder was rate-limited).
    async fn check_generation(
        &self,
        host: &str,
        name: &str,
        began_at: time::OffsetDateTime,
    ) -> Option<Outcome> {
        let store = &self.inner.store;
        // The lock first, then the record: the holder writes the record before it lets go of
        // the lock, so "no lock, then no record" means nobody is ordering.
        let ordering = store.on_demand().order_locked(host).await.unwrap_or(true);
        if let Ok(Some(status)) = store.certs().generation_status(name).await {
            let failed_now = status.status == GenerationState::Failed
                && status
                    .finished_at
                    .as_deref()
                    .and_then(timefmt::parse)
                    .is_some_and(|at| at >= began_at);
            if failed_now {
                tracing::warn!(
                    host,
                    error = status.message,
                    "on-demand issuance failed; the name backs off"
                );
                let _ = store.on_demand_failed(host).await;
                return Some(Outcome::NotReady);
            }
            return None;
        }
        match store.certs().get(name).await {
            Ok(None) if !ordering => Some(Outcome::NotReady),
            _ => None,
        }
    }
}

/// Waits at most `wait` for `ready()` (looked at every 25 ms): `Issued` once it is, else
/// `NotReady`; every 500 ms `check()` may end the wait with its own outcome.
async fn wait_for<C, F>(wait: Duration, ready: &impl Fn() -> bool, mut check: C) -> Outcome
where
    C: FnMut() -> F,
    F: std::future::Future<Output = Option<Outcome>>,
{
    let deadline = tokio::time::Instant::now() + wait;
    let mut next_check = tokio::time::Instant::now();
    while tokio::time::Instant::now() < deadline {
        if ready() {
            return Outcome::Issued;
        }
        if tokio::time::Instant::now() >= next_check {
            next_check = tokio::time::Instant::now() + Duration::from_millis(500);
            if let Some(outcome) = check().await {
                return outcome;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Outcome::NotReady
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::atomic::{AtomicU32, Ordering};

    const WAIT: Duration = Duration::from_secs(10);

    /// How a wait ends and how long it took, in paused time.
    async fn timed(
        ready_after: Option<Duration>,
        failed_after: Option<Duration>,
    ) -> (Outcome, Duration) {
        let started = tokio::time::Instant::now();
        let ready = || ready_after.is_some_and(|at| started.elapsed() >= at);
        let check = || async move {
            failed_after
                .filter(|at| started.elapsed() >= *at)
                .map(|_| Outcome::NotReady)
        };
        let outcome = wait_for(WAIT, &ready, check).await;
        (outcome, started.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn the_handshake_is_served_as_soon_as_the_certificate_is() {
        let (outcome, took) = timed(Some(Duration::from_millis(3010)), None).await;
        assert_eq!(outcome, Outcome::Issued);
        assert!(
            took >= Duration::from_millis(3010) && took < Duration::from_millis(3050),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_generation_ends_the_wait_at_the_next_check() {
        let (outcome, took) = timed(None, Some(Duration::from_millis(1200))).await;
        assert_eq!(outcome, Outcome::NotReady);
        assert!(
            took >= Duration::from_millis(1200) && took <= Duration::from_millis(1550),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_ready_waits_the_whole_wait_checking_twice_a_second() {
        let checks = AtomicU32::new(0);
        let started = tokio::time::Instant::now();
        let check = || {
            checks.fetch_add(1, Ordering::SeqCst);
            async { None }
        };
        let outcome = wait_for(WAIT, &|| false, check).await;
        assert_eq!(outcome, Outcome::NotReady);
        assert!(started.elapsed() >= WAIT && started.elapsed() < WAIT + Duration::from_millis(50));
        assert_eq!(checks.load(Ordering::SeqCst), 20, "every 500 ms");
    }

    #[test]
    fn patterns_and_names() {
        assert_eq!(pattern("*.Example.com").unwrap(), "*.example.com");
        assert_eq!(pattern("example.com.").unwrap(), "example.com");
        for bad in ["com", "*", "*.com", "10.0.0.1", "a..b", "*.a.*.b"] {
            assert!(pattern(bad).is_err(), "{bad}");
        }
        assert_eq!(cert_name_for("shop.example.com"), "shop.example.com");
        let long = format!("{}.example.com", "a".repeat(60));
        assert!(cert_name_for(&long).starts_with("on-demand-"));
        assert!(validate::cert_name(&cert_name_for(&long)).is_ok());
    }
}
