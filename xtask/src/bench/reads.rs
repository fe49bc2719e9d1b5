//! P17: the reads a dashboard polls, at a big site, answered by a real `central-server`.
//!
//! Two databases per binary measured:
//! - the dashboard: `inside` cars in the lot and `settled` settled sessions, every one posted
//!   through `POST /api/edge/event` (8 keep-alive connections); then `GET /api/parking/state`
//!   and `GET /api/parking/occupancy` with no lot configured, and occupancy again once an in-lot
//!   camera is configured (`POST /api/edge/sync-config`) and a third of the cars inside were
//!   seen there (`LOCATION_UPDATE`);
//! - the history: an original ParkAI database of `rows` sessions (P9's generator: a year of a
//!   site, plates back every few days, a tenth of the last sessions still inside, some corrected
//!   or deleted) brought in by `central-server import-parkai`, the bulk import the binary has
//!   (events, folds and projections as in normal operation, in one transaction); then
//!   `GET /api/parking/history?limit=50` and `?limit=50&search=` with a part of a plate that few
//!   sessions carry and with one that many carry.
//!
//! Every figure is a p50 and a p99 over `samples` requests on one keep-alive connection. With
//! `--reads-at REV`, the same run measures the central built at REV (release, in its own git
//! worktree) beside this checkout's.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::bail;
use serde_json::json;

use super::net::{Central, Http, entry, now_secs, post_each};

/// Heading of the section in `bench/RESULTS.md`.
pub(crate) const HEADING: &str = "## P17 — ";
/// Connections posting the dashboard's sessions.
const CLIENTS: u64 = 8;
/// The in-lot camera (and zone) of the dashboard with a lot.
const LOT: &str = "Bench lot";

/// The sizes of one P17 run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sizes {
    pub(crate) inside: u64,
    pub(crate) settled: u64,
    pub(crate) rows: u64,
    pub(crate) samples: usize,
}

/// One binary's figures: (p50, p99) in ms.
#[derive(Debug, Clone, Default)]
pub(crate) struct Figures {
    pub(crate) label: String,
    state: (f64, f64),
    occupancy: (f64, f64),
    occupancy_lot: (f64, f64),
    page: (f64, f64),
    search_rare: (f64, f64),
    search_common: (f64, f64),
    rows_common: usize,
    import_secs: f64,
    /// Bytes of the read indexes (`history_plates*`, `history_located`) per session.
    index_bytes: f64,
}

fn gate(kind: &str, camera: i64, plate: &str) -> String {
    json!({ "type": kind, "camera_id": camera, "camera_name": format!("bench-{camera}"), "camera_type": kind,
            "timestamp": now_secs(), "data": { "plate_text": plate, "confidence": 0.9, "source": "auto" } })
    .to_string()
}

fn seen_in_lot(plate: &str) -> String {
    json!({ "type": "LOCATION_UPDATE", "camera_id": 3, "camera_name": LOT, "camera_type": "PARKING_LOT",
            "timestamp": now_secs(), "data": { "plate_text": plate, "confidence": 0.9, "location": LOT } })
    .to_string()
}

/// (p50, p99) in ms of `samples` `GET path` on one connection; every answer must be a 200.
fn timed(port: u16, path: &str, samples: usize) -> anyhow::Result<(f64, f64)> {
    let mut h = Http::connect(port)?;
    // One unmeasured request: the connection and the reader pool warm.
    h.call("GET", path, None)?;
    let mut ms = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        let (status, body) = h.call("GET", path, None)?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        if status != 200 {
            bail!("GET {path}: {status} {}", String::from_utf8_lossy(&body));
        }
    }
    Ok(super::p50_p99(ms))
}

/// The length of the JSON array `key` of `GET path`.
fn count(port: u16, path: &str, key: &str) -> anyhow::Result<usize> {
    let v = Http::connect(port)?.json("GET", path, None)?;
    Ok(v[key].as_array().map_or(0, Vec::len))
}

/// The dashboard figures of the central `bin`, in `dir`.
fn dashboard(bin: &Path, dir: &Path, s: Sizes, f: &mut Figures) -> anyhow::Result<()> {
    let mut c = Central::plan(bin, dir, "reads-dash", &[])?;
    c.start()?;
    let settled = s.settled;
    let inside = s.inside;
    println!("  posting {settled} settled sessions and {inside} cars inside");
    post_each(c.api, 0..settled, CLIENTS, |i| {
        let plate = format!("51A{i:06}");
        vec![entry(&plate, 1), gate("EXIT", 2, &plate)]
    })?;
    post_each(c.api, 0..inside, CLIENTS, |i| {
        vec![entry(&format!("30K{i:06}"), 1)]
    })?;
    let held = count(c.api, "/api/parking/state", "vehicles_in_parking")?;
    if held as u64 != inside {
        bail!("the state lists {held} cars inside, {inside} were posted");
    }
    f.state = timed(c.api, "/api/parking/state", s.samples)?;
    f.occupancy = timed(c.api, "/api/parking/occupancy", s.samples)?;
    let cams = json!({ "edge_cameras": { "3": { "name": LOT, "ip": "", "camera_type": "PARKING_LOT",
                        "parking_lot_capacity": inside } } });
    let (status, body) =
        Http::connect(c.api)?.call("POST", "/api/edge/sync-config", Some(&cams.to_string()))?;
    if status != 200 {
        bail!("sync-config: {status} {}", String::from_utf8_lossy(&body));
    }
    post_each(c.api, 0..inside / 3, CLIENTS, |i| {
        vec![seen_in_lot(&format!("30K{:06}", i * 3))]
    })?;
    let lots = Http::connect(c.api)?.json("GET", "/api/parking/occupancy", None)?;
    let seen = lots["parking_lots"][0]["occupancy"]["occupied"]
        .as_u64()
        .unwrap_or(0);
    if seen != inside / 3 {
        bail!("the lot holds {seen} cars, {} were seen there", inside / 3);
    }
    f.occupancy_lot = timed(c.api, "/api/parking/occupancy", s.samples)?;
    c.kill();
    Ok(())
}

/// The history figures of the central `bin` over an import of `original`, in `dir`.
fn history(
    bin: &Path,
    dir: &Path,
    original: &Path,
    s: Sizes,
    f: &mut Figures,
) -> anyhow::Result<()> {
    let mut c = Central::plan(bin, dir, "reads-hist", &[])?;
    println!("  importing {} sessions", s.rows);
    let this = json!({ "id": c.id, "ip": "127.0.0.1", "p2p_port": c.p2p, "api_port": c.api });
    let data_dir = dir.join(&c.id).join("db");
    f.import_secs = super::import::run(bin, dir, this, &data_dir, original)?.0;
    c.start()?;
    let page = "/api/parking/history?limit=50";
    if count(c.api, page, "history")? != 50 {
        bail!("the history page is not full");
    }
    f.page = timed(c.api, page, s.samples)?;
    // Plates of P9's generator: two digits, a letter, five digits (mostly zeros); "7C00001"
    // is carried by nine plates (the two digits ending in 7), "A0" by every plate of the letter
    // A (about one in 26).
    let rare = "/api/parking/history?limit=50&search=7C00001";
    let common = "/api/parking/history?limit=50&search=A0";
    if count(c.api, rare, "history")? == 0 {
        bail!("the rare search finds nothing");
    }
    f.rows_common = count(c.api, common, "history")?;
    f.search_rare = timed(c.api, rare, s.samples)?;
    f.search_common = timed(c.api, common, s.samples)?;
    c.kill();
    let db = dir.join(&c.id).join("db").join("central.db");
    let conn =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let bytes: i64 = conn.query_row(
        "SELECT COALESCE(SUM(pgsize), 0) FROM dbstat
          WHERE name LIKE 'history_plates%' OR name = 'history_located'",
        [],
        |r| r.get(0),
    )?;
    f.index_bytes = bytes as f64 / s.rows as f64;
    Ok(())
}

/// Measures the central `bin` (named `label`) in a fresh folder under `tmp`.
pub(crate) fn measure(
    label: &str,
    bin: &Path,
    tmp: &Path,
    original: &Path,
    s: Sizes,
) -> anyhow::Result<Figures> {
    let dir = tmp.join(label);
    std::fs::create_dir_all(&dir)?;
    let mut f = Figures {
        label: label.to_owned(),
        ..Figures::default()
    };
    println!("P17 at {label}");
    dashboard(bin, &dir, s, &mut f)?;
    history(bin, &dir, original, s, &mut f)?;
    // The data of one binary is not needed by the next.
    let _ = std::fs::remove_dir_all(&dir);
    Ok(f)
}

/// Generates P9's original database of `rows` sessions under `tmp`.
pub(crate) fn original(tmp: &Path, rows: u64) -> anyhow::Result<PathBuf> {
    let path = tmp.join("reads-original.db");
    println!("  generating an original database of {rows} sessions");
    super::import::generate(&path, rows)?;
    Ok(path)
}

/// Builds `central-server` in release at `rev` in a git worktree of its own
/// (`target/compat/<commit>/src`) and a target folder of its own
/// (`target/compat/<commit>/release`: the workspace crates of two checkouts share their build
/// hashes, so one target folder would mix them), and keeps the binary as
/// `target/compat/<commit>/central-server` for the next run.
pub(crate) fn build_at(root: &Path, rev: &str) -> anyhow::Result<PathBuf> {
    let commit = crate::compat::resolve(root, rev)?;
    let short = &commit[..commit.len().min(12)];
    let dir = root.join("target/compat").join(short);
    let kept = dir.join("central-server");
    if kept.is_file() {
        return Ok(kept);
    }
    let src = crate::compat::checkout(root, &commit)?;
    let target = dir.join("release");
    println!(
        "building central-server (release) at {short} in {}",
        target.display()
    );
    let status = crate::cargo::cargo(&src)
        .args(["build", "--release", "-p", "central-server"])
        .env("CARGO_TARGET_DIR", &target)
        .status()?;
    if !status.success() {
        bail!("building central-server at {short} failed");
    }
    std::fs::copy(target.join("release/central-server"), &kept)?;
    Ok(kept)
}

fn ms((p50, p99): (f64, f64)) -> String {
    format!("{p50:.1} / {p99:.1}")
}

/// The P17 section of `bench/RESULTS.md`; `figures` are this checkout's first.
pub(crate) fn section(s: Sizes, figures: &[Figures], stamp: &str) -> String {
    let head: Vec<String> = figures.iter().map(|f| f.label.clone()).collect();
    let row = |name: &str, target: &str, get: &dyn Fn(&Figures) -> String| {
        let cells: Vec<String> = figures.iter().map(get).collect();
        format!("| {name} | {} | {target} |\n", cells.join(" | "))
    };
    let verdict = |ms: f64, target: f64| super::verdict(ms <= target);
    let now = &figures[0];
    let mut out = format!(
        "{HEADING}reads a dashboard polls, at a big site (`cargo xtask bench --reads-only`)\n\n\
         p50 / p99 in ms over {} requests each, one keep-alive connection.\n\n\
         | request | {} | target (p50) |\n|---|{}---|\n",
        s.samples,
        head.join(" | "),
        "---|".repeat(figures.len())
    );
    out += &row(
        &format!("`GET /api/parking/state`, {} inside", s.inside),
        &format!("≤ 10 ms: {}", verdict(now.state.0, 10.0)),
        &|f| ms(f.state),
    );
    out += &row(
        "`GET /api/parking/occupancy`, no lot configured",
        &format!("≤ 5 ms: {}", verdict(now.occupancy.0, 5.0)),
        &|f| ms(f.occupancy),
    );
    out += &row(
        &format!(
            "`GET /api/parking/occupancy`, one lot holding {} of them",
            s.inside / 3
        ),
        &format!("≤ 5 ms: {}", verdict(now.occupancy_lot.0, 5.0)),
        &|f| ms(f.occupancy_lot),
    );
    out += &row(
        &format!("`GET /api/parking/history?limit=50`, {} sessions", s.rows),
        &format!("≤ 20 ms: {}", verdict(now.page.0, 20.0)),
        &|f| ms(f.page),
    );
    out += &row(
        "`…&search=7C00001` (nine plates, ~45 sessions)",
        &format!("≤ 50 ms: {}", verdict(now.search_rare.0, 50.0)),
        &|f| ms(f.search_rare),
    );
    out += &row(
        "`…&search=A0` (one plate in 26)",
        &format!("≤ 50 ms: {}", verdict(now.search_common.0, 50.0)),
        &|f| format!("{} ({} rows)", ms(f.search_common), f.rows_common),
    );
    out += &row("import of the history (s)", "—", &|f| {
        format!("{:.0}", f.import_secs)
    });
    out += &row(
        "read indexes (`history_plates`, `history_located`), bytes per session (`dbstat`)",
        "~30–50 B",
        &|f| format!("{:.1}", f.index_bytes),
    );
    out += &format!(
        "\nThe dashboard: {} settled sessions and {} cars inside, every event posted through \
         `POST /api/edge/event`. The history: P9's original database of {} sessions brought in \
         with `central-server import-parkai` (the binary's bulk import: events, folds and \
         projections as in normal operation, in one transaction).\n{stamp}\n",
        s.settled, s.inside, s.rows
    );
    out
}
