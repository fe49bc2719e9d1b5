//! The mesh status snapshot behind `GET /api/p2p/status`.

use parkmesh_config::Central;
use parkmesh_protocol::StreamId;

/// State of one configured peer.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerStatus {
    /// Peer id.
    pub peer_id: String,
    /// Peer address as configured.
    pub peer_ip: String,
    /// Peer mesh port.
    pub peer_port: u16,
    /// Whether an authenticated connection is up.
    pub connected: bool,
    /// `connected`, `connecting` or `disconnected`.
    pub status: &'static str,
    /// Last time a pong (or any frame) arrived from the peer (ms since epoch).
    pub last_ping_ms: Option<i64>,
    /// Last measured round-trip time in milliseconds.
    pub rtt_ms: Option<f64>,
    /// Events this central holds that the peer has not acknowledged.
    pub lag_events: u64,
    /// Per stream, events the peer has not acknowledged.
    pub lag_by_stream: Vec<(StreamId, u64)>,
    /// Per stream, the highest seq the peer acknowledged holding.
    pub acked: Vec<(StreamId, u64)>,
    /// Catch-up pages still flow between the two.
    pub catching_up: bool,
    /// Reads of the local log for this peer that failed in a row (retried with a backoff).
    pub read_failures: u32,
    /// Why the last of those reads failed.
    pub read_error: Option<String>,
    /// Events the peer holds (as far as this central knows) that this central lacks.
    pub catchup_remaining: u64,
    /// Mesh frames and bytes received from and sent to the peer since start.
    pub traffic: Traffic,
    /// The peer's software version from its last handshake (`None` before one, or from a
    /// build that does not announce it).
    pub version: Option<String>,
    /// Events sent to the peer a second time on the same connection, since start.
    pub resent_events: u64,
    /// Times no ack came from the peer within the retransmit timeout, since start.
    pub retransmit_timeouts: u64,
    /// Events the link to the peer may have in flight now (follows its measured round trip
    /// and delivery rate).
    pub window_events: Option<u64>,
}

/// Mesh traffic with one peer since start (frames and their bytes on the wire, compressed
/// when the link agreed on `deflate`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Frames received.
    pub frames_in: u64,
    /// Frames sent.
    pub frames_out: u64,
}

impl PeerStatus {
    /// A configured peer with no connection.
    pub fn disconnected(peer: &Central) -> Self {
        Self {
            peer_id: peer.id.to_string(),
            peer_ip: peer.ip.to_string(),
            peer_port: peer.p2p_port,
            connected: false,
            status: "disconnected",
            last_ping_ms: None,
            rtt_ms: None,
            lag_events: 0,
            lag_by_stream: Vec::new(),
            acked: Vec::new(),
            catching_up: false,
            read_failures: 0,
            read_error: None,
            catchup_remaining: 0,
            traffic: Traffic::default(),
            version: None,
            resent_events: 0,
            retransmit_timeouts: 0,
            window_events: None,
        }
    }
}

/// A snapshot of the mesh.
#[derive(Debug, Clone, PartialEq)]
pub struct MeshStatus {
    /// This central's id.
    pub this_central: String,
    /// Whether the mesh is running.
    pub running: bool,
    /// No peers configured.
    pub standalone: bool,
    /// One entry per configured peer.
    pub peers: Vec<PeerStatus>,
    /// Frames sent to peers.
    pub messages_sent: u64,
    /// Frames received from peers.
    pub messages_received: u64,
    /// This central's version vector: per stream, the highest contiguous seq held.
    pub local: Vec<(StreamId, u64)>,
    /// Mesh connections this central refused before their handshake finished, by close code
    /// (`bad_auth`, `unknown_peer`, `timeout`, ...), since start.
    pub handshake_refusals: Vec<(String, u64)>,
}
