//! When a certificate falls due for renewal.
//!
//! The rule: renew `RENEWAL_THRESHOLD_DAYS` before expiry; but a certificate whose whole lifetime
//! is shorter than the threshold (short-lived test or internal certificates) is renewed when a
//! third of its lifetime remains, so it is not renewed again the moment it is issued.

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

/// Delay before retrying a failed renewal: 1 min doubling per failure, at most 6 h.
pub fn retry_backoff(failures: u32) -> Duration {
    let minutes = 1i64 << failures.saturating_sub(1).min(9);
    Duration::minutes(minutes).min(Duration::hours(6))
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
    fn backoff_grows_and_caps() {
        assert_eq!(retry_backoff(1), Duration::minutes(1));
        assert_eq!(retry_backoff(3), Duration::minutes(4));
        assert_eq!(retry_backoff(50), Duration::hours(6));
    }
}
