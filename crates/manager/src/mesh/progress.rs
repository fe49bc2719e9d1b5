//! Catch-up progress lines: while pages flow between this central and a peer, one `info` line
//! every few seconds (peer, streams, events remaining, rate), and one line when it is done.
//!
//! Fed from the driver's status snapshots; it only reads the engine's status, so it adds nothing
//! to the hot path. "Remaining" is what the peer holds that this central lacks (per the peer's
//! last known vector); "sending" is what this central holds that the peer has not acknowledged.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parkmesh_protocol::{CentralId, VersionVector};
use parkmesh_replication::{PeerStatus, Status};

/// Time between two progress lines of one catch-up.
pub(crate) const PROGRESS_EVERY: Duration = Duration::from_secs(3);

/// Events `peer_known` holds that `local` lacks, and in how many streams.
pub(crate) fn remaining(local: &VersionVector, peer_known: &VersionVector) -> (u64, usize) {
    peer_known
        .0
        .iter()
        .map(|(s, &seq)| seq.saturating_sub(local.get(s)))
        .filter(|&n| n > 0)
        .fold((0, 0), |(sum, streams), n| (sum + n, streams + 1))
}

struct Run {
    started: Instant,
    last_line: Instant,
    /// Events held locally at the start and at the last line.
    held_at_start: u64,
    held_at_last: u64,
    peak: u64,
}

/// Catch-ups in progress, by peer.
#[derive(Default)]
pub(crate) struct Progress {
    runs: HashMap<CentralId, Run>,
}

fn total(v: &VersionVector) -> u64 {
    v.0.values().sum()
}

impl Progress {
    /// Looks at one status snapshot and logs what is due.
    pub(crate) fn observe(&mut self, st: &Status) {
        let held = total(&st.local);
        let now = Instant::now();
        for p in &st.peers {
            self.observe_peer(p, &st.local, held, now);
        }
    }

    fn observe_peer(&mut self, p: &PeerStatus, local: &VersionVector, held: u64, now: Instant) {
        let (incoming, in_streams) = remaining(local, &p.known);
        let active = p.conn.is_some() && (p.catching_up || incoming > 0);
        let outgoing_streams = p.lag.values().filter(|&&n| n > 0).count();
        match (self.runs.get_mut(&p.peer), active) {
            (None, true) => {
                tracing::info!(
                    peer = %p.peer,
                    streams = in_streams.max(outgoing_streams),
                    remaining = incoming,
                    sending = p.lag_total,
                    "catch-up started"
                );
                self.runs.insert(
                    p.peer.clone(),
                    Run {
                        started: now,
                        last_line: now,
                        held_at_start: held,
                        held_at_last: held,
                        peak: incoming.max(p.lag_total),
                    },
                );
            }
            (Some(run), true) => {
                run.peak = run.peak.max(incoming.max(p.lag_total));
                let since = now.duration_since(run.last_line);
                if since >= PROGRESS_EVERY {
                    let rate = held.saturating_sub(run.held_at_last) as f64 / since.as_secs_f64();
                    tracing::info!(
                        peer = %p.peer,
                        streams = in_streams.max(outgoing_streams),
                        remaining = incoming,
                        sending = p.lag_total,
                        rate = rate.round() as u64,
                        elapsed_secs = now.duration_since(run.started).as_secs(),
                        "catch-up progress"
                    );
                    run.last_line = now;
                    run.held_at_last = held;
                }
            }
            (Some(run), false) => {
                let secs = now.duration_since(run.started).as_secs_f64();
                let received = held.saturating_sub(run.held_at_start);
                tracing::info!(
                    peer = %p.peer,
                    received,
                    connected = p.conn.is_some(),
                    remaining = incoming,
                    elapsed_secs = (secs * 10.0).round() / 10.0,
                    rate = (received as f64 / secs.max(0.001)).round() as u64,
                    "catch-up done"
                );
                self.runs.remove(&p.peer);
            }
            (None, false) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parkmesh_protocol::StreamId;

    fn stream(o: &str) -> StreamId {
        StreamId {
            origin: CentralId::new(o).unwrap(),
            incarnation: 1,
        }
    }

    #[test]
    fn remaining_counts_only_what_the_peer_holds_beyond_us() {
        let mut local = VersionVector::default();
        local.0.insert(stream("a"), 10);
        local.0.insert(stream("b"), 5);
        let mut known = VersionVector::default();
        known.0.insert(stream("a"), 4);
        known.0.insert(stream("b"), 9);
        known.0.insert(stream("c"), 3);
        assert_eq!(remaining(&local, &known), (7, 2));
    }
}
