//! One upstream's health as this instance sees it: requests in flight, connect failures in a
//! row, and whether (and until when) it is ejected from the rotation.
//!
//! Passive: `UPSTREAM_FAILURES_TO_EJECT` connect failures in a row eject an upstream for
//! `UPSTREAM_EJECT_SECONDS`, doubling (up to 32×) while it keeps failing; when the time is up
//! it gets requests again, and the first success clears it. With an active health check the
//! route's checks decide instead: a failed check ejects, a passing one restores.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

/// Milliseconds are counted from here, so deadlines fit an atomic.
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Milliseconds since [`EPOCH`], never 0 (0 means "not ejected").
fn now_ms() -> u64 {
    EPOCH.elapsed().as_millis() as u64 + 1
}

/// Ejected until a health check passes.
const UNTIL_CHECK_PASSES: u64 = u64::MAX;

/// The health of one upstream of one route.
#[derive(Default)]
pub struct UpstreamHealth {
    in_flight: AtomicUsize,
    failures_in_row: AtomicU32,
    /// 0: in rotation; else [`now_ms`] it returns at, or [`UNTIL_CHECK_PASSES`].
    ejected_until: AtomicU64,
    ejections_in_row: AtomicU32,
    /// For `GET /proxies/{hostname}`: the last failure and the last active check.
    notes: Mutex<Notes>,
}

#[derive(Default, Clone)]
struct Notes {
    last_error: Option<String>,
    last_check: Option<(SystemTime, bool)>,
}

/// How an upstream looks in `GET /proxies/{hostname}` (this instance's view).
#[derive(Debug, Serialize)]
pub struct HealthView {
    /// The upstream's URL.
    pub url: String,
    /// In rotation now.
    pub healthy: bool,
    /// Requests this instance has in flight to it.
    pub in_flight: usize,
    /// Failed attempts in a row (passive checks).
    pub failures_in_row: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Seconds left of a passive ejection.
    pub ejected_for_seconds: Option<u64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    /// Ejected until an active check passes.
    pub ejected_until_check_passes: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The last failure, in words.
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// When the last active check ran (RFC 3339).
    pub last_check_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Whether the last active check passed.
    pub last_check_passed: Option<bool>,
}

/// What passive ejection needs from the settings.
#[derive(Clone, Copy, Debug)]
pub struct EjectPolicy {
    /// Failures in a row that take an upstream out of rotation (`UPSTREAM_FAILURES_TO_EJECT`).
    pub failures_to_eject: u32,
    /// How long it stays out (`UPSTREAM_EJECT_SECONDS`).
    pub eject_for: Duration,
    /// The route has active checks: they, not a timer, bring an ejected upstream back.
    pub actively_checked: bool,
}

impl UpstreamHealth {
    /// In rotation now?
    pub fn available(&self) -> bool {
        let until = self.ejected_until.load(Ordering::Relaxed);
        until == 0 || (until != UNTIL_CHECK_PASSES && until <= now_ms())
    }

    /// Requests in flight to this upstream from this instance.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Counts a request in flight until the guard is dropped.
    pub fn start(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    /// A request got an answer: the upstream is back, if it was out.
    pub fn succeeded(&self) {
        if self.failures_in_row.load(Ordering::Relaxed) != 0
            || self.ejected_until.load(Ordering::Relaxed) != 0
        {
            self.failures_in_row.store(0, Ordering::Relaxed);
            self.ejections_in_row.store(0, Ordering::Relaxed);
            // Only a passing check ends an ejection the checks made (this answer may be from a
            // request sent before it).
            let until = self.ejected_until.load(Ordering::Relaxed);
            if until != UNTIL_CHECK_PASSES {
                let _ = self.ejected_until.compare_exchange(
                    until,
                    0,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
            }
        }
    }

    /// A connection to the upstream could not be made; returns `true` when this ejected it.
    pub fn connect_failed(&self, why: &str, policy: EjectPolicy) -> bool {
        self.note_error(why);
        let failures = self.failures_in_row.fetch_add(1, Ordering::Relaxed) + 1;
        if failures < policy.failures_to_eject.max(1) {
            return false;
        }
        let until = if policy.actively_checked {
            UNTIL_CHECK_PASSES
        } else {
            let doublings = self.ejections_in_row.fetch_add(1, Ordering::Relaxed).min(5);
            now_ms() + policy.eject_for.as_millis() as u64 * (1u64 << doublings)
        };
        let before = self.ejected_until.swap(until, Ordering::Relaxed);
        before == 0 || (before != UNTIL_CHECK_PASSES && before <= now_ms())
    }

    /// An active check's verdict; returns `true` when it changed whether the upstream is in
    /// rotation.
    pub fn checked(&self, passed: bool, why: Option<&str>) -> bool {
        let was = self.available();
        {
            let mut notes = self.notes.lock().expect("health notes");
            notes.last_check = Some((SystemTime::now(), passed));
            if let Some(why) = why {
                notes.last_error = Some(why.to_owned());
            }
        }
        if passed {
            self.failures_in_row.store(0, Ordering::Relaxed);
            self.ejections_in_row.store(0, Ordering::Relaxed);
            self.ejected_until.store(0, Ordering::Relaxed);
        } else {
            self.failures_in_row.fetch_add(1, Ordering::Relaxed);
            self.ejected_until
                .store(UNTIL_CHECK_PASSES, Ordering::Relaxed);
        }
        was != passed
    }

    fn note_error(&self, why: &str) {
        self.notes.lock().expect("health notes").last_error = Some(why.to_owned());
    }

    /// What `GET /proxies/{hostname}` shows of this upstream.
    pub fn view(&self, url: &str) -> HealthView {
        let until = self.ejected_until.load(Ordering::Relaxed);
        let now = now_ms();
        let notes = self.notes.lock().expect("health notes").clone();
        HealthView {
            url: url.to_owned(),
            healthy: self.available(),
            in_flight: self.in_flight(),
            failures_in_row: self.failures_in_row.load(Ordering::Relaxed),
            ejected_for_seconds: (until != 0 && until != UNTIL_CHECK_PASSES && until > now)
                .then(|| (until - now).div_ceil(1000)),
            ejected_until_check_passes: until == UNTIL_CHECK_PASSES,
            last_error: notes.last_error,
            last_check_at: notes
                .last_check
                .map(|(at, _)| crate::timefmt::format(time::OffsetDateTime::from(at))),
            last_check_passed: notes.last_check.map(|(_, passed)| passed),
        }
    }
}

/// A request in flight to an upstream (for `least_requests`).
pub struct InFlight<'a>(&'a UpstreamHealth);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passive() -> EjectPolicy {
        EjectPolicy {
            failures_to_eject: 2,
            eject_for: Duration::from_secs(60),
            actively_checked: false,
        }
    }

    #[test]
    fn ejected_after_failures_in_a_row_and_back_on_success() {
        let health = UpstreamHealth::default();
        assert!(!health.connect_failed("refused", passive()));
        assert!(health.available());
        assert!(health.connect_failed("refused", passive()));
        assert!(!health.available());
        assert!(health
            .view("u")
            .ejected_for_seconds
            .is_some_and(|s| s <= 60));
        health.succeeded();
        assert!(health.available());
        assert_eq!(health.view("u").failures_in_row, 0);
    }

    #[test]
    fn active_checks_decide_when_checked() {
        let health = UpstreamHealth::default();
        let policy = EjectPolicy {
            actively_checked: true,
            failures_to_eject: 1,
            ..passive()
        };
        health.connect_failed("refused", policy);
        assert!(!health.available());
        assert!(health.view("u").ejected_until_check_passes);
        assert!(health.checked(true, None));
        assert!(health.available());
        assert!(health.checked(false, Some("503")));
        assert!(!health.available());
    }
}
