//! Reconnect backoff: exponential from 250 ms to a 5 s cap, with jitter (each delay is between
//! half and all of the ceiling) so that centrals restarting together do not reconnect in
//! lock-step (the seed retried every 10 s, in step). The cap is low on purpose: only the lower id
//! dials, so a peer that comes back after a long outage waits for the other side's next attempt,
//! and a 30 s cap made that wait 15–30 s of a catch-up (measured); one attempt every few seconds
//! to a dead peer costs nothing.

use std::time::Duration;

use rand::Rng;

/// Backoff state of one dialer.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_millis(250), Duration::from_secs(5))
    }
}

impl Backoff {
    /// Backoff between `min` and `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max,
            attempt: 0,
        }
    }

    /// The ceiling of the next delay (before jitter): `min × 2^attempt`, capped at `max`.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(16)).unwrap_or(u32::MAX);
        self.min.saturating_mul(factor).min(self.max)
    }

    /// The delay before the next attempt: uniformly random in `[ceiling/2, ceiling]`.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let lo = ceiling / 2;
        let span = (ceiling - lo).as_millis() as u64;
        lo + Duration::from_millis(rand::rng().random_range(0..=span))
    }

    /// Starts again from `min` (after a connection that worked).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_with_jitter_and_resets() {
        let mut b = Backoff::default();
        let mut last_ceiling = Duration::ZERO;
        for _ in 0..20 {
            let c = b.ceiling();
            let d = b.next_delay();
            assert!(d >= c / 2 && d <= c, "{d:?} within [{:?}, {c:?}]", c / 2);
            assert!(c >= last_ceiling);
            last_ceiling = c;
        }
        assert_eq!(last_ceiling, Duration::from_secs(5));
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_millis(250));
    }
}
