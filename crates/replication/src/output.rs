//! What the engine asks its driver to do, and the handles the two share.

use parkmesh_protocol::{CentralId, CloseCode, Event, Frame, StreamId};

/// A connection handle chosen by the driver (unique for the engine's lifetime).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

/// A log read handle chosen by the engine, echoed back in [`crate::Engine::handle_log_read`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReadId(pub u64);

/// Who opened a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Direction {
    /// This node dialled `peer` (the id it expects to answer).
    Outbound {
        /// The peer that was dialled.
        peer: CentralId,
    },
    /// The peer dialled this node; its id is learnt from its `Hello`.
    Inbound,
}

/// One instruction for the driver, drained with [`crate::Engine::poll_output`] in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Encode `frame` and write it to `conn`.
    Send {
        /// The connection.
        conn: ConnId,
        /// The frame to send.
        frame: Frame,
    },
    /// Flush what was sent on `conn` (its `Close` frame was the last `Send`) and close the socket.
    /// The engine has already forgotten the connection.
    Close {
        /// The connection.
        conn: ConnId,
        /// Why (also sent to the peer).
        code: CloseCode,
        /// Detail (also sent to the peer).
        reason: String,
    },
    /// Read up to `limit` events of `stream` from the local log, starting at `from_seq`
    /// (ascending, contiguous), and answer with [`crate::Engine::handle_log_read`]. Every seq
    /// asked for is covered by the local vector, so the log holds it.
    ReadLog {
        /// Echo this back.
        read: ReadId,
        /// The connection the page is for (for logs and metrics only).
        conn: ConnId,
        /// The stream to read.
        stream: StreamId,
        /// First seq wanted.
        from_seq: u64,
        /// Maximum number of events.
        limit: usize,
    },
    /// Persist these received events — append to the log, update projections and the vector in
    /// ONE transaction — then call [`crate::Engine::handle_applied`] (or
    /// [`crate::Engine::handle_apply_failed`]). At most one `Apply` is outstanding at a time; the
    /// events are new, and per stream contiguous and in order, extending the local vector.
    Apply {
        /// The events, each extending its stream's contiguous prefix.
        events: Vec<Event>,
    },
    /// A peer finished the handshake on `conn`; replication with it starts.
    PeerUp {
        /// The connection.
        conn: ConnId,
        /// The authenticated peer.
        peer: CentralId,
        /// Its current incarnation.
        incarnation: u64,
        /// Its software version as its `Hello` announced it (`None` from builds that do not).
        version: Option<String>,
        /// The optional features both sides announced (`Hello.caps` of each, intersected), in
        /// this node's order. From the next `Send` on, the driver may use them on `conn`, and
        /// it must accept them from the peer.
        caps: Vec<String>,
    },
    /// An established peer connection ended (closed by either side or lost).
    PeerDown {
        /// The connection.
        conn: ConnId,
        /// The peer.
        peer: CentralId,
        /// The close code, when one was sent or received.
        code: Option<CloseCode>,
        /// Detail.
        reason: String,
    },
}
