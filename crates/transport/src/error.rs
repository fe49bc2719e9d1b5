//! [`TransportError`], the one error type of the transport.

/// Errors of the transport.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Binding, accepting or connecting failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The WebSocket handshake failed.
    #[error("websocket handshake with {addr} failed: {reason}")]
    Handshake {
        /// Remote address.
        addr: String,
        /// Cause.
        reason: String,
    },
    /// Connecting took too long.
    #[error("connecting to {0} timed out")]
    Timeout(String),
    /// A TLS certificate, key or CA file cannot be used.
    #[error("TLS file {file}: {reason}")]
    Tls {
        /// The file.
        file: String,
        /// What is wrong with it.
        reason: String,
    },
}
