//! parkmesh-replication: the sans-IO sync engine of the mesh (the `quinn-proto` of parkmesh).
//!
//! One [`Engine`] per central replicates its event log with every peer over any number of
//! connections. It does no IO — no sockets, no clock, no database, no randomness — and does not
//! own the log: the driver (the `transport`/`manager` crates, or the simulation in `tests/`)
//! feeds it inputs with the current monotonic time and carries out its [`Output`]s: frames to
//! send, log reads to answer, received batches to persist. See [`Engine`] for the call order.
//!
//! Per connection: `Hello` both ways → HMAC proof both ways (refusals close with a
//! [`parkmesh_protocol::CloseCode`]) → version vectors both ways → each side streams what the
//! other lacks of every stream, in bounded pages, oldest first → own events pushed live as they
//! commit, other origins' events relayed after `relay_delay_ms` if the peer has not acknowledged
//! them → acks carry the receiver's vector. Received events are deduplicated on
//! `(stream, seq)` and released to the log only when they extend the contiguous prefix.
//!
//! # Layout
//! - `engine`: [`Engine`], inputs, outputs, timers; `handshake`: hello/auth/tie-break;
//! - `session`: per-connection state; `inbox`: dedup, gaps, the single outstanding `Apply`;
//! - `plan`: pure planners (missing ranges, read plans, lag); `status`: [`Status`] snapshot;
//! - `pace`: a connection's measured round trip and delivery rate, its in-flight window and
//!   retransmit timeout;
//! - `config`: [`EngineConfig`] and its defaults; `output`: [`Output`] and handles;
//! - `error`: [`ReplicationError`].
//!
//! Depends only on `parkmesh-protocol` (and serde/thiserror/tracing); `storage` and `transport`
//! sit above it.
#![warn(missing_docs)]

mod config;
mod engine;
mod error;
mod handshake;
mod inbox;
mod output;
mod pace;
mod plan;
mod session;
mod status;

pub use crate::config::{
    DEFAULT_ACK_INTERVAL_MS, DEFAULT_DEAD_AFTER_MS, DEFAULT_GAP_TIMEOUT_MS,
    DEFAULT_HANDSHAKE_TIMEOUT_MS, DEFAULT_MAX_BUFFERED_EVENTS, DEFAULT_MAX_INFLIGHT_PAGES,
    DEFAULT_MAX_INFLIGHT_READS, DEFAULT_PAGE_SIZE, DEFAULT_PING_INTERVAL_MS,
    DEFAULT_RELAY_DELAY_MS, DEFAULT_RETRANSMIT_AFTER_MS, EngineConfig,
};
pub use crate::engine::Engine;
pub use crate::error::ReplicationError;
pub use crate::output::{ConnId, Direction, Output, ReadId};
pub use crate::plan::lag;
pub use crate::status::{PeerStatus, Status};
