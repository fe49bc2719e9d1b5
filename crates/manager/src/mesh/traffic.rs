//! Per-peer traffic and handshake refusals, counted by the mesh driver for the status snapshot
//! (and so for `/metrics`).
//!
//! Frames are counted per connection until the handshake names the peer, then per peer, so the
//! handshake frames of an accepted connection count towards the peer it turns out to be. Figures
//! are totals since start and survive reconnects. A connection that the driver closes before it
//! was established is a refusal, counted by its close code (`bad_auth`, `unknown_peer`, ...).
//! The driver also measures every connected peer's round trip now and then (a WebSocket ping),
//! so the status shows a current RTT without anyone calling `test-connection`. That probe only
//! measures; whether a peer is alive is the replication engine's decision alone (its `Ping`
//! frames and `dead_after_ms`), see ARCHITECTURE.md, "Liveness is the engine's".

use std::collections::{BTreeMap, HashMap};

use std::time::{Duration, Instant};

use parkmesh_protocol::{CentralId, CloseCode};
use tokio::sync::oneshot;

use super::Driver;

use crate::status::Traffic as Counts;

fn add(to: &mut Counts, other: Counts) {
    to.bytes_in += other.bytes_in;
    to.bytes_out += other.bytes_out;
    to.frames_in += other.frames_in;
    to.frames_out += other.frames_out;
}

/// The driver's traffic ledger.
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    /// Connections not established yet.
    pending: HashMap<u64, Counts>,
    /// Established connections and their peer.
    peer_of: HashMap<u64, CentralId>,
    by_peer: HashMap<CentralId, Counts>,
    refusals: BTreeMap<String, u64>,
}

impl Traffic {
    fn slot(&mut self, conn: u64) -> &mut Counts {
        match self.peer_of.get(&conn) {
            Some(peer) => self.by_peer.entry(peer.clone()).or_default(),
            None => self.pending.entry(conn).or_default(),
        }
    }

    pub(crate) fn received(&mut self, conn: u64, bytes: usize) {
        let c = self.slot(conn);
        c.frames_in += 1;
        c.bytes_in += bytes as u64;
    }

    pub(crate) fn sent(&mut self, conn: u64, bytes: usize) {
        let c = self.slot(conn);
        c.frames_out += 1;
        c.bytes_out += bytes as u64;
    }

    /// The handshake on `conn` finished: from now on its traffic is `peer`'s.
    pub(crate) fn established(&mut self, conn: u64, peer: &CentralId) {
        let before = self.pending.remove(&conn).unwrap_or_default();
        add(self.by_peer.entry(peer.clone()).or_default(), before);
        self.peer_of.insert(conn, peer.clone());
    }

    /// The driver closes `conn`; before its handshake finished that is a refusal.
    pub(crate) fn closing(&mut self, conn: u64, code: &CloseCode) {
        if self.peer_of.contains_key(&conn) || matches!(code, CloseCode::ShuttingDown) {
            return;
        }
        *self.refusals.entry(code.as_str().to_owned()).or_default() += 1;
    }

    /// `conn` is gone.
    pub(crate) fn closed(&mut self, conn: u64) {
        self.pending.remove(&conn);
        self.peer_of.remove(&conn);
    }

    pub(crate) fn of(&self, peer: &CentralId) -> Counts {
        self.by_peer.get(peer).copied().unwrap_or_default()
    }

    pub(crate) fn refusals(&self) -> Vec<(String, u64)> {
        self.refusals.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}

/// Time between two round-trip measurements of each connected peer.
const RTT_EVERY: Duration = Duration::from_secs(5);

impl Driver {
    /// Measures the round trip to every connected peer when the last round is old enough; the
    /// results land in the shared RTT table like those of `test_connection`.
    pub(super) fn probe_rtts(&mut self) {
        if self.last_rtt_probe.elapsed() < RTT_EVERY {
            return;
        }
        self.last_rtt_probe = Instant::now();
        let connected: Vec<CentralId> = self
            .engine
            .status()
            .peers
            .into_iter()
            .filter(|p| p.conn.is_some())
            .map(|p| p.peer)
            .collect();
        for peer in connected {
            let (tx, _rx) = oneshot::channel();
            self.on_probe(&peer, tx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_frames_count_for_the_peer_and_early_closes_are_refusals() {
        let mut t = Traffic::default();
        let peer = CentralId::new("b").unwrap();
        t.received(1, 10);
        t.sent(1, 20);
        t.established(1, &peer);
        t.received(1, 5);
        assert_eq!(
            t.of(&peer),
            Counts {
                bytes_in: 15,
                bytes_out: 20,
                frames_in: 2,
                frames_out: 1
            }
        );
        t.closing(1, &CloseCode::Timeout);
        t.closed(1);
        t.received(2, 7);
        t.closing(2, &CloseCode::BadAuth);
        t.closing(3, &CloseCode::ShuttingDown);
        t.closed(2);
        assert_eq!(t.refusals(), vec![("bad_auth".to_owned(), 1)]);
        assert_eq!(t.of(&peer).frames_in, 2);
    }
}
