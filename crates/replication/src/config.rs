//! Engine configuration: identity, cluster secret, known peers and every bound and timer.
//!
//! Defaults come from named constants so a driver's config file can document them; tests build
//! configs with [`EngineConfig::new`] and adjust fields.

use std::collections::BTreeSet;

use parkmesh_protocol::{CentralId, StreamId};

/// Default number of events per catch-up page.
pub const DEFAULT_PAGE_SIZE: usize = 256;
/// Default number of pages a sender may have unacknowledged per peer.
pub const DEFAULT_MAX_INFLIGHT_PAGES: usize = 4;
/// Default number of concurrent log reads per peer.
pub const DEFAULT_MAX_INFLIGHT_READS: usize = 2;
/// Default cap on received events held in memory (out of order or waiting to be applied).
pub const DEFAULT_MAX_BUFFERED_EVENTS: usize = 8_192;
/// Default heartbeat period.
pub const DEFAULT_PING_INTERVAL_MS: u64 = 5_000;
/// Default silence after which a peer is declared dead.
pub const DEFAULT_DEAD_AFTER_MS: u64 = 15_000;
/// Default time allowed for the handshake.
pub const DEFAULT_HANDSHAKE_TIMEOUT_MS: u64 = 10_000;
/// Default time without ack progress after which unacknowledged events are resent.
pub const DEFAULT_RETRANSMIT_AFTER_MS: u64 = 3_000;
/// Default time a gap in received events may persist before the sender is asked to resend.
pub const DEFAULT_GAP_TIMEOUT_MS: u64 = 1_000;
/// Default period of the acks that tell a peer what moved beyond the streams it sent (own
/// events, other peers' streams: lag figures and relay hints). Prompt acks to a sender name only
/// what it sent; naming everything in each made acks grow with the size of the mesh (P14).
pub const DEFAULT_ACK_INTERVAL_MS: u64 = 250;
/// Default delay before events of other origins are relayed to a peer that has not acked them
/// (well above [`DEFAULT_ACK_INTERVAL_MS`], so that a peer that got them directly says so first).
pub const DEFAULT_RELAY_DELAY_MS: u64 = 1_000;

/// Configuration of one [`crate::Engine`].
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// This central's id.
    pub node_id: CentralId,
    /// This central's incarnation (chosen when its database was created).
    pub incarnation: u64,
    /// The cluster secret both sides prove knowledge of in the handshake.
    pub cluster_secret: Vec<u8>,
    /// Ids of the peers this node accepts (and, for those with a higher id, dials).
    pub peers: BTreeSet<CentralId>,
    /// Optional protocol features advertised in `Hello.caps`.
    pub caps: Vec<String>,
    /// The software version announced in `Hello.version` (defaults to this process's
    /// [`parkmesh_protocol::build_info`]).
    pub software_version: Option<String>,
    /// Maximum events per `Page` and per log read.
    pub page_size: usize,
    /// Unacknowledged pages allowed per peer (the in-flight budget is this × `page_size` events).
    pub max_inflight_pages: usize,
    /// Log reads outstanding per peer.
    pub max_inflight_reads: usize,
    /// Received events held in memory, out of order or waiting to be applied.
    pub max_buffered_events: usize,
    /// Heartbeat period.
    pub ping_interval_ms: u64,
    /// A peer silent for this long is closed with `timeout`.
    pub dead_after_ms: u64,
    /// The handshake must finish within this time.
    pub handshake_timeout_ms: u64,
    /// Without ack progress for this long, unacknowledged events are resent.
    pub retransmit_after_ms: u64,
    /// A gap in received events older than this makes the node re-request from its sender.
    pub gap_timeout_ms: u64,
    /// Period of the acks that name everything that moved since a peer was last told (relay
    /// hints, lag figures); acks to a peer that sent events name only its streams.
    pub ack_interval_ms: u64,
    /// Events of other origins are relayed once they are this old here and the peer has not
    /// acknowledged them (0 relays at once). Own events are always pushed at once.
    pub relay_delay_ms: u64,
}

impl EngineConfig {
    /// A configuration with the default bounds and timers.
    pub fn new(
        node_id: CentralId,
        incarnation: u64,
        cluster_secret: impl Into<Vec<u8>>,
        peers: impl IntoIterator<Item = CentralId>,
    ) -> Self {
        Self {
            node_id,
            incarnation,
            cluster_secret: cluster_secret.into(),
            peers: peers.into_iter().collect(),
            caps: Vec::new(),
            software_version: Some(parkmesh_protocol::build_info().announced()),
            page_size: DEFAULT_PAGE_SIZE,
            max_inflight_pages: DEFAULT_MAX_INFLIGHT_PAGES,
            max_inflight_reads: DEFAULT_MAX_INFLIGHT_READS,
            max_buffered_events: DEFAULT_MAX_BUFFERED_EVENTS,
            ping_interval_ms: DEFAULT_PING_INTERVAL_MS,
            dead_after_ms: DEFAULT_DEAD_AFTER_MS,
            handshake_timeout_ms: DEFAULT_HANDSHAKE_TIMEOUT_MS,
            retransmit_after_ms: DEFAULT_RETRANSMIT_AFTER_MS,
            gap_timeout_ms: DEFAULT_GAP_TIMEOUT_MS,
            ack_interval_ms: DEFAULT_ACK_INTERVAL_MS,
            relay_delay_ms: DEFAULT_RELAY_DELAY_MS,
        }
    }

    /// This node's own stream.
    pub fn own_stream(&self) -> StreamId {
        StreamId {
            origin: self.node_id.clone(),
            incarnation: self.incarnation,
        }
    }

    /// Whether this node should dial `peer` (the lower id dials; the higher one only listens).
    pub fn dials(&self, peer: &CentralId) -> bool {
        self.node_id < *peer
    }

    /// The per-peer budget of unacknowledged events.
    pub(crate) fn inflight_budget(&self) -> u64 {
        (self.page_size.max(1) * self.max_inflight_pages.max(1)) as u64
    }
}
