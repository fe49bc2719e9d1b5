//! The proxy's tasks: the accept loop, the periodic cutter, and per connection one pump per
//! direction (read, pace to the bandwidth cap, delay, deliver) under the faults in force.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::faults::{Dir, Faults, Shared};

/// Largest chunk read at once (also when no cap is set).
const MAX_CHUNK: usize = 16 * 1024;
/// Smallest chunk read at once under a cap.
const MIN_CHUNK: usize = 512;

pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) {
    tokio::spawn(cutter(shared.clone()));
    loop {
        tokio::select! {
            _ = &mut stop => break,
            res = listener.accept() => match res {
                Ok((tcp, _)) => {
                    shared.counters.connections.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(connection(tcp, shared.clone()));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "fault proxy accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
        }
    }
}

/// Cuts every connection each `cut_every`, re-reading the setting after every change.
async fn cutter(shared: Arc<Shared>) {
    let mut faults = shared.faults.subscribe();
    loop {
        let every = faults.borrow_and_update().cut_every;
        match every {
            Some(every) if !every.is_zero() => {
                tokio::select! {
                    () = tokio::time::sleep(every) => {
                        shared.cut.send_modify(|n| *n += 1);
                        shared.counters.cuts.fetch_add(1, Ordering::Relaxed);
                    }
                    changed = faults.changed() => if changed.is_err() { return },
                }
            }
            _ => {
                if faults.changed().await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Waits until no stall is in force.
async fn unstalled(faults: &mut watch::Receiver<Faults>) -> Result<(), watch::error::RecvError> {
    faults.wait_for(|f| !f.stall).await.map(|_| ())
}

async fn connection(client: TcpStream, shared: Arc<Shared>) {
    let mut cut = shared.cut.subscribe();
    cut.mark_unchanged();
    let mut faults = shared.faults.subscribe();
    let upstream = shared.upstream.lock().map(|u| *u).ok();
    let setup = async {
        unstalled(&mut faults).await.ok()?;
        TcpStream::connect(upstream?).await.ok()
    };
    let server = tokio::select! {
        s = setup => s,
        _ = cut.changed() => None,
    };
    let Some(server) = server else { return };
    let _ = (client.set_nodelay(true), server.set_nodelay(true));
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let up = pump(Dir::Up, cr, sw, shared.clone());
    let down = pump(Dir::Down, sr, cw, shared.clone());
    tokio::select! {
        _ = async { tokio::join!(up, down) } => {}
        _ = cut.changed() => {}
    }
}

/// One direction: a reader that paces and timestamps chunks, and a writer that delivers them.
async fn pump(dir: Dir, from: OwnedReadHalf, to: OwnedWriteHalf, shared: Arc<Shared>) {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::join!(
        read_side(dir, from, tx, shared.clone()),
        write_side(dir, to, rx, shared)
    );
}

/// A tiny xorshift for jitter (no dependency; quality is irrelevant here).
fn next_rand(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

async fn read_side(
    dir: Dir,
    mut from: OwnedReadHalf,
    tx: mpsc::UnboundedSender<(Instant, Vec<u8>)>,
    shared: Arc<Shared>,
) {
    let mut faults = shared.faults.subscribe();
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64 ^ u64::from(dir == Dir::Up);
    let mut next_free = Instant::now();
    let mut last_arrival = Instant::now();
    let mut poisoned = false;
    let mut buf = vec![0u8; MAX_CHUNK];
    loop {
        if unstalled(&mut faults).await.is_err() {
            return;
        }
        let f = faults.borrow().clone();
        let chunk = f.rate(dir).map_or(MAX_CHUNK, |bps| {
            usize::try_from(bps / 8 / 50)
                .unwrap_or(MAX_CHUNK)
                .clamp(MIN_CHUNK, MAX_CHUNK)
        });
        let n = match from.read(&mut buf[..chunk]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let f = faults.borrow().clone();
        if poisoned || f.killed(dir) {
            poisoned = true;
            shared
                .counters
                .dropped
                .fetch_add(n as u64, Ordering::Relaxed);
            continue;
        }
        let now = Instant::now();
        let departs = match f.rate(dir) {
            Some(bps) => {
                let on_wire = Duration::from_secs_f64(n as f64 * 8.0 / bps as f64);
                next_free = next_free.max(now) + on_wire;
                next_free
            }
            None => now,
        };
        let jitter = if f.jitter.is_zero() {
            Duration::ZERO
        } else {
            let max = u64::try_from(f.jitter.as_micros()).unwrap_or(u64::MAX);
            Duration::from_micros(next_rand(&mut rng) % max.saturating_add(1))
        };
        last_arrival = last_arrival.max(departs + f.delay + jitter);
        if tx.send((last_arrival, buf[..n].to_vec())).is_err() {
            return;
        }
        // Pace the reads: what the bottleneck has not sent yet stays in the sender's buffers.
        tokio::time::sleep_until(departs).await;
    }
}

async fn write_side(
    dir: Dir,
    mut to: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<(Instant, Vec<u8>)>,
    shared: Arc<Shared>,
) {
    let mut faults = shared.faults.subscribe();
    while let Some((at, bytes)) = rx.recv().await {
        tokio::time::sleep_until(at).await;
        if unstalled(&mut faults).await.is_err() || to.write_all(&bytes).await.is_err() {
            return;
        }
        shared.counters.bytes[dir.index()].fetch_add(bytes.len() as u64, Ordering::Relaxed);
    }
    let _ = to.shutdown().await;
}
