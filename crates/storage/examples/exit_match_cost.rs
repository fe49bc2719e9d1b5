//! P16: what exit matching (`exit_match = "confusable"`) adds to an exit with 100 000 open
//! sessions.
//!
//! It opens a fresh [`Storage`] in a temporary directory, ingests `OPEN + 3 * K` entries of
//! distinct plates (`51A000000`, `51A000001`, ...; `WINDOW` in flight, so the writer
//! group-commits them), then ingests `3 * K` exits one at a time, interleaving three kinds so
//! that they share the machine's noise:
//!
//! - *exact*: the plate as it entered, `exit_match = "exact"` (the cost of an exit without
//!   matching);
//! - *exact, matching on*: the plate as it entered, `exit_match = "confusable"` (the check that
//!   the plate has an open session, which every exit now pays);
//! - *misread*: the plate's last look-alike digit read as its letter (`51A000001` → `51A00000I`),
//!   `exit_match = "confusable"`: no open session of its own, one candidate found through the
//!   index, matched and closed.
//!
//! Each exit's time is from the call to the answer (after `COMMIT`). It prints p50 and p99 of
//! each kind in ms and the p99 added by matching (misread minus exact). The open sessions are
//! `OPEN` when the exits end. Usage: `exit_match_cost [OPEN=100000] [K=1000] [WINDOW=64]`.

use std::time::Instant;

use parkmesh_parking::payload::{EntryPayload, ExitPayload};
use parkmesh_parking::plate::{CONFUSABLE, ExitMatch};
use parkmesh_protocol::CentralId;
use parkmesh_storage::{Ingested, Intent, Storage, StorageOptions};
use tokio::task::JoinSet;

type AnyError = Box<dyn std::error::Error + Send + Sync>;

/// The binary's allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const T0: i64 = 1_790_000_000_000;
const HOUR: i64 = 3_600_000;

fn plate(i: usize) -> String {
    format!("51A{i:06}")
}

/// `plate` with its last look-alike digit read as that digit's first letter, if it has one.
fn misread(plate: &str) -> Option<String> {
    let mut chars: Vec<char> = plate.chars().collect();
    let at = chars
        .iter()
        .rposition(|c| CONFUSABLE.iter().any(|(_, d)| d == c))?;
    let letter = CONFUSABLE.iter().find(|(_, d)| *d == chars[at])?.0;
    chars[at] = letter;
    Some(chars.into_iter().collect())
}

fn gate(plate: &str, at_ms: i64, camera: i64) -> EntryPayload {
    EntryPayload::read(plate, at_ms)
        .with_camera(camera, "Gate", if camera == 1 { "ENTRY" } else { "EXIT" })
        .with_read(0.9, "auto")
        .with_edge(&camera.to_string(), None)
}

/// One line of the report, on stdout.
#[allow(clippy::print_stdout)]
fn say(line: &str) {
    println!("{line}");
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() -> Result<(), AnyError> {
    let nums: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let open = nums.first().copied().unwrap_or(100_000);
    let k = nums.get(1).copied().unwrap_or(1_000).max(1);
    let window = nums.get(2).copied().unwrap_or(64).max(1);
    let dir = tempfile::tempdir()?;
    let s = Storage::open(StorageOptions {
        db_path: dir.path().join("central.db"),
        origin: CentralId::new("central-a")?,
        tz: jiff::tz::TimeZone::get("Asia/Ho_Chi_Minh")?,
    })
    .await?;
    // Plates whose exit may be misread: every one with a look-alike digit (all of them here).
    let total = open + 3 * k;
    let started = Instant::now();
    let mut inflight = JoinSet::new();
    for i in 0..total {
        if inflight.len() >= window
            && let Some(done) = inflight.join_next().await
        {
            done??;
        }
        let s = s.clone();
        let payload = gate(&plate(i), T0 + i as i64, 1);
        inflight.spawn(async move {
            s.ingest(Intent::Entry {
                payload,
                request_key: None,
            })
            .await
        });
    }
    while let Some(done) = inflight.join_next().await {
        done??;
    }
    say(&format!(
        "{total} entries in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    let mut times: [Vec<f64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for n in 0..k {
        for (kind, times) in times.iter_mut().enumerate() {
            let i = 3 * n + kind;
            let real = plate(i);
            let (read, matching) = match kind {
                0 => (real.clone(), ExitMatch::Exact),
                1 => (real.clone(), ExitMatch::Confusable),
                _ => (
                    misread(&real).ok_or("no look-alike digit")?,
                    ExitMatch::Confusable,
                ),
            };
            let intent = Intent::Exit {
                payload: ExitPayload::at_gate(gate(&read, T0 + 2 * HOUR + i as i64, 2), None),
                matching,
                request_key: None,
            };
            let t = Instant::now();
            let out = s.ingest(intent).await?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            let Ingested::Stored {
                session: Some(row), ..
            } = out
            else {
                return Err("an exit stored no session".into());
            };
            if row.plate_id != real || row.status != "OUT" {
                return Err(format!("exit {read} closed {} ({})", row.plate_id, row.status).into());
            }
        }
    }
    let names = ["exact", "exact, matching on", "misread, matched"];
    let mut p99 = [0.0; 3];
    for (kind, v) in times.iter_mut().enumerate() {
        let p50 = pct(v, 0.50);
        p99[kind] = pct(v, 0.99);
        say(&format!(
            "{}: p50 {p50:.3} ms, p99 {:.3} ms ({} exits)",
            names[kind],
            p99[kind],
            v.len()
        ));
    }
    say(&format!(
        "added by matching at p99: misread {:.3} ms, exact with matching on {:.3} ms ({open} open sessions at the end)",
        p99[2] - p99[0],
        p99[1] - p99[0]
    ));
    Ok(())
}
