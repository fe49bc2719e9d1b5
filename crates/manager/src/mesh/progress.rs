//! Catch-up progress lines: while pages flow between this central and a peer, one `info` line
//! every few seconds (peer, streams, events remaining, rate), and one line when it is done.
//!
//! Fed from the driver's status snapshots; it only reads the engine's status, so it adds nothing
//! to the hot path. "Remaining" is what the peer holds that this central lacks (per the peer's
//! last known vector); "sending" is what this central holds that the peer has not acknowledged.
//! Pages come in bursts, so a catch-up counts as done after [`QUIET`] without pages (or when the
//! link drops).

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
    /// Events the peer lacked at the start and at the last line.
    sending_at_start: u64,
    sending_at_last: u64,
    /// When pages stopped flowing; the run ends after [`QUIET`] without them.
    idle_since: Option<Instant>,
}

/// Pages flow in bursts; a run ends only after this long without any.
pub(crate) const QUIET: Duration = Duration::from_secs(2);

/// Catch-ups in progress, by peer.
#[derive(Default)]
pub(crate) struct Progress {
    runs: HashMap<CentralId, Run>,
}

fn total(v: &VersionVector) -> u64 {
    v.0.values().sum()
}

fn per_sec(n: u64, d: Duration) -> u64 {
    (n as f64 / d.as_secs_f64().max(0.001)).round() as u64
}

impl Progress {
    /// Looks at one status snapshot, taken at `now`, and logs what is due.
    pub(crate) fn observe(&mut self, st: &Status, now: Instant) {
        let held = total(&st.local);
        for p in &st.peers {
            self.observe_peer(p, &st.local, held, now);
        }
    }

    fn observe_peer(&mut self, p: &PeerStatus, local: &VersionVector, held: u64, now: Instant) {
        let (incoming, in_streams) = remaining(local, &p.known);
        let active = p.conn.is_some() && (p.catching_up || incoming > 0);
        let streams = in_streams.max(p.lag.values().filter(|&&n| n > 0).count());
        let Some(run) = self.runs.get_mut(&p.peer) else {
            if active {
                tracing::info!(
                    peer = %p.peer,
                    streams,
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
                        sending_at_start: p.lag_total,
                        sending_at_last: p.lag_total,
                        idle_since: None,
                    },
                );
            }
            return;
        };
        if active {
            run.idle_since = None;
        } else {
            let idle = *run.idle_since.get_or_insert(now);
            if now.duration_since(idle) >= QUIET || p.conn.is_none() {
                let took = idle.duration_since(run.started);
                let received = held.saturating_sub(run.held_at_start);
                let sent = run.sending_at_start.saturating_sub(p.lag_total);
                tracing::info!(
                    peer = %p.peer,
                    received,
                    sent,
                    connected = p.conn.is_some(),
                    remaining = incoming,
                    elapsed_secs = (took.as_secs_f64() * 10.0).round() / 10.0,
                    rate = per_sec(received.max(sent), took),
                    "catch-up done"
                );
                self.runs.remove(&p.peer);
                return;
            }
        }
        let since = now.duration_since(run.last_line);
        if since >= PROGRESS_EVERY {
            let received = held.saturating_sub(run.held_at_last);
            let sent = run.sending_at_last.saturating_sub(p.lag_total);
            tracing::info!(
                peer = %p.peer,
                streams,
                remaining = incoming,
                sending = p.lag_total,
                rate = per_sec(received.max(sent), since),
                elapsed_secs = now.duration_since(run.started).as_secs(),
                "catch-up progress"
            );
            run.last_line = now;
            run.held_at_last = held;
            run.sending_at_last = p.lag_total;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parkmesh_protocol::StreamId;
    use parkmesh_replication::ConnId;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn status(local_a: u64, peer_known_a: u64) -> Status {
        let mut local = VersionVector::default();
        local.0.insert(stream("a"), local_a);
        let mut known = VersionVector::default();
        known.0.insert(stream("a"), peer_known_a);
        Status {
            local,
            buffered_events: 0,
            applying: false,
            peers: vec![PeerStatus {
                peer: CentralId::new("a").unwrap(),
                conn: Some(ConnId(1)),
                incarnation: Some(1),
                known,
                lag: Default::default(),
                lag_total: 0,
                last_ack_ms: None,
                last_seen_ms: None,
                catching_up: local_a < peer_known_a,
                read_failures: 0,
                read_error: None,
                resent_events: 0,
                retransmit_timeouts: 0,
                srtt_ms: None,
                delivery_rate: None,
                window: None,
            }],
        }
    }

    #[test]
    fn a_long_catch_up_logs_start_progress_every_few_seconds_and_end() {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let mut p = Progress::default();
            let t0 = Instant::now();
            p.observe(&status(0, 10_000), t0);
            p.observe(&status(1_000, 10_000), t0 + Duration::from_secs(1));
            p.observe(&status(4_000, 10_000), t0 + PROGRESS_EVERY);
            p.observe(&status(7_000, 10_000), t0 + PROGRESS_EVERY * 2);
            let end = t0 + PROGRESS_EVERY * 2 + Duration::from_secs(1);
            p.observe(&status(10_000, 10_000), end);
            // Pages come in bursts: the run ends only after a quiet spell.
            p.observe(&status(10_000, 10_000), end + QUIET / 2);
            p.observe(&status(10_000, 10_000), end + QUIET);
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].contains("catch-up started") && lines[0].contains("remaining=10000"));
        assert!(lines[1].contains("catch-up progress") && lines[1].contains("remaining=6000"));
        assert!(
            lines[1].contains("rate=1333") && lines[1].contains("streams=1"),
            "{text}"
        );
        assert!(lines[2].contains("catch-up progress") && lines[2].contains("remaining=3000"));
        assert!(lines[3].contains("catch-up done") && lines[3].contains("received=10000"));
        assert!(lines[3].contains("elapsed_secs=7.0"), "{text}");
    }

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
