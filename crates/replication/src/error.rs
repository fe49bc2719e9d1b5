//! The crate's error type: misuse of the engine API by its driver. Problems caused by peers are
//! not errors: they close the offending connection with a reason code (see `Output::Close`).

use parkmesh_protocol::{EventId, StreamId};

/// Errors returned by [`crate::Engine`] inputs when the driver breaks the API contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplicationError {
    /// A local commit contained an event of another stream than this node's own.
    #[error("local commit of event {id} which is not of this node's stream {own}")]
    ForeignLocalCommit {
        /// The offending event.
        id: EventId,
        /// This node's own stream.
        own: StreamId,
    },
    /// A local commit skipped or repeated a sequence number.
    #[error("local commit of event {id} does not follow seq {head} of this node's stream")]
    NonContiguousCommit {
        /// The offending event.
        id: EventId,
        /// The stream's head before it.
        head: u64,
    },
}
