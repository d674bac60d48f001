//! When a certificate falls due for renewal.
//!
//! The rule: renew `RENEWAL_THRESHOLD_DAYS` before expiry; but a certificate whose whole lifetime
//! is shorter than the threshold (short-lived test or internal certificates) is renewed when a
//! third of its lifetime remains, so it is not renewed again the moment it is issued.
//!
//! Where the CA publishes Renewal Information (ARI, RFC 9773), its window wins over the rule:
//! the certificate is renewed at one uniformly random moment inside the window
//! ([`moment_in_window`]), and the window is asked for again when the CA's `Retry-After` says,
//! clamped to `ARI_MIN_POLL_SECONDS..=ARI_MAX_POLL_SECONDS` ([`ari_poll_delay`]).

use time::{Duration, OffsetDateTime};

/// The moment renewal should start.
pub fn renewal_due_at(
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    threshold_days: u32,
) -> OffsetDateTime {
    let lifetime = not_after - not_before;
    let threshold = Duration::days(i64::from(threshold_days));
    if lifetime <= threshold {
        not_after - lifetime / 3
    } else {
        not_after - threshold
    }
}

/// The next moment the renewal loop has something to do for `record`: its renewal, its expiry
/// (an active certificate is then marked expired) or — for an active ACME certificate, with
/// renewal information on — its next ARI request (never asked yet: now). `None`: nothing
/// scheduled (pending or failed certificates; their generations are tracked as jobs). The
/// renewal index (`store::renewal_index`) is scored by it.
pub fn next_event(
    record: &crate::certs::model::CertificateRecord,
    ari_enabled: bool,
    now: OffsetDateTime,
) -> Option<OffsetDateTime> {
    use crate::certs::model::{CertStatus, IssuerKind};
    use crate::timefmt::parse;
    let active = record.status == CertStatus::Active;
    let renewal = match record.status {
        CertStatus::Active | CertStatus::Expired => {
            record.next_renewal_at.as_deref().and_then(parse)
        }
        CertStatus::Pending | CertStatus::Failed => None,
    };
    let expiry = active
        .then(|| record.expires_at.as_deref().and_then(parse))
        .flatten();
    let ari_poll = (ari_enabled
        && active
        && record.issuer == IssuerKind::Acme
        && record.fullchain_pem.is_some())
    .then(|| {
        record
            .ari
            .ari_next_poll_at
            .as_deref()
            .map_or(Some(now), parse)
    })
    .flatten();
    [renewal, expiry, ari_poll].into_iter().flatten().min()
}

/// Delay before retrying a failed renewal: 1 min doubling per failure, at most 6 h.
pub fn retry_backoff(failures: u32) -> Duration {
    let minutes = 1i64 << failures.saturating_sub(1).min(9);
    Duration::minutes(minutes).min(Duration::hours(6))
}

/// The renewal moment for an ARI window (RFC 9773 §4.2): `start + fraction × (end − start)` for
/// a uniformly random `fraction` in `[0, 1)`, but never before `now` — a window that has begun
/// or ended means "renew now".
pub fn moment_in_window(
    start: OffsetDateTime,
    end: OffsetDateTime,
    now: OffsetDateTime,
    fraction: f64,
) -> OffsetDateTime {
    let span = (end - start).max(Duration::ZERO);
    let moment = start + span * fraction.clamp(0.0, 1.0);
    moment.max(now)
}

/// A uniformly random fraction in `[0, 1)` from the system RNG.
pub fn random_fraction() -> f64 {
    let mut bytes = [0u8; 8];
    aws_lc_rs::rand::fill(&mut bytes).expect("system RNG available");
    // 53 random bits: every value a f64 in [0, 1) can hold evenly.
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

/// When to ask the CA again: its `Retry-After`, clamped to `[min, max]`.
pub fn ari_poll_delay(
    retry_after: std::time::Duration,
    min: std::time::Duration,
    max: std::time::Duration,
) -> std::time::Duration {
    retry_after.clamp(min, max.max(min))
}

/// Delay before asking again after a failed ARI request: the minimum poll interval doubling per
/// failure in a row, at most the maximum.
pub fn ari_retry_backoff(
    failures: u32,
    min: std::time::Duration,
    max: std::time::Duration,
) -> std::time::Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(16);
    min.saturating_mul(factor).min(max.max(min))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn long_lived_renew_at_threshold() {
        let nb = datetime!(2026-01-01 0:00 UTC);
        let na = nb + Duration::days(90);
        assert_eq!(renewal_due_at(nb, na, 30), na - Duration::days(30));
    }

    #[test]
    fn short_lived_renew_with_a_third_left() {
        let nb = datetime!(2026-01-01 0:00 UTC);
        let na = nb + Duration::hours(3);
        assert_eq!(renewal_due_at(nb, na, 30), na - Duration::hours(1));
    }

    #[test]
    fn moment_lies_in_the_window_or_is_now() {
        let start = datetime!(2026-01-10 0:00 UTC);
        let end = start + Duration::hours(10);
        let before = start - Duration::days(1);
        assert_eq!(moment_in_window(start, end, before, 0.0), start);
        assert_eq!(
            moment_in_window(start, end, before, 0.5),
            start + Duration::hours(5)
        );
        let inside = start + Duration::hours(8);
        assert_eq!(moment_in_window(start, end, inside, 0.5), inside);
        let after = end + Duration::hours(1);
        assert_eq!(moment_in_window(start, end, after, 0.9), after);
        for _ in 0..100 {
            let f = random_fraction();
            assert!((0.0..1.0).contains(&f), "{f}");
        }
    }

    #[test]
    fn ari_polls_are_clamped_and_back_off() {
        use std::time::Duration as D;
        let (min, max) = (D::from_secs(3600), D::from_secs(86400));
        assert_eq!(
            ari_poll_delay(D::from_secs(21600), min, max),
            D::from_secs(21600)
        );
        assert_eq!(ari_poll_delay(D::from_secs(5), min, max), min);
        assert_eq!(ari_poll_delay(D::from_secs(10 * 86400), min, max), max);
        assert_eq!(ari_retry_backoff(1, min, max), min);
        assert_eq!(ari_retry_backoff(3, min, max), min * 4);
        assert_eq!(ari_retry_backoff(40, min, max), max);
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(retry_backoff(1), Duration::minutes(1));
        assert_eq!(retry_backoff(3), Duration::minutes(4));
        assert_eq!(retry_backoff(50), Duration::hours(6));
    }
}
