//! Measures the storage writer's per-event cost on its two hot paths.
//!
//! It opens a fresh [`Storage`] in a temporary directory and (a) ingests `N` local ENTRY intents
//! and then `N` EXIT intents for `N` distinct plates through [`Storage::ingest`], shaped like
//! the HTTP edge path (edge event ids, request keys, a stored outcome per request) with `WINDOW` requests in flight
//! so that the writer group-commits them; then (b), in a second fresh storage, applies `N`
//! remote ENTRY events and `N` remote EXIT events of another central's stream through
//! [`Storage::apply_remote`] in batches of `BATCH`, the way the mesh applies a catch-up. It
//! prints events per second for each phase. Wall-clock figures are noisy on a shared machine;
//! for repeatable figures count instructions of the writer alone with callgrind, e.g.
//!
//! ```text
//! cargo build --release -p parkmesh-storage --example writer_cost
//! valgrind --tool=callgrind --toggle-collect='parkmesh_storage::writer::Writer::run' \
//!     target/release/examples/writer_cost --only local 2000
//! ```
//!
//! and divide the reported `Collected` instructions by the number of events (`2 * N`). It runs
//! on mimalloc, the allocator `central-server` ships with. (Only the
//! writer thread's loop is counted; `run_batch` is inlined into it. The local phase's batching
//! depends on thread timing, so its count varies by about 1%.)
//!
//! `--aged K` measures instead the cost in a plate's old age: it first gives `WINDOW` plates `K`
//! earlier sessions each (replicated events of another central, applied in batches of `BATCH`),
//! then ingests `N` local events on those plates, in rounds of one entry and then one exit per
//! plate. Count only the measured part with `--toggle-collect='parkmesh_storage::writer::Writer::local'`
//! (the history is written through the remote path), or subtract a `--prepare-only` run's
//! `Writer::run` count from the full one.
//!
//! Usage: `writer_cost [--only local|remote] [--aged K [--prepare-only]] [N=20000] [WINDOW=8]
//! [BATCH=500]`.

use std::time::Instant;

use parkmesh_parking::payload::{EntryPayload, ExitPayload, Payload};
use parkmesh_protocol::{CentralId, Event, EventId, Hlc};
use parkmesh_storage::{Intent, Storage, StorageOptions};
use tokio::task::JoinSet;

type AnyError = Box<dyn std::error::Error + Send + Sync>;

/// The binary's allocator, so that the count is the shipped writer's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const T0: i64 = 1_790_000_000_000;
const HOUR: i64 = 3_600_000;

struct Args {
    only: Option<String>,
    aged: Option<usize>,
    prepare_only: bool,
    n: usize,
    window: usize,
    batch: usize,
}

fn args() -> Result<Args, AnyError> {
    let mut only = None;
    let mut aged = None;
    let mut prepare_only = false;
    let mut nums = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        if a == "--only" {
            only = Some(it.next().ok_or("--only needs local or remote")?);
        } else if a == "--aged" {
            aged = Some(it.next().ok_or("--aged needs a count")?.parse()?);
        } else if a == "--prepare-only" {
            prepare_only = true;
        } else {
            nums.push(a.parse::<usize>()?);
        }
    }
    let get = |i: usize, d: usize| nums.get(i).copied().unwrap_or(d).max(1);
    Ok(Args {
        only,
        aged,
        prepare_only,
        n: get(0, 20_000),
        window: get(1, 8),
        batch: get(2, 500),
    })
}

async fn open(dir: &std::path::Path, id: &str) -> Result<Storage, AnyError> {
    Ok(Storage::open(StorageOptions {
        db_path: dir.join("central.db"),
        origin: CentralId::new(id)?,
        tz: jiff::tz::TimeZone::get("Asia/Ho_Chi_Minh")?,
    })
    .await?)
}

fn plate(i: usize) -> String {
    format!("51A{i:06}")
}

fn gate(i: usize, at_ms: i64, edge_event_id: String, camera: i64) -> EntryPayload {
    gate_of(plate(i), at_ms, edge_event_id, camera)
}

fn gate_of(plate: String, at_ms: i64, edge_event_id: String, camera: i64) -> EntryPayload {
    let (name, camera_type) = if camera == 1 {
        ("Gate", "ENTRY")
    } else {
        ("Exit", "EXIT")
    };
    EntryPayload::read(&plate, at_ms)
        .with_camera(camera, name, camera_type)
        .with_read(0.9, "auto")
        .with_edge(&camera.to_string(), Some(edge_event_id))
}

fn entry(i: usize) -> EntryPayload {
    gate(i, T0 + i as i64, format!("e{i}"), 1)
}

fn exit(i: usize) -> ExitPayload {
    ExitPayload::at_gate(
        gate(i, T0 + HOUR + i as i64, format!("x{i}"), 2),
        Some(format!("e{i}")),
    )
}

/// Ingests `intents` with at most `window` in flight; returns events per second.
async fn ingest_all(s: &Storage, intents: Vec<Intent>, window: usize) -> Result<f64, AnyError> {
    let n = intents.len();
    let start = Instant::now();
    let mut inflight = JoinSet::new();
    for intent in intents {
        if inflight.len() >= window
            && let Some(done) = inflight.join_next().await
        {
            done??;
        }
        let s = s.clone();
        inflight.spawn(async move { s.ingest(intent).await });
    }
    while let Some(done) = inflight.join_next().await {
        done??;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

async fn local(a: &Args) -> Result<(), AnyError> {
    let dir = tempfile::tempdir()?;
    let s = open(dir.path(), "central-a").await?;
    let entries = (0..a.n)
        .map(|i| Intent::Entry {
            payload: entry(i),
            request_key: Some(format!("ENTRY:e{i}")),
        })
        .collect();
    let exits = (0..a.n)
        .map(|i| Intent::Exit {
            payload: exit(i),
            matching: parkmesh_parking::plate::ExitMatch::Exact,
            request_key: Some(format!("EXIT:x{i}")),
        })
        .collect();
    let start = Instant::now();
    let e = ingest_all(&s, entries, a.window).await?;
    let x = ingest_all(&s, exits, a.window).await?;
    let all = (2 * a.n) as f64 / start.elapsed().as_secs_f64();
    report("local", a, e, x, all);
    Ok(())
}

fn remote_event(
    seq: usize,
    payload: serde_json::Value,
    kind: parkmesh_protocol::EventKind,
) -> Result<Event, AnyError> {
    Ok(Event {
        id: EventId {
            origin: CentralId::new("central-b")?,
            incarnation: 7,
            seq: seq as u64,
        },
        hlc: Hlc {
            wall_ms: (T0 as u64) + seq as u64,
            counter: 0,
        },
        kind,
        payload,
        schema: 1,
    })
}

/// Applies `events` in batches of `batch`, one batch at a time; returns events per second.
async fn apply_all(s: &Storage, events: Vec<Event>, batch: usize) -> Result<f64, AnyError> {
    let n = events.len();
    let start = Instant::now();
    let mut it = events.into_iter().peekable();
    while it.peek().is_some() {
        let chunk: Vec<Event> = it.by_ref().take(batch).collect();
        let stored = s.apply_remote(chunk).await?;
        if stored.is_empty() {
            return Err("a batch stored nothing".into());
        }
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

async fn remote(a: &Args) -> Result<(), AnyError> {
    let dir = tempfile::tempdir()?;
    let s = open(dir.path(), "central-a").await?;
    let mut entries = Vec::with_capacity(a.n);
    let mut exits = Vec::with_capacity(a.n);
    for i in 0..a.n {
        entries.push(remote_event(
            i + 1,
            serde_json::to_value(entry(i))?,
            EntryPayload::KIND,
        )?);
        exits.push(remote_event(
            a.n + i + 1,
            serde_json::to_value(exit(i))?,
            ExitPayload::KIND,
        )?);
    }
    let start = Instant::now();
    let e = apply_all(&s, entries, a.batch).await?;
    let x = apply_all(&s, exits, a.batch).await?;
    let all = (2 * a.n) as f64 / start.elapsed().as_secs_f64();
    report("remote", a, e, x, all);
    Ok(())
}

/// `--aged K`: `window` plates with `K` earlier sessions each, then `n` local events on them.
async fn aged(a: &Args, k: usize) -> Result<(), AnyError> {
    let dir = tempfile::tempdir()?;
    let s = open(dir.path(), "central-a").await?;
    let plates: Vec<String> = (0..a.window).map(|p| format!("51B{p:06}")).collect();
    let mut history = Vec::with_capacity(2 * k * plates.len());
    let mut seq = 0;
    for n in 0..k {
        // Two hours per visit, ending before the measured ones start.
        let at = T0 - (k - n) as i64 * 2 * HOUR;
        for (p, plate) in plates.iter().enumerate() {
            let edge = format!("old-{p}-{n}");
            seq += 1;
            let entry = gate_of(plate.clone(), at, edge.clone(), 1);
            history.push(remote_event(
                seq,
                serde_json::to_value(entry)?,
                EntryPayload::KIND,
            )?);
            seq += 1;
            let exit = ExitPayload::at_gate(
                gate_of(plate.clone(), at + HOUR, format!("{edge}-x"), 2),
                Some(edge),
            );
            history.push(remote_event(
                seq,
                serde_json::to_value(exit)?,
                ExitPayload::KIND,
            )?);
        }
    }
    let events = history.len();
    let prepared = apply_all(&s, history, a.batch).await?;
    report_line(&format!(
        "aged   K={k} plates={}: {events} earlier events applied at {prepared:.0} events/s",
        plates.len()
    ));
    if a.prepare_only {
        return Ok(());
    }
    let rounds = (a.n / 2 / plates.len()).max(1);
    let start = Instant::now();
    for r in 0..rounds {
        let at = T0 + r as i64 * 2 * HOUR;
        let mut entries = Vec::new();
        let mut exits = Vec::new();
        for (p, plate) in plates.iter().enumerate() {
            let edge = format!("new-{p}-{r}");
            entries.push(Intent::Entry {
                payload: gate_of(plate.clone(), at, edge.clone(), 1),
                request_key: Some(format!("ENTRY:{edge}")),
            });
            exits.push(Intent::Exit {
                payload: ExitPayload::at_gate(
                    gate_of(plate.clone(), at + HOUR, format!("{edge}-x"), 2),
                    Some(edge.clone()),
                ),
                matching: parkmesh_parking::plate::ExitMatch::Exact,
                request_key: Some(format!("EXIT:{edge}-x")),
            });
        }
        ingest_all(&s, entries, a.window).await?;
        ingest_all(&s, exits, a.window).await?;
    }
    let n = 2 * rounds * plates.len();
    let rate = n as f64 / start.elapsed().as_secs_f64();
    report_line(&format!(
        "aged   K={k}: {n} local events on plates with {k} earlier sessions: {rate:.0} events/s"
    ));
    Ok(())
}

#[allow(clippy::print_stdout)]
fn report_line(line: &str) {
    println!("{line}");
}

#[allow(clippy::print_stdout)]
fn report(path: &str, a: &Args, entries: f64, exits: f64, all: f64) {
    println!(
        "{path:6} N={} window={} batch={}: entries {entries:.0}/s, exits {exits:.0}/s, all {all:.0} events/s",
        a.n, a.window, a.batch
    );
}

#[tokio::main]
async fn main() -> Result<(), AnyError> {
    let a = args()?;
    if let Some(k) = a.aged {
        return aged(&a, k).await;
    }
    if a.only.as_deref() != Some("remote") {
        local(&a).await?;
    }
    if a.only.as_deref() != Some("local") {
        remote(&a).await?;
    }
    Ok(())
}
