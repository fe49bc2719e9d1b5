//! The status snapshot: what the engine, the dialers and the traffic ledger know of each
//! configured peer, written into the shared [`MeshStatus`] that `/api/p2p/status`, `/metrics`
//! and the `/mesh` page read (every 100 ms while something changes).

use std::time::Instant;

use super::{Driver, lock, progress};
use crate::status::{MeshStatus, PeerStatus};

impl Driver {
    pub(super) fn snapshot(&mut self) {
        self.last_snapshot = Instant::now();
        let st = self.engine.status();
        self.progress.observe(&st, Instant::now());
        let now = self.now();
        let wall = parkmesh_clock::now_ms();
        let mut shared = lock(&self.shared);
        let peers = self
            .config
            .peer_centrals()
            .iter()
            .map(|p| {
                let mut s = PeerStatus::disconnected(p);
                if let Some(e) = st.peers.iter().find(|e| e.peer == p.id) {
                    s.connected = e.conn.is_some();
                    s.status = if s.connected {
                        "connected"
                    } else if self.dialers.contains_key(&p.id) {
                        "connecting"
                    } else {
                        "disconnected"
                    };
                    s.last_ping_ms = e
                        .last_seen_ms
                        .map(|seen| wall - (now.saturating_sub(seen)) as i64);
                    s.lag_events = e.lag_total;
                    s.catching_up = e.catching_up;
                    s.read_failures = e.read_failures;
                    s.resent_events = e.resent_events;
                    s.retransmit_timeouts = e.retransmit_timeouts;
                    s.window_events = e.window;
                    s.read_error = e.read_error.clone();
                    s.lag_by_stream = e.lag.iter().map(|(k, v)| (k.clone(), *v)).collect();
                    s.acked = e.known.0.iter().map(|(k, v)| (k.clone(), *v)).collect();
                    s.catchup_remaining = progress::remaining(&st.local, &e.known).0;
                }
                s.traffic = self.traffic.of(&p.id);
                s.rtt_ms = shared.rtt_ms.get(p.id.as_str()).copied();
                s.version = shared.versions.get(p.id.as_str()).cloned();
                s
            })
            .collect();
        shared.status = Some(MeshStatus {
            this_central: self.own.origin.to_string(),
            running: true,
            standalone: self.config.is_standalone(),
            peers,
            messages_sent: self.sent,
            messages_received: self.received,
            local: st.local.0.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            handshake_refusals: self.traffic.refusals(),
        });
    }
}
