//! Hybrid logical clock: the generator of [`Hlc`] timestamps for events a central mints.
//!
//! The clock owns no time source: the caller passes the wall-clock reading (`wall_ms`, Unix
//! milliseconds) on every call, so the same code runs under a simulated clock. Timestamps it
//! returns are strictly increasing, even when the wall clock stalls or steps backwards, and stay
//! ahead of every remote timestamp the clock has observed (Kulkarni et al., OPODIS 2014).

use crate::event::Hlc;

/// A hybrid logical clock. `Default` starts at the epoch; feed it the wall clock via [`HlcClock::now`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HlcClock {
    last: Hlc,
}

impl HlcClock {
    /// A clock that will never return a timestamp at or below `last` (e.g. the highest HLC
    /// found in the local log at start-up).
    pub fn starting_after(last: Hlc) -> Self {
        Self { last }
    }

    /// The highest timestamp issued or observed so far.
    pub fn last(&self) -> Hlc {
        self.last
    }

    /// A fresh timestamp for a local event, given the current wall-clock reading.
    ///
    /// Strictly greater than every timestamp previously returned or observed. When the wall
    /// clock is behind, the counter advances; should the counter overflow, the logical wall
    /// part moves forward one millisecond.
    pub fn now(&mut self, wall_ms: u64) -> Hlc {
        let next = if wall_ms > self.last.wall_ms {
            Hlc {
                wall_ms,
                counter: 0,
            }
        } else {
            bump(self.last)
        };
        self.last = next;
        next
    }

    /// Merges a timestamp received from another central (e.g. of a replicated event), so that
    /// later local timestamps order after it. Never rejects a timestamp because of skew: a gate
    /// event is a fact whatever its clock said.
    pub fn observe(&mut self, remote: Hlc) {
        if remote > self.last {
            self.last = remote;
        }
    }
}

/// The successor of `hlc` in timestamp order.
fn bump(hlc: Hlc) -> Hlc {
    match hlc.counter.checked_add(1) {
        Some(counter) => Hlc {
            wall_ms: hlc.wall_ms,
            counter,
        },
        None => Hlc {
            wall_ms: hlc.wall_ms.saturating_add(1),
            counter: 0,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_wall_clock_when_it_advances() {
        let mut c = HlcClock::default();
        assert_eq!(
            c.now(1_000),
            Hlc {
                wall_ms: 1_000,
                counter: 0
            }
        );
        assert_eq!(
            c.now(1_005),
            Hlc {
                wall_ms: 1_005,
                counter: 0
            }
        );
    }

    #[test]
    fn counts_when_the_wall_clock_stalls_or_steps_back() {
        let mut c = HlcClock::default();
        c.now(1_000);
        assert_eq!(
            c.now(1_000),
            Hlc {
                wall_ms: 1_000,
                counter: 1
            }
        );
        assert_eq!(
            c.now(900),
            Hlc {
                wall_ms: 1_000,
                counter: 2
            }
        );
        assert_eq!(
            c.now(1_001),
            Hlc {
                wall_ms: 1_001,
                counter: 0
            }
        );
    }

    #[test]
    fn stays_ahead_of_observed_remote_timestamps() {
        let mut c = HlcClock::default();
        c.now(1_000);
        c.observe(Hlc {
            wall_ms: 61_000,
            counter: 7,
        });
        assert_eq!(
            c.now(1_010),
            Hlc {
                wall_ms: 61_000,
                counter: 8
            }
        );
        // An older remote timestamp changes nothing.
        c.observe(Hlc {
            wall_ms: 5,
            counter: 0,
        });
        assert_eq!(
            c.last(),
            Hlc {
                wall_ms: 61_000,
                counter: 8
            }
        );
    }

    #[test]
    fn counter_overflow_moves_the_logical_wall_forward() {
        let mut c = HlcClock::starting_after(Hlc {
            wall_ms: 10,
            counter: u32::MAX,
        });
        assert_eq!(
            c.now(3),
            Hlc {
                wall_ms: 11,
                counter: 0
            }
        );
    }

    #[test]
    fn timestamps_are_strictly_increasing() {
        let mut c = HlcClock::default();
        let mut prev = Hlc::default();
        for wall in [5_u64, 5, 3, 9, 9, 1, 100, 2] {
            let t = c.now(wall);
            assert!(t > prev, "{t:?} <= {prev:?}");
            prev = t;
        }
    }
}
