//! Address validation with Retry (RFC 9000 §8.1.2): a handshake from an address the endpoint has
//! not validated is answered with a Retry token instead of a connection, so a flood of Initials
//! from spoofed addresses costs certgate no connection state and is not amplified. `QUIC_RETRY`
//! says when: always, never, or (`auto`) once handshakes pass `QUIC_RETRY_ABOVE` per second —
//! the client pays one round trip only under load.

use std::time::{Duration, Instant};

use crate::config::QuicRetry;

/// Counts handshakes per second and decides whether the next unvalidated one gets a Retry.
pub struct RetryPolicy {
    mode: QuicRetry,
    above: u32,
    window_started: Instant,
    in_window: u32,
}

impl RetryPolicy {
    /// The policy for `mode`, `above` handshakes per second for `auto`.
    pub fn new(mode: QuicRetry, above: u32) -> RetryPolicy {
        RetryPolicy {
            mode,
            above,
            window_started: Instant::now(),
            in_window: 0,
        }
    }

    /// Counts one handshake at `now`; whether it must be retried (`validated`: its address
    /// was already proven, by a Retry token).
    pub fn retry(&mut self, validated: bool, now: Instant) -> bool {
        if now.duration_since(self.window_started) >= Duration::from_secs(1) {
            self.window_started = now;
            self.in_window = 0;
        }
        self.in_window = self.in_window.saturating_add(1);
        if validated {
            return false;
        }
        match self.mode {
            QuicRetry::Always => true,
            QuicRetry::Never => false,
            QuicRetry::Auto => self.in_window > self.above,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_retries_only_above_the_rate_and_never_a_validated_address() {
        let mut policy = RetryPolicy::new(QuicRetry::Auto, 3);
        let start = Instant::now();
        let first: Vec<bool> = (0..5).map(|_| policy.retry(false, start)).collect();
        assert_eq!(first, [false, false, false, true, true]);
        assert!(
            !policy.retry(true, start),
            "a validated address goes through"
        );
        let later = start + Duration::from_secs(1);
        assert!(
            !policy.retry(false, later),
            "a new second starts a new count"
        );
        let mut always = RetryPolicy::new(QuicRetry::Always, 3);
        assert!(always.retry(false, start));
        assert!(!always.retry(true, start));
        let mut never = RetryPolicy::new(QuicRetry::Never, 0);
        assert!(!never.retry(false, start));
    }
}
