//! The engine's timers: handshake and liveness deadlines, pings, retransmits, gap re-requests,
//! periodic acks and the relay clock. All time is the caller's monotonic milliseconds, so the
//! simulation drives these deterministically.

use parkmesh_protocol::{CloseCode, Frame};

use super::Engine;
use crate::output::ConnId;
use crate::plan;
use crate::session::Phase;

impl Engine {
    /// Timers: handshake and liveness deadlines, pings, retransmits, gap re-requests, periodic
    /// acks and the relay clock. Call at (or after) [`Engine::poll_timeout`].
    pub fn handle_timeout(&mut self, now: u64) {
        let now = self.tick(now);
        let cfg = self.cfg.clone();
        if cfg.relay_delay_ms > 0 && now >= self.next_relay_ms {
            self.relay_allowed = std::mem::replace(&mut self.relay_snapshot, self.local.clone());
            self.next_relay_ms = now + cfg.relay_delay_ms;
            self.pump_all();
        }
        let has_gap = self.inbox.has_gap();
        let local = self.local.clone();
        let conns: Vec<ConnId> = self.sessions.keys().copied().collect();
        for conn in conns {
            let Some(s) = self.sessions.get_mut(&conn) else {
                continue;
            };
            if s.phase != Phase::Established {
                if now >= s.opened_ms + cfg.handshake_timeout_ms {
                    self.close(
                        conn,
                        CloseCode::Timeout,
                        "handshake did not finish in time".into(),
                        now,
                    );
                }
                continue;
            }
            if !s.has_vector && now >= s.opened_ms + cfg.handshake_timeout_ms {
                self.close(
                    conn,
                    CloseCode::Timeout,
                    "peer sent no version vector in time".into(),
                    now,
                );
                continue;
            }
            if now >= s.last_seen_ms + cfg.dead_after_ms {
                let reason = format!("no frame from peer for {} ms", now - s.last_seen_ms);
                self.close(conn, CloseCode::Timeout, reason, now);
                continue;
            }
            if now >= s.next_ping_ms {
                s.ping_nonce += 1;
                s.next_ping_ms = now + cfg.ping_interval_ms;
                let nonce = s.ping_nonce;
                s.pace.ping_sent(nonce, now);
                self.send(conn, Frame::Ping { nonce });
            }
            let Some(s) = self.sessions.get_mut(&conn) else {
                continue;
            };
            let mut pump = now >= s.read_backoff_until && s.read_backoff_until > 0;
            if pump {
                s.read_backoff_until = 0;
            }
            let unacked = plan::unacked(&s.sent, &s.known);
            if unacked > 0
                && now >= s.last_progress_ms + s.pace.rto(cfg.retransmit_after_ms, unacked)
            {
                tracing::debug!(
                    conn = conn.0,
                    unacked,
                    "no ack progress; resending unacknowledged events"
                );
                s.timeouts += 1;
                s.rewind(now);
                pump = true;
            }
            if s.gap_since.is_some_and(|t| now >= t + cfg.gap_timeout_ms) {
                s.gap_since = None;
                if has_gap {
                    tracing::debug!(
                        conn = conn.0,
                        "gap in received events; asking the peer to resend"
                    );
                    s.told = local.clone();
                    s.last_ack_tx_ms = now;
                    self.send(conn, Frame::Vector(local.clone()));
                }
            }
            if let Some(s) = self.sessions.get(&conn)
                && s.told != local
                && now >= s.last_ack_tx_ms + cfg.ack_interval_ms
            {
                self.send_ack(conn, &local, now);
            }
            if pump {
                self.pump(conn);
            }
        }
    }

    /// When [`Engine::handle_timeout`] should next be called (monotonic ms), if ever.
    pub fn poll_timeout(&self) -> Option<u64> {
        let cfg = &self.cfg;
        let mut next: Option<u64> = None;
        let mut at = |t: u64| next = Some(next.map_or(t, |n| n.min(t)));
        if cfg.relay_delay_ms > 0
            && (self.relay_snapshot != self.local || self.relay_allowed != self.relay_snapshot)
        {
            at(self.next_relay_ms);
        }
        for s in self.sessions.values() {
            if s.phase != Phase::Established {
                at(s.opened_ms + cfg.handshake_timeout_ms);
                continue;
            }
            at(s.last_seen_ms + cfg.dead_after_ms);
            if !s.has_vector {
                at(s.opened_ms + cfg.handshake_timeout_ms);
            }
            at(s.next_ping_ms);
            if s.read_backoff_until > 0 {
                at(s.read_backoff_until);
            }
            let unacked = plan::unacked(&s.sent, &s.known);
            if unacked > 0 {
                at(s.last_progress_ms + s.pace.rto(cfg.retransmit_after_ms, unacked));
            }
            if let Some(t) = s.gap_since {
                at(t + cfg.gap_timeout_ms);
            }
            if s.told != self.local {
                at(s.last_ack_tx_ms + cfg.ack_interval_ms);
            }
        }
        next
    }
}
