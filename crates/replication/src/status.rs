//! Status snapshot: the local vector and, per configured peer, connection state and lag.

use std::collections::BTreeMap;

use parkmesh_protocol::{CentralId, StreamId, VersionVector};

use crate::engine::Engine;
use crate::output::ConnId;
use crate::plan;
use crate::session::Phase;

/// A point-in-time view of the engine, for `/api/p2p/status`, sync-state and metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// What the local log holds.
    pub local: VersionVector,
    /// Received events held in memory (out of order or waiting to be applied).
    pub buffered_events: usize,
    /// Whether an `Apply` batch is outstanding.
    pub applying: bool,
    /// One entry per configured peer, by id.
    pub peers: Vec<PeerStatus>,
}

/// Replication state of one peer.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerStatus {
    /// The peer's id.
    pub peer: CentralId,
    /// The established connection, if any.
    pub conn: Option<ConnId>,
    /// The peer's incarnation, when known.
    pub incarnation: Option<u64>,
    /// The peer's vector as last acknowledged (kept across reconnects).
    pub known: VersionVector,
    /// Per stream, events this node holds that the peer has not acknowledged.
    pub lag: BTreeMap<StreamId, u64>,
    /// Sum of `lag`.
    pub lag_total: u64,
    /// When the peer last acknowledged (monotonic ms), if ever.
    pub last_ack_ms: Option<u64>,
    /// When a frame last arrived from the peer (monotonic ms), while connected.
    pub last_seen_ms: Option<u64>,
    /// Whether this node still has pages to send the peer, or the peer to this node.
    pub catching_up: bool,
    /// Log reads for this peer that failed in a row on the current connection (0 when the last
    /// one succeeded); reads are retried with a growing backoff meanwhile.
    pub read_failures: u32,
    /// Why the last of those reads failed.
    pub read_error: Option<String>,
    /// Events sent to the peer a second time on the same connection (after a retransmit
    /// timeout or a gap re-request), since start.
    pub resent_events: u64,
    /// Times no ack progress came within the retransmit timeout, since start.
    pub retransmit_timeouts: u64,
    /// The connection's smoothed round trip (ms), from the engine's pings.
    pub srtt_ms: Option<f64>,
    /// The connection's smoothed delivery rate (events acknowledged per second while some
    /// were in flight).
    pub delivery_rate: Option<f64>,
    /// Events the connection may have in flight now.
    pub window: Option<u64>,
}

impl Engine {
    /// A snapshot of replication state.
    pub fn status(&self) -> Status {
        let peers = self
            .cfg
            .peers
            .iter()
            .map(|peer| {
                let mem = self.memory.get(peer).cloned().unwrap_or_default();
                let session = self
                    .by_peer
                    .get(peer)
                    .and_then(|c| self.sessions.get(c))
                    .filter(|s| s.phase == Phase::Established);
                let mut known = mem.known;
                if let Some(s) = session {
                    known.merge(&s.known);
                }
                let lag = plan::lag(&self.local, &known);
                let lag_total = lag.values().sum();
                PeerStatus {
                    peer: peer.clone(),
                    conn: session.map(|s| s.conn),
                    incarnation: mem.incarnation,
                    catching_up: session.is_some_and(|s| s.peer_has_more || !s.reading.is_empty()),
                    last_ack_ms: session
                        .and_then(|s| s.last_ack_rx_ms)
                        .or(mem.last_ack_rx_ms),
                    last_seen_ms: session.map(|s| s.last_seen_ms),
                    read_failures: session.map_or(0, |s| s.read_failures),
                    read_error: session.and_then(|s| s.read_error.clone()),
                    resent_events: mem.resent + session.map_or(0, |s| s.resent),
                    retransmit_timeouts: mem.timeouts + session.map_or(0, |s| s.timeouts),
                    srtt_ms: session.and_then(|s| s.pace.figures().0),
                    delivery_rate: session.and_then(|s| s.pace.figures().1),
                    window: session.map(|s| {
                        s.window(self.cfg.page_size.max(1) as u64, self.cfg.inflight_budget())
                    }),
                    known,
                    lag,
                    lag_total,
                }
            })
            .collect();
        Status {
            local: self.local.clone(),
            buffered_events: self.inbox.len(),
            applying: self.inbox.applying(),
            peers,
        }
    }
}
