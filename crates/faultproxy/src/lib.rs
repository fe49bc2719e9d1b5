//! A TCP proxy that stands for a real site link between two centrals in tests and benchmarks:
//! it forwards one listening port to an upstream address and, changeable at any time, adds
//! one-way latency with jitter, caps the bandwidth of each direction, stalls (accepts and holds
//! everything, forwarding nothing: a blackhole), cuts every connection every N seconds, or kills
//! one direction only (its bytes are read and dropped: a half-open link).
//!
//! It runs its own small tokio runtime on a thread of its own, so synchronous tests and the
//! benchmark driver use it through plain method calls ([`Proxy::start`], [`Proxy::set`],
//! [`Proxy::stats`]); it only ever binds and connects to the addresses it is given.
//!
//! The link model, per direction: bytes are read in chunks of at most 20 ms of the capped rate;
//! a chunk leaves the bottleneck when the previous one has ( `len × 8 / rate` later, so a
//! backlog waits in the sender's socket buffers as it would in front of a slow uplink), then
//! arrives `delay + jitter` later, never before the chunk ahead of it (TCP keeps order). A stall
//! stops reading and delivering (held bytes are delivered when it clears, as TCP's retransmits
//! would after a blackhole) and holds new connections before they reach the upstream. A killed
//! direction drops what it reads on every connection that is open while the kill is in force,
//! and keeps dropping on those connections afterwards (their byte stream has a hole).

mod faults;
mod link;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::faults::{Counters, Shared};
pub use crate::faults::{Dir, Faults, Stats};

/// A running proxy; stops (closing every connection) when dropped.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    /// Listens on `listen` (port 0 picks a free one) and forwards to `upstream` with `faults`.
    pub fn start(
        listen: SocketAddr,
        upstream: SocketAddr,
        faults: Faults,
    ) -> std::io::Result<Self> {
        let std_listener = std::net::TcpListener::bind(listen)?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let shared = Arc::new(Shared {
            faults: watch::Sender::new(faults),
            cut: watch::Sender::new(0),
            counters: Counters::default(),
            upstream: Mutex::new(upstream),
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let task_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("faultproxy-{}", addr.port()))
            .spawn(move || {
                rt.block_on(async move {
                    match tokio::net::TcpListener::from_std(std_listener) {
                        Ok(listener) => link::serve(listener, task_shared, stopped).await,
                        Err(e) => tracing::error!(error = %e, "fault proxy cannot listen"),
                    }
                });
            })?;
        Ok(Self {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address to dial instead of the upstream.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The faults in force.
    pub fn faults(&self) -> Faults {
        self.shared.faults.borrow().clone()
    }

    /// Replaces the faults; open connections follow at once.
    pub fn set(&self, faults: Faults) {
        self.shared.faults.send_replace(faults);
    }

    /// Changes some of the faults.
    pub fn update(&self, f: impl FnOnce(&mut Faults)) {
        self.shared.faults.send_modify(f);
    }

    /// Closes every open connection now (new ones are accepted as usual).
    pub fn cut(&self) {
        self.shared.cut.send_modify(|n| *n += 1);
        self.shared.counters.cuts.fetch_add(1, Ordering::Relaxed);
    }

    /// Points new connections at another upstream (open ones keep theirs).
    pub fn set_upstream(&self, upstream: SocketAddr) {
        if let Ok(mut u) = self.shared.upstream.lock() {
            *u = upstream;
        }
    }

    /// Bytes and connections so far.
    pub fn stats(&self) -> Stats {
        let c = &self.shared.counters;
        Stats {
            up_bytes: c.bytes[0].load(Ordering::Relaxed),
            down_bytes: c.bytes[1].load(Ordering::Relaxed),
            dropped_bytes: c.dropped.load(Ordering::Relaxed),
            connections: c.connections.load(Ordering::Relaxed),
            cuts: c.cuts.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
