//! [`LinkConfig`]: the limits every mesh connection runs with.

use std::time::Duration;

/// Limits of every mesh connection.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// Largest frame or message accepted (bytes); a larger one closes the connection.
    pub max_frame: usize,
    /// Commands queued per connection before the driver must treat the peer as slow.
    pub queue: usize,
    /// Time allowed for TCP connect plus WebSocket handshake.
    pub connect_timeout: Duration,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            max_frame: 4 << 20,
            queue: 1024,
            connect_timeout: Duration::from_secs(5),
        }
    }
}
