//! Pacing of one connection: its measured round trip (from the engine's own `Ping`/`Pong`) and
//! delivery rate (events acknowledged per millisecond while some were in flight), and what
//! follows from them: how many events may be in flight and how long to wait for an ack before
//! resending.
//!
//! The in-flight window is what the link delivers in one round trip plus [`QUEUE_MS`], between a
//! floor and the configured ceiling (`page_size × max_inflight_pages`): enough to keep the link
//! busy while acks travel back, yet never more than about a second queued in front of a slow
//! uplink, where it would delay every ping and ack behind it. A new connection starts at one
//! page and grows as acks come back. The retransmit timeout is the configured one, or, when
//! longer, twice the round trip plus twice the time the link needs for what is in flight, so a
//! slow link that is still delivering is never sent the same events twice.

/// Queueing the in-flight window allows beyond one round trip, in milliseconds.
pub(crate) const QUEUE_MS: f64 = 1_000.0;
/// Weight of a new sample in the moving averages.
const GAIN: f64 = 0.25;
/// The retransmit timeout never exceeds this many times the configured one.
const MAX_RTO_FACTOR: u64 = 10;

/// The measured figures of one connection.
#[derive(Debug, Clone, Default)]
pub(crate) struct Pace {
    /// Smoothed round trip, ms.
    srtt_ms: Option<f64>,
    /// Smoothed delivery rate, events per ms.
    rate: Option<f64>,
    /// The outstanding ping: nonce and when it was sent.
    ping: Option<(u64, u64)>,
}

fn smooth(old: Option<f64>, sample: f64) -> f64 {
    old.map_or(sample, |o| o + GAIN * (sample - o))
}

impl Pace {
    /// A ping with `nonce` leaves now.
    pub(crate) fn ping_sent(&mut self, nonce: u64, now: u64) {
        self.ping = Some((nonce, now));
    }

    /// A pong arrived: a round-trip sample if it answers the outstanding ping.
    pub(crate) fn pong(&mut self, nonce: u64, now: u64) {
        if let Some((n, at)) = self.ping
            && n == nonce
        {
            self.ping = None;
            self.srtt_ms = Some(smooth(self.srtt_ms, now.saturating_sub(at) as f64));
        }
    }

    /// `events` in flight were acknowledged `dt_ms` after the previous progress (or after the
    /// first of them left, when nothing was in flight before).
    pub(crate) fn delivered(&mut self, events: u64, dt_ms: u64) {
        if events == 0 {
            return;
        }
        let sample = events as f64 / dt_ms.max(1) as f64;
        self.rate = Some(smooth(self.rate, sample));
    }

    /// Events allowed in flight, between `floor` and `ceiling`; `start` until a rate is known.
    pub(crate) fn window(&self, start: u64, floor: u64, ceiling: u64) -> u64 {
        let want = match self.rate {
            Some(rate) => (rate * (self.srtt_ms.unwrap_or(0.0) + QUEUE_MS)) as u64,
            None => start,
        };
        want.clamp(floor.min(ceiling), ceiling)
    }

    /// How long to wait for ack progress with `inflight` events outstanding before resending.
    pub(crate) fn rto(&self, base_ms: u64, inflight: u64) -> u64 {
        let rtt = self.srtt_ms.unwrap_or(0.0);
        let drain = self.rate.map_or(0.0, |r| inflight as f64 / r);
        let measured = (2.0 * rtt + 2.0 * drain) as u64;
        measured.clamp(base_ms, base_ms.saturating_mul(MAX_RTO_FACTOR))
    }

    /// Smoothed round trip (ms) and delivery rate (events/s), when measured.
    pub(crate) fn figures(&self) -> (Option<f64>, Option<f64>) {
        (self.srtt_ms, self.rate.map(|r| r * 1000.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_follows_rate_and_round_trip_within_bounds() {
        let mut p = Pace::default();
        assert_eq!(p.window(256, 64, 1024), 256, "one page until measured");
        // 1 Mbit/s at ~100 bytes an event: 1.25 events/ms; 200 ms round trip.
        p.ping_sent(1, 0);
        p.pong(1, 200);
        p.pong(1, 900); // a repeated answer is no sample
        p.delivered(250, 200);
        assert_eq!(p.window(256, 64, 10_000), 1_500);
        assert_eq!(p.window(256, 64, 1_024), 1_024, "the ceiling holds");
        // A very slow link: the floor holds.
        let mut slow = Pace::default();
        slow.delivered(1, 1_000);
        assert_eq!(slow.window(256, 64, 1_024), 64);
    }

    #[test]
    fn the_retransmit_timeout_covers_what_the_link_still_has_to_carry() {
        let mut p = Pace::default();
        assert_eq!(p.rto(3_000, 1_000), 3_000);
        p.ping_sent(7, 1_000);
        p.pong(7, 1_400);
        // 0.1 events/ms and 1 000 in flight: 10 s to drain, so 2 × 0.4 + 2 × 10 s.
        p.delivered(100, 1_000);
        assert_eq!(p.rto(3_000, 1_000), 20_800);
        assert_eq!(p.rto(3_000, 0), 3_000);
        assert_eq!(
            p.rto(1_000, 1_000_000),
            10_000,
            "bounded by ten times the base"
        );
    }
}
