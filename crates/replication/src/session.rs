//! Per-connection state: the handshake phase and, once established, what this node knows the
//! peer holds (`known`, from its `Vector` and `Ack` frames) and what it has sent it (`sent`).

use std::collections::{BTreeMap, BTreeSet};

use parkmesh_protocol::{CentralId, Hello, Nonce, StreamId, VersionVector};

use crate::output::{ConnId, Direction, ReadId};
use crate::pace::Pace;
use crate::plan;

/// Handshake progress of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Our `Hello` is sent; waiting for the peer's.
    AwaitHello,
    /// Both `Hello`s exchanged and our proof sent; waiting for the peer's proof.
    AwaitAuth,
    /// Authenticated; replicating.
    Established,
}

/// One connection.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) conn: ConnId,
    pub(crate) direction: Direction,
    pub(crate) phase: Phase,
    pub(crate) my_nonce: Nonce,
    pub(crate) hello: Option<Hello>,
    pub(crate) opened_ms: u64,
    pub(crate) last_seen_ms: u64,
    pub(crate) next_ping_ms: u64,
    pub(crate) ping_nonce: u64,
    /// The peer's vector (joined over its `Vector` and `Ack` frames). Valid once `has_vector`.
    pub(crate) known: VersionVector,
    pub(crate) has_vector: bool,
    /// Per stream, the highest seq sent on this connection (reset to `known` on retransmit).
    pub(crate) sent: VersionVector,
    /// Outstanding log reads, by stream.
    pub(crate) reading: BTreeMap<StreamId, (ReadId, u64)>,
    /// Last time `known` advanced or the unacked set became non-empty.
    pub(crate) last_progress_ms: u64,
    pub(crate) last_ack_rx_ms: Option<u64>,
    /// Set when the peer sent events that are not yet acked.
    pub(crate) ack_due: bool,
    /// Streams the peer sent events of since the last ack (named in the next one).
    pub(crate) ack_streams: BTreeSet<StreamId>,
    /// Streams the peer has sent events of on this connection (their moves go in the prompt
    /// acks to it; other moves wait for the periodic ack).
    pub(crate) sender_of: BTreeSet<StreamId>,
    /// The vector last sent to the peer in an `Ack`/`Vector`, and when.
    pub(crate) told: VersionVector,
    pub(crate) last_ack_tx_ms: u64,
    /// When a gap was first seen in events from this peer.
    pub(crate) gap_since: Option<u64>,
    /// Log reads are paused until then (after a short or failed read).
    pub(crate) read_backoff_until: u64,
    /// Log reads for this peer that failed in a row (reset by a successful read).
    pub(crate) read_failures: u32,
    /// Why the last failed log read failed, while reads keep failing.
    pub(crate) read_error: Option<String>,
    /// Whether the peer said it had more to send (last `Page.more`).
    pub(crate) peer_has_more: bool,
    /// Measured round trip and delivery rate, and what follows from them.
    pub(crate) pace: Pace,
    /// Per stream, the highest seq ever sent on this connection (a send at or below it is a
    /// resend).
    pub(crate) high: VersionVector,
    /// Events sent again on this connection.
    pub(crate) resent: u64,
    /// Times the retransmit timeout fired on this connection.
    pub(crate) timeouts: u64,
}

impl Session {
    pub(crate) fn new(conn: ConnId, direction: Direction, my_nonce: Nonce, now: u64) -> Self {
        Self {
            conn,
            direction,
            phase: Phase::AwaitHello,
            my_nonce,
            hello: None,
            opened_ms: now,
            last_seen_ms: now,
            next_ping_ms: now,
            ping_nonce: 0,
            known: VersionVector::default(),
            has_vector: false,
            sent: VersionVector::default(),
            reading: BTreeMap::new(),
            last_progress_ms: now,
            last_ack_rx_ms: None,
            ack_due: false,
            ack_streams: BTreeSet::new(),
            sender_of: BTreeSet::new(),
            told: VersionVector::default(),
            last_ack_tx_ms: now,
            gap_since: None,
            read_backoff_until: 0,
            read_failures: 0,
            read_error: None,
            peer_has_more: false,
            pace: Pace::default(),
            high: VersionVector::default(),
            resent: 0,
            timeouts: 0,
        }
    }

    /// The authenticated (or claimed, before auth) peer id.
    pub(crate) fn peer(&self) -> Option<&CentralId> {
        self.hello.as_ref().map(|h| &h.node_id)
    }

    /// Who dialled this connection, given this node's id.
    pub(crate) fn dialer<'a>(&'a self, me: &'a CentralId) -> Option<&'a CentralId> {
        match &self.direction {
            Direction::Outbound { .. } => Some(me),
            Direction::Inbound => self.peer(),
        }
    }

    /// What the peer has or was sent, per stream.
    pub(crate) fn base(&self) -> VersionVector {
        plan::join(&self.known, &self.sent)
    }

    /// Events sent and not yet acknowledged, plus those being read for sending.
    pub(crate) fn inflight(&self) -> u64 {
        plan::unacked(&self.sent, &self.known) + self.reading.values().map(|(_, n)| *n).sum::<u64>()
    }

    /// Forgets what was sent beyond `known` (and outstanding reads) so it is sent again.
    pub(crate) fn rewind(&mut self, now: u64) {
        self.sent = self.known.clone();
        self.reading.clear();
        self.last_progress_ms = now;
    }

    /// Records that events `first..=last` of `stream` are sent now, counting any sent before.
    pub(crate) fn sending(&mut self, stream: &StreamId, first: u64, last: u64) {
        let high = self.high.get(stream);
        if first <= high {
            self.resent += high.min(last) - first + 1;
        }
        self.high.advance(stream, last);
        self.sent.advance(stream, last);
    }

    /// Events allowed in flight now, within the configured ceiling.
    pub(crate) fn window(&self, page: u64, ceiling: u64) -> u64 {
        self.pace.window(page.min(ceiling), page.min(64), ceiling)
    }

    /// Joins an ack or vector from the peer; returns whether it advanced anything.
    pub(crate) fn learn(&mut self, v: &VersionVector) -> bool {
        let before = self.known.clone();
        self.known.merge(v);
        self.known != before
    }
}
