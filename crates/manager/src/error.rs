//! [`ManagerError`], the one error type of the manager.

use parkmesh_storage::StorageError;

/// Errors of the manager.
#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    /// The new configuration is invalid or could not be saved.
    #[error(transparent)]
    Config(#[from] parkmesh_config::ConfigError),
    /// The storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The mesh port could not be bound.
    #[error("cannot listen for peers on {addr}: {reason}")]
    Bind {
        /// Address.
        addr: String,
        /// Cause.
        reason: String,
    },
    /// The configuration tries to change this central's id while it runs.
    #[error(
        "this_central.id cannot change while the central runs (from {from:?} to {to:?}); restart with a new data_dir"
    )]
    IdChange {
        /// Current id.
        from: String,
        /// Requested id.
        to: String,
    },
    /// The named peer is not configured.
    #[error("unknown peer {0:?}")]
    UnknownPeer(String),
    /// The peer is configured but did not answer.
    #[error("peer {0:?} is not connected or did not answer; it may be offline")]
    NotConnected(String),
    /// The mesh is stopped.
    #[error("the mesh is stopped")]
    Stopped,
    /// The TLS files in the configuration cannot be used.
    #[error(transparent)]
    Tls(#[from] parkmesh_transport::TransportError),
}
