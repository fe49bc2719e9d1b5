//! The proxy's vocabulary and shared state: a direction of the link, the faults in force, the
//! counters behind [`Stats`], and the state that the proxy's tasks and its handle share.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use tokio::sync::watch;

/// One direction of the proxied link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// From the side that connected (the dialler) to the upstream.
    Up,
    /// From the upstream back to the dialler.
    Down,
}

impl Dir {
    pub(crate) fn index(self) -> usize {
        match self {
            Self::Up => 0,
            Self::Down => 1,
        }
    }
}

/// The faults in force. The default forwards everything at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// Added one-way delay (the round trip grows by twice this).
    pub delay: Duration,
    /// Extra one-way delay drawn uniformly from `0..=jitter` per chunk (order is kept).
    pub jitter: Duration,
    /// Bandwidth cap of [`Dir::Up`] in bits per second; `None` is uncapped.
    pub up_bps: Option<u64>,
    /// Bandwidth cap of [`Dir::Down`] in bits per second; `None` is uncapped.
    pub down_bps: Option<u64>,
    /// Blackhole: accept, hold and forward nothing, in either direction.
    pub stall: bool,
    /// Close every connection this often.
    pub cut_every: Option<Duration>,
    /// Drop the bytes of [`Dir::Up`] (a half-open link).
    pub kill_up: bool,
    /// Drop the bytes of [`Dir::Down`] (a half-open link).
    pub kill_down: bool,
}

impl Faults {
    /// A link with this round trip (split evenly between the directions) and this bandwidth in
    /// each direction.
    pub fn wan(rtt: Duration, bps: u64) -> Self {
        Self {
            delay: rtt / 2,
            up_bps: Some(bps),
            down_bps: Some(bps),
            ..Self::default()
        }
    }

    pub(crate) fn rate(&self, dir: Dir) -> Option<u64> {
        match dir {
            Dir::Up => self.up_bps,
            Dir::Down => self.down_bps,
        }
        .filter(|&r| r > 0)
    }

    pub(crate) fn killed(&self, dir: Dir) -> bool {
        match dir {
            Dir::Up => self.kill_up,
            Dir::Down => self.kill_down,
        }
    }
}

/// What went through the proxy since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Bytes delivered from the dialler to the upstream.
    pub up_bytes: u64,
    /// Bytes delivered from the upstream to the dialler.
    pub down_bytes: u64,
    /// Bytes read and dropped by a killed direction.
    pub dropped_bytes: u64,
    /// Connections accepted.
    pub connections: u64,
    /// Times every open connection was cut (by [`Proxy::cut`](crate::Proxy::cut) or `cut_every`).
    pub cuts: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) bytes: [AtomicU64; 2],
    pub(crate) dropped: AtomicU64,
    pub(crate) connections: AtomicU64,
    pub(crate) cuts: AtomicU64,
}

/// State shared by the proxy's tasks and its handle.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) faults: watch::Sender<Faults>,
    /// Bumped to cut every open connection.
    pub(crate) cut: watch::Sender<u64>,
    pub(crate) counters: Counters,
    pub(crate) upstream: Mutex<SocketAddr>,
}
