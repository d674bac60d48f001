//! How long an HTTP/1.1 connection may be quiet after a request before hyper lets go of it and
//! of its buffers ([`super::conn`]).
//!
//! Letting go early keeps an idle keep-alive connection cheap (no hyper buffers, no TLS receive
//! buffer), but a client that comes back soon after pays for a new hyper connection: its state
//! built and boxed, its buffers allocated, the old ones freed. With 2,000 busy clients a
//! connection's next request comes ≈ 85 ms after its last answer — past a fixed 50 ms, so every
//! request rebuilt hyper's connection (measured: 1.075× req/s and 0.92× CPU per request at
//! HTTP/1.1 2,000 with hyper kept for a second instead). So the hold follows the client:
//! [`FIRST_HOLD`] for a connection that has not come back yet (a burst's one-request
//! connections let go as soon as before), [`LONGEST_HOLD`] once its client, after a release,
//! came back within that of going quiet (its last answer out), and [`FIRST_HOLD`] again once it
//! came back later (holding buffers for it would not have kept hyper). Holding twice the last quiet spell instead, capped the same,
//! kept less (1.01–1.05× req/s against 1.06× at 2,000 clients): the spells vary, and each one
//! longer than the hold rebuilt hyper again.

use std::time::Duration;

use tokio::time::Instant;

/// The hold of a connection that has not come back after a release yet. Short enough that idle
/// connections cost little (nginx frees its request buffers at once; 250 ms held 16 KiB on every
/// connection that finished in the last quarter second of a burst of new connections).
pub const FIRST_HOLD: Duration = Duration::from_millis(50);

/// The longest hold: a client coming back within it is busy, and keeping hyper for it is cheaper
/// than building a new one per request. Beyond it (9,000 clients on one core come back every
/// ≈ 450 ms) holding would keep buffers on most connections and save nothing.
pub const LONGEST_HOLD: Duration = Duration::from_millis(250);

/// One connection's hold, adapted each time its client comes back after a release.
#[derive(Clone, Copy, Debug)]
pub struct ReleaseHold {
    hold: Duration,
    /// When the connection went quiet before hyper last let go of it; `None` once the client
    /// spoke again.
    quiet_since: Option<Instant>,
}

impl Default for ReleaseHold {
    fn default() -> Self {
        ReleaseHold {
            hold: FIRST_HOLD,
            quiet_since: None,
        }
    }
}

impl ReleaseHold {
    /// How long the connection may be quiet after a request before hyper lets go.
    pub fn get(&self) -> Duration {
        self.hold
    }

    /// hyper let go of the connection, which had been quiet since `quiet_since`.
    pub fn let_go(&mut self, quiet_since: Instant) {
        self.quiet_since = Some(quiet_since);
    }

    /// The client's first byte since hyper let go (or its very first): the hold follows how
    /// soon it came back.
    pub fn spoke_again(&mut self) {
        if let Some(since) = self.quiet_since.take() {
            self.came_back_after(since.elapsed());
        }
    }

    /// The client spoke again `gap` after the connection went quiet, hyper having let go
    /// meanwhile: a busy client when within [`LONGEST_HOLD`].
    fn came_back_after(&mut self, gap: Duration) {
        self.hold = if gap < LONGEST_HOLD {
            LONGEST_HOLD
        } else {
            FIRST_HOLD
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_new_connection_lets_go_after_the_first_hold() {
        assert_eq!(ReleaseHold::default().get(), FIRST_HOLD);
    }

    #[test]
    fn a_client_coming_back_soon_is_held_longest() {
        for gap in [ms(0), ms(10), ms(85), LONGEST_HOLD - ms(1)] {
            let mut hold = ReleaseHold::default();
            hold.came_back_after(gap);
            assert_eq!(hold.get(), LONGEST_HOLD, "back after {gap:?}");
        }
    }

    #[test]
    fn the_gap_runs_from_the_quiet_moment_to_the_first_byte_after_a_release() {
        let mut hold = ReleaseHold::default();
        hold.spoke_again();
        assert_eq!(hold.get(), FIRST_HOLD, "a new connection's first byte");
        hold.let_go(Instant::now() - ms(10));
        hold.spoke_again();
        assert_eq!(hold.get(), LONGEST_HOLD, "back 10 ms after going quiet");
        hold.let_go(Instant::now() - Duration::from_secs(2));
        hold.spoke_again();
        assert_eq!(hold.get(), FIRST_HOLD, "back 2 s after going quiet");
        hold.spoke_again();
        assert_eq!(hold.get(), FIRST_HOLD, "no release since: nothing measured");
    }

    #[test]
    fn a_client_coming_back_late_is_held_as_a_new_one() {
        let mut hold = ReleaseHold::default();
        hold.came_back_after(ms(100));
        hold.came_back_after(LONGEST_HOLD);
        assert_eq!(hold.get(), FIRST_HOLD);
        hold.came_back_after(ms(100));
        hold.came_back_after(Duration::from_secs(30));
        assert_eq!(hold.get(), FIRST_HOLD);
    }
}
