//! The engine's receiving side: a peer's vector and acks, the events it sends (checked, queued
//! in the inbox and handed out as `Apply` batches one at a time), and the acks this node sends
//! back once a batch is stored.

use parkmesh_protocol::{Event, Frame, VersionVector};

use super::{Engine, MAX_ACK_STREAMS};
use crate::output::{ConnId, Output};
use crate::plan;
use crate::session::Phase;

impl Engine {
    pub(super) fn on_vector(&mut self, conn: ConnId, v: &VersionVector, now: u64) {
        let Some(s) = self.sessions.get_mut(&conn) else {
            return;
        };
        s.learn(v);
        s.has_vector = true;
        s.rewind(now);
        self.pump(conn);
    }

    pub(super) fn on_ack(&mut self, conn: ConnId, v: &VersionVector, now: u64) {
        let Some(s) = self.sessions.get_mut(&conn) else {
            return;
        };
        let before = plan::unacked(&s.sent, &s.known);
        if s.learn(v) {
            let acked = before.saturating_sub(plan::unacked(&s.sent, &s.known));
            s.pace
                .delivered(acked, now.saturating_sub(s.last_progress_ms));
            s.last_progress_ms = now;
        }
        s.last_ack_rx_ms = Some(now);
        self.pump(conn);
    }

    pub(super) fn on_events(
        &mut self,
        conn: ConnId,
        events: Vec<Event>,
        more: Option<bool>,
        now: u64,
    ) {
        let Some(s) = self.sessions.get_mut(&conn) else {
            return;
        };
        s.ack_due = true;
        s.ack_streams
            .extend(events.iter().map(|e| e.id.stream()).take(MAX_ACK_STREAMS));
        if s.sender_of.len() < MAX_ACK_STREAMS {
            s.sender_of.extend(s.ack_streams.iter().cloned());
        }
        if let Some(more) = more {
            s.peer_has_more = more;
        }
        let r = self
            .inbox
            .receive(&self.local, &self.own, events, self.cfg.max_buffered_events);
        if r.forged > 0 {
            tracing::warn!(
                conn = conn.0,
                n = r.forged,
                "peer sent events of this node's own stream; ignored"
            );
        }
        if r.dropped > 0 {
            tracing::debug!(
                conn = conn.0,
                n = r.dropped,
                "receive buffer full; events dropped for resend"
            );
        }
        if let Some(s) = self.sessions.get_mut(&conn)
            && (r.buffered > 0 || r.dropped > 0)
            && s.gap_since.is_none()
        {
            s.gap_since = Some(now);
        }
        self.emit_batch();
        if !self.inbox.applying() {
            self.flush_acks();
        }
    }

    pub(super) fn emit_batch(&mut self) {
        if let Some(events) = self.inbox.take_batch() {
            self.push(Output::Apply { events });
        }
    }

    /// Acks the events just stored to the peers that sent them, each naming only the streams
    /// that peer sent since its last ack (see [`Engine::send_sender_ack`]).
    pub(super) fn flush_acks(&mut self) {
        let local = self.local.clone();
        let due: Vec<ConnId> = self
            .sessions
            .values()
            .filter(|s| s.ack_due && s.phase == Phase::Established)
            .map(|s| s.conn)
            .collect();
        for conn in due {
            self.send_sender_ack(conn, &local);
        }
    }

    /// The prompt ack to a peer that sent events: it names only the streams that peer sent since
    /// its last ack and those it sent before that moved since (events of a batch stored later),
    /// at what `local` now holds of them, which is all the peer needs to retire what it has in
    /// flight. Everything else that moved (own events, other peers' streams: the
    /// relay hints) waits for the periodic ack of [`Engine::send_ack`], one per
    /// `ack_interval_ms`. Naming every moved stream in each prompt ack made a receiving
    /// central's acks grow with the size of the mesh: in a full mesh of N busy centrals each
    /// acks N − 1 senders per stored batch, each ack naming up to N streams.
    pub(super) fn send_sender_ack(&mut self, conn: ConnId, local: &VersionVector) {
        let Some(s) = self.sessions.get_mut(&conn) else {
            return;
        };
        let named = VersionVector(
            local
                .0
                .iter()
                .filter(|(stream, seq)| {
                    s.ack_streams.contains(*stream)
                        || (s.sender_of.contains(*stream) && s.told.get(stream) != **seq)
                })
                .map(|(stream, seq)| (stream.clone(), *seq))
                .collect(),
        );
        s.ack_streams.clear();
        s.ack_due = false;
        if named.0.is_empty() {
            return;
        }
        s.told.merge(&named);
        self.out.push_back(Output::Send {
            conn,
            frame: Frame::Ack { vector: named },
        });
    }

    /// The periodic ack: `local` to the peer on `conn`, naming only the streams that moved since
    /// the vector last told it and the streams the peer sent events of since the last ack: the receiver
    /// joins an ack into what it knows, so the streams left out keep their values there (builds
    /// that always sent the whole vector join it the same way). In a mesh of N centrals this
    /// keeps an ack at the size of what changed instead of N entries. Naming the streams just
    /// received again, moved or not, answers a resend of events this node already holds, so an
    /// ack that never arrived is repaired by the next resend.
    pub(super) fn send_ack(&mut self, conn: ConnId, local: &VersionVector, now: u64) {
        if let Some(s) = self.sessions.get_mut(&conn) {
            let delta = VersionVector(
                local
                    .0
                    .iter()
                    .filter(|(stream, seq)| {
                        s.told.get(stream) != **seq || s.ack_streams.contains(*stream)
                    })
                    .map(|(stream, seq)| (stream.clone(), *seq))
                    .collect(),
            );
            s.ack_streams.clear();
            s.ack_due = false;
            s.told = local.clone();
            s.last_ack_tx_ms = now;
            self.out.push_back(Output::Send {
                conn,
                frame: Frame::Ack { vector: delta },
            });
        }
    }

    /// The outstanding [`Output::Apply`] batch was persisted (events, projections and vector in
    /// one transaction). Acks its senders and releases the next batch.
    pub fn handle_applied(&mut self, now: u64) {
        self.tick(now);
        for (stream, seq) in self.inbox.applied() {
            self.local.advance(&stream, seq);
        }
        if !self.inbox.has_gap() {
            for s in self.sessions.values_mut() {
                s.gap_since = None;
            }
        }
        let due: Vec<ConnId> = self
            .sessions
            .values()
            .filter(|s| s.ack_due)
            .map(|s| s.conn)
            .collect();
        self.flush_acks();
        self.emit_batch();
        // Events those peers sent may wait in the next batch: ack them again once it is stored
        // (an ack names only what moved, so a later one does not repeat this one).
        if self.inbox.applying() {
            for conn in due {
                if let Some(s) = self.sessions.get_mut(&conn) {
                    s.ack_due = true;
                }
            }
        }
        if self.cfg.relay_delay_ms == 0 {
            self.pump_all();
        }
    }

    /// The outstanding [`Output::Apply`] batch could not be persisted. Its events (and later
    /// ready ones) are forgotten and will be resent by peers (after `retransmit_after_ms`).
    pub fn handle_apply_failed(&mut self, now: u64) {
        self.tick(now);
        tracing::warn!("apply failed; received events will be fetched again");
        self.inbox.apply_failed(&self.local);
    }
}
