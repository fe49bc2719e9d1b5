//! The engine: one node's replication state machine over all its peer connections. Its timers
//! (`handle_timeout`, `poll_timeout`) live in `engine/timers.rs`, its receiving side (vectors,
//! acks, events in, `Apply` batches) in `engine/receive.rs`.

mod receive;
mod timers;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use parkmesh_protocol::{
    CentralId, CloseCode, Event, Frame, Nonce, ProtocolError, StreamId, VersionVector,
};

use crate::config::EngineConfig;
use crate::error::ReplicationError;
use crate::inbox::Inbox;
use crate::output::{ConnId, Direction, Output, ReadId};
use crate::plan;
use crate::session::{Phase, Session};

/// Streams of one received frame remembered for the next ack (a page is one stream; a live or
/// relayed frame a few).
const MAX_ACK_STREAMS: usize = 64;

/// What the engine remembers of a peer between connections (for status and lag figures).
#[derive(Debug, Clone, Default)]
pub(crate) struct PeerMemory {
    pub(crate) known: VersionVector,
    /// Events sent again and retransmit timeouts on earlier connections.
    pub(crate) resent: u64,
    pub(crate) timeouts: u64,
    pub(crate) last_ack_rx_ms: Option<u64>,
    pub(crate) incarnation: Option<u64>,
}

/// The sans-IO replication engine of one central.
///
/// It owns no socket, no clock, no database and no log: the driver feeds it inputs and carries
/// out its outputs. Method kinds, after quinn-proto's `Connection`:
///
/// - **inputs** `handle_*(.., now)`: connection opened ([`Engine::handle_connect`]), frame
///   received ([`Engine::handle_text`] / [`Engine::handle_frame`]), connection lost
///   ([`Engine::handle_disconnect`]), local events committed ([`Engine::handle_local_commit`]),
///   a log read answered ([`Engine::handle_log_read`]), an `Apply` persisted
///   ([`Engine::handle_applied`] / [`Engine::handle_apply_failed`]), timer expired
///   ([`Engine::handle_timeout`]);
/// - **commands**: [`Engine::set_peers`] (config reload), [`Engine::close`], [`Engine::shutdown`];
/// - **outputs**: [`Engine::poll_output`] (frames to send, sockets to close, log reads, batches
///   to persist, peer up/down) and [`Engine::poll_timeout`] (when to call `handle_timeout`);
/// - **getters**: [`Engine::local_vector`], [`Engine::status`].
///
/// Call order: after **every** input, drain `poll_output` until `None` and carry the outputs
/// out in order, then (re-)arm one timer at `poll_timeout`. `now` is a monotonic millisecond
/// reading and must never decrease between calls (a smaller value is treated as the largest seen).
/// `Apply` outputs come one at a time: the next one is emitted only after `handle_applied`.
#[derive(Debug)]
pub struct Engine {
    pub(crate) cfg: EngineConfig,
    pub(crate) own: StreamId,
    pub(crate) local: VersionVector,
    pub(crate) inbox: Inbox,
    pub(crate) sessions: BTreeMap<ConnId, Session>,
    pub(crate) by_peer: BTreeMap<CentralId, ConnId>,
    reads: BTreeMap<ReadId, (ConnId, StreamId, u64)>,
    next_read: u64,
    out: VecDeque<Output>,
    relay_allowed: VersionVector,
    relay_snapshot: VersionVector,
    next_relay_ms: u64,
    pub(crate) now: u64,
    pub(crate) memory: BTreeMap<CentralId, PeerMemory>,
}

impl Engine {
    /// An engine for a node whose log holds exactly `local` (read from storage at start-up).
    pub fn new(cfg: EngineConfig, local: VersionVector) -> Self {
        Self {
            own: cfg.own_stream(),
            cfg,
            relay_allowed: local.clone(),
            relay_snapshot: local.clone(),
            local,
            inbox: Inbox::default(),
            sessions: BTreeMap::new(),
            by_peer: BTreeMap::new(),
            reads: BTreeMap::new(),
            next_read: 1,
            out: VecDeque::new(),
            next_relay_ms: 0,
            now: 0,
            memory: BTreeMap::new(),
        }
    }

    /// The engine's configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// The durable version vector (what the local log holds).
    pub fn local_vector(&self) -> &VersionVector {
        &self.local
    }

    /// The next instruction for the driver, in order.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    pub(crate) fn push(&mut self, o: Output) {
        self.out.push_back(o);
    }

    pub(crate) fn send(&mut self, conn: ConnId, frame: Frame) {
        self.out.push_back(Output::Send { conn, frame });
    }

    fn tick(&mut self, now: u64) -> u64 {
        self.now = self.now.max(now);
        self.now
    }

    /// A connection was opened (dialled or accepted); `nonce` must be fresh random bytes.
    pub fn handle_connect(&mut self, conn: ConnId, direction: Direction, nonce: Nonce, now: u64) {
        let now = self.tick(now);
        if self.sessions.contains_key(&conn) {
            tracing::warn!(
                conn = conn.0,
                "connection id reused while still open; ignored"
            );
            return;
        }
        self.sessions
            .insert(conn, Session::new(conn, direction, nonce, now));
        self.send(conn, self.hello(nonce));
    }

    /// A text frame arrived on `conn`: decodes it (bounded, never panics) and handles it.
    pub fn handle_text(&mut self, conn: ConnId, text: &str, now: u64) {
        match Frame::decode(text) {
            Ok(frame) => self.handle_frame(conn, frame, now),
            Err(err) => {
                let established = self
                    .sessions
                    .get(&conn)
                    .is_some_and(|s| s.phase == Phase::Established);
                match err {
                    // Newer peers may send frame types this build does not know: skip them.
                    ProtocolError::UnknownType(kind) if established => {
                        tracing::debug!(conn = conn.0, kind, "ignoring unknown frame type");
                    }
                    ProtocolError::UnsupportedVersion(_) if !established => {
                        self.close(conn, CloseCode::NoCommonVersion, err.to_string(), now);
                    }
                    _ => self.close(conn, CloseCode::ProtocolError, err.to_string(), now),
                }
            }
        }
    }

    /// A decoded frame arrived on `conn`.
    pub fn handle_frame(&mut self, conn: ConnId, frame: Frame, now: u64) {
        let now = self.tick(now);
        let Some(s) = self.sessions.get_mut(&conn) else {
            tracing::debug!(
                conn = conn.0,
                kind = frame.type_name(),
                "frame for unknown connection"
            );
            return;
        };
        s.last_seen_ms = now;
        let phase = s.phase.clone();
        match (phase, frame) {
            (_, Frame::Close { code, reason }) => self.on_remote_close(conn, code, reason),
            (Phase::AwaitHello, Frame::Hello(h)) => self.on_hello(conn, h, now),
            (Phase::AwaitAuth, Frame::Auth { proof }) => self.on_auth(conn, &proof, now),
            (Phase::Established, Frame::Vector(v)) => self.on_vector(conn, &v, now),
            (Phase::Established, Frame::Page { events, more }) => {
                self.on_events(conn, events, Some(more), now)
            }
            (Phase::Established, Frame::Live { events }) => self.on_events(conn, events, None, now),
            (Phase::Established, Frame::Ack { vector }) => self.on_ack(conn, &vector, now),
            (Phase::Established, Frame::Ping { nonce }) => self.send(conn, Frame::Pong { nonce }),
            (Phase::Established, Frame::Pong { nonce }) => s.pace.pong(nonce, now),
            (phase, frame) => {
                let reason = format!("unexpected {} frame during {phase:?}", frame.type_name());
                self.close(conn, CloseCode::ProtocolError, reason, now);
            }
        }
    }

    /// The socket of `conn` closed or failed without a `Close` frame.
    pub fn handle_disconnect(&mut self, conn: ConnId, now: u64) {
        self.tick(now);
        self.drop_session(conn, None, "connection lost".into());
    }

    /// Closes `conn` with a reason (sends `Close`, then emits [`Output::Close`]).
    pub fn close(&mut self, conn: ConnId, code: CloseCode, reason: String, now: u64) {
        self.tick(now);
        if !self.sessions.contains_key(&conn) {
            return;
        }
        tracing::info!(conn = conn.0, %code, reason, "closing peer connection");
        self.send(
            conn,
            Frame::Close {
                code: code.clone(),
                reason: reason.clone(),
            },
        );
        self.drop_session(conn, Some(code.clone()), reason.clone());
        self.push(Output::Close { conn, code, reason });
    }

    /// Closes every connection with `shutting_down`.
    pub fn shutdown(&mut self, now: u64) {
        self.close_all(CloseCode::ShuttingDown, "central is shutting down", now);
    }

    fn close_all(&mut self, code: CloseCode, reason: &str, now: u64) {
        let conns: Vec<ConnId> = self.sessions.keys().copied().collect();
        for conn in conns {
            self.close(conn, code.clone(), reason.into(), now);
        }
    }

    /// Replaces the set of accepted peers (config reload); closes connections to removed ones.
    pub fn set_peers(&mut self, peers: BTreeSet<CentralId>, now: u64) {
        self.cfg.peers = peers;
        self.memory.retain(|p, _| self.cfg.peers.contains(p));
        let gone: Vec<ConnId> = self
            .sessions
            .values()
            .filter(|s| s.peer().is_some_and(|p| !self.cfg.peers.contains(p)))
            .map(|s| s.conn)
            .collect();
        for conn in gone {
            self.close(
                conn,
                CloseCode::PeerRemoved,
                "peer removed from configuration".into(),
                now,
            );
        }
    }

    /// Replaces the cluster secret (config reload). Every connection proved the old secret, so
    /// each is closed and must authenticate again with the new one; a member that was not given
    /// the new secret is thereby shut out.
    pub fn set_secret(&mut self, secret: Vec<u8>, now: u64) {
        if secret == self.cfg.cluster_secret {
            return;
        }
        self.cfg.cluster_secret = secret;
        self.close_all(
            CloseCode::BadAuth,
            "the cluster secret changed; authenticate again",
            now,
        );
    }

    fn on_remote_close(&mut self, conn: ConnId, code: CloseCode, reason: String) {
        tracing::info!(conn = conn.0, %code, reason, "peer closed the connection");
        self.drop_session(conn, Some(code.clone()), reason.clone());
        self.push(Output::Close { conn, code, reason });
    }

    /// Forgets `conn`; emits `PeerDown` if it was the established connection of its peer.
    fn drop_session(&mut self, conn: ConnId, code: Option<CloseCode>, reason: String) {
        let Some(s) = self.sessions.remove(&conn) else {
            return;
        };
        self.reads.retain(|_, (c, _, _)| *c != conn);
        if s.phase != Phase::Established {
            return;
        }
        let Some(peer) = s.peer().cloned() else {
            return;
        };
        if self.by_peer.get(&peer) == Some(&conn) {
            self.by_peer.remove(&peer);
        }
        let mem = self.memory.entry(peer.clone()).or_default();
        mem.known.merge(&s.known);
        mem.resent += s.resent;
        mem.timeouts += s.timeouts;
        mem.last_ack_rx_ms = s.last_ack_rx_ms.or(mem.last_ack_rx_ms);
        self.push(Output::PeerDown {
            conn,
            peer,
            code,
            reason,
        });
    }

    /// Events this node minted were committed to its log (one transaction, in seq order).
    /// Pushes them live to caught-up peers.
    pub fn handle_local_commit(
        &mut self,
        events: Vec<Event>,
        now: u64,
    ) -> Result<(), ReplicationError> {
        self.tick(now);
        let mut head = self.local.get(&self.own);
        for e in &events {
            if e.id.stream() != self.own {
                return Err(ReplicationError::ForeignLocalCommit {
                    id: e.id.clone(),
                    own: self.own.clone(),
                });
            }
            if e.id.seq != head + 1 {
                return Err(ReplicationError::NonContiguousCommit {
                    id: e.id.clone(),
                    head,
                });
            }
            head += 1;
        }
        if events.is_empty() {
            return Ok(());
        }
        self.local.advance(&self.own.clone(), head);
        self.push_live(&events);
        Ok(())
    }

    /// Sends own events live to every peer that has everything before them, else schedules
    /// log reads (a slow peer is served from the log, not from memory).
    fn push_live(&mut self, events: &[Event]) {
        let own = self.own.clone();
        let (page, ceiling) = (self.cfg.page_size.max(1) as u64, self.cfg.inflight_budget());
        let conns: Vec<ConnId> = self.sessions.keys().copied().collect();
        for conn in conns {
            let Some(s) = self.sessions.get_mut(&conn) else {
                continue;
            };
            if s.phase != Phase::Established || !s.has_vector {
                continue;
            }
            let base = s.base().get(&own);
            let fresh: Vec<Event> = events.iter().filter(|e| e.id.seq > base).cloned().collect();
            let Some(first) = fresh.first() else { continue };
            let n = fresh.len() as u64;
            let inflight = s.inflight();
            let budget = s.window(page, ceiling);
            if first.id.seq == base + 1 && !s.reading.contains_key(&own) && inflight + n <= budget {
                if inflight == 0 {
                    s.last_progress_ms = self.now;
                }
                s.sending(&own, base + 1, base + n);
                self.send(conn, Frame::Live { events: fresh });
            } else {
                self.pump(conn);
            }
        }
    }

    /// What may be sent to peers now: own stream in full, other streams once relay-aged.
    fn target(&self) -> VersionVector {
        if self.cfg.relay_delay_ms == 0 {
            return self.local.clone();
        }
        VersionVector(
            self.local
                .0
                .iter()
                .map(|(s, &n)| {
                    (
                        s.clone(),
                        if *s == self.own {
                            n
                        } else {
                            n.min(self.relay_allowed.get(s))
                        },
                    )
                })
                .collect(),
        )
    }

    /// Issues log reads for what the peer on `conn` lacks, within its bounds.
    pub(crate) fn pump(&mut self, conn: ConnId) {
        let target = self.target();
        let now = self.now;
        let Some(s) = self.sessions.get_mut(&conn) else {
            return;
        };
        if s.phase != Phase::Established || !s.has_vector || now < s.read_backoff_until {
            return;
        }
        let missing = plan::missing(&target, &s.base());
        if missing.is_empty() {
            return;
        }
        let inflight = s.inflight();
        let budget = s
            .window(self.cfg.page_size.max(1) as u64, self.cfg.inflight_budget())
            .saturating_sub(inflight);
        let reads_left = self
            .cfg
            .max_inflight_reads
            .max(1)
            .saturating_sub(s.reading.len());
        let plans = plan::plan_reads(
            &missing,
            |st| s.reading.contains_key(st),
            reads_left,
            budget,
            self.cfg.page_size.max(1) as u64,
        );
        if inflight == 0 && !plans.is_empty() {
            s.last_progress_ms = now;
        }
        for p in plans {
            let read = ReadId(self.next_read);
            self.next_read += 1;
            s.reading.insert(p.stream.clone(), (read, p.limit));
            self.reads
                .insert(read, (conn, p.stream.clone(), p.from_seq));
            let limit = usize::try_from(p.limit).unwrap_or(usize::MAX);
            self.out.push_back(Output::ReadLog {
                read,
                conn,
                stream: p.stream,
                from_seq: p.from_seq,
                limit,
            });
        }
    }

    fn pump_all(&mut self) {
        let conns: Vec<ConnId> = self.sessions.keys().copied().collect();
        for conn in conns {
            self.pump(conn);
        }
    }

    /// The driver's answer to [`Output::ReadLog`]: the events read, ascending from `from_seq`.
    /// Stale answers (connection gone, read superseded) are ignored.
    pub fn handle_log_read(&mut self, read: ReadId, events: Vec<Event>, now: u64) {
        let now = self.tick(now);
        let Some((conn, stream, from)) = self.reads.remove(&read) else {
            return;
        };
        let target = self.target();
        let Some(s) = self.sessions.get_mut(&conn) else {
            return;
        };
        if s.reading.get(&stream).map(|r| r.0) != Some(read) {
            return;
        }
        s.reading.remove(&stream);
        s.read_failures = 0;
        s.read_error = None;
        let valid = events
            .into_iter()
            .enumerate()
            .take_while(|(i, e)| e.id.stream() == stream && e.id.seq == from + *i as u64)
            .map(|(_, e)| e);
        let known = s.known.get(&stream);
        let page: Vec<Event> = valid.filter(|e| e.id.seq > known).collect();
        let Some(last) = page.last().map(|e| e.id.seq) else {
            if s.known.get(&stream) < from {
                tracing::warn!(conn = conn.0, %stream, from, "log read returned nothing usable; backing off");
                s.read_backoff_until = now + self.cfg.retransmit_after_ms;
            }
            self.pump(conn);
            return;
        };
        let first = page.first().map_or(last, |e| e.id.seq);
        s.sending(&stream, first, last);
        let more = !plan::missing(&target, &s.base()).is_empty();
        self.send(conn, Frame::Page { events: page, more });
        self.pump(conn);
    }

    /// The driver's answer to [`Output::ReadLog`] when reading the local log failed. The stream
    /// is no longer being read for that peer; reads for it resume after a backoff that doubles
    /// with each failure in a row (from `retransmit_after_ms`, at most 32 times that), and the
    /// failure shows in [`crate::PeerStatus`] until a read succeeds.
    pub fn handle_log_read_failed(&mut self, read: ReadId, reason: &str, now: u64) {
        let now = self.tick(now);
        let Some((conn, stream, from)) = self.reads.remove(&read) else {
            return;
        };
        let Some(s) = self.sessions.get_mut(&conn) else {
            return;
        };
        if s.reading.get(&stream).map(|r| r.0) != Some(read) {
            return;
        }
        s.reading.remove(&stream);
        s.read_failures = s.read_failures.saturating_add(1);
        s.read_error = Some(reason.to_owned());
        let shift = s.read_failures.saturating_sub(1).min(5);
        let wait = self.cfg.retransmit_after_ms.max(1) << shift;
        s.read_backoff_until = now + wait;
        tracing::warn!(
            conn = conn.0,
            %stream,
            from,
            failures = s.read_failures,
            retry_in_ms = wait,
            %reason,
            "log read failed; retrying after a backoff"
        );
    }
}
