//! P12: bytes on disk per settled session at every central. Two real `central-server`
//! processes, peered; `sessions` sessions (an entry and its exit each) posted through
//! `POST /api/edge/event`, half at each central, from 8 keep-alive connections per central; once
//! both hold every event the centrals stop and SQLite's `dbstat` gives the bytes of every table
//! and index of each data file. The remembered edge-request answers (`edge_requests`, deleted
//! after three days) are left out, so the figure is the steady state: the log, its projections
//! and their indexes.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::json;

use super::net::{Central, entry, now_secs, wait_for};

/// Heading of the section in `bench/RESULTS.md`.
pub(crate) const HEADING: &str = "## P12 — ";
/// The target: bytes per settled session, at each central.
const TARGET: f64 = 700.0;
/// Connections per central posting sessions.
const CLIENTS: u64 = 8;

/// What one central's file holds: bytes per table or index (edge requests left out), in total.
pub(crate) struct FileSize {
    id: String,
    by_name: BTreeMap<String, u64>,
    total: u64,
}

/// The exit of `plate` at gate camera 2.
fn exit(plate: &str) -> String {
    json!({ "type": "EXIT", "camera_id": 2, "camera_name": "bench-exit", "camera_type": "EXIT",
            "timestamp": now_secs(), "data": { "plate_text": plate, "confidence": 0.9, "source": "auto" } })
    .to_string()
}

/// Posts sessions `from..to` (plate `S{i}`) to the central on `port`, one connection per client.
fn post(port: u16, from: u64, to: u64) -> anyhow::Result<()> {
    super::net::post_each(port, from..to, CLIENTS, |i| {
        let plate = format!("S{i:09}");
        vec![entry(&plate, 1), exit(&plate)]
    })
}

/// Bytes per table and index of the database file at `db` (`dbstat`), edge requests left out.
fn file_size(id: &str, db: &Path) -> anyhow::Result<FileSize> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut stmt = conn.prepare(
        "SELECT d.name, SUM(d.pgsize) FROM dbstat d
           LEFT JOIN sqlite_schema s ON s.name = d.name
          WHERE COALESCE(s.tbl_name, d.name) != 'edge_requests'
          GROUP BY d.name",
    )?;
    let by_name: BTreeMap<String, u64> = stmt
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
        })?
        .collect::<Result<_, _>>()?;
    let total = by_name.values().sum();
    Ok(FileSize {
        id: id.to_owned(),
        by_name,
        total,
    })
}

/// Runs P12 with `sessions` sessions; returns each central's file size.
pub(crate) fn measure(bin: &Path, dir: &Path, sessions: u64) -> anyhow::Result<Vec<FileSize>> {
    let mut a = Central::plan(bin, dir, "size-a", &[])?;
    let mut b = Central::plan(bin, dir, "size-b", &[a.peer_tuple()])?;
    a.set_peers(&[b.peer_tuple()])?;
    a.start()?;
    b.start()?;
    wait_for(
        "the two centrals to connect",
        Duration::from_secs(60),
        || a.connected_peers() >= 1,
    )?;
    let half = sessions / 2;
    let (pa, pb) = (a.api, b.api);
    let ta = std::thread::spawn(move || post(pa, 0, half));
    let tb = std::thread::spawn(move || post(pb, half, sessions));
    ta.join()
        .map_err(|_| anyhow::anyhow!("poster panicked"))??;
    tb.join()
        .map_err(|_| anyhow::anyhow!("poster panicked"))??;
    let total = 2 * sessions;
    wait_for(
        "both centrals to hold every event",
        Duration::from_secs(600),
        || a.held().unwrap_or(0) >= total && b.held().unwrap_or(0) >= total,
    )?;
    a.kill();
    b.kill();
    let mut out = Vec::new();
    for c in [&a, &b] {
        let db = c.config.with_file_name("db").join("central.db");
        out.push(file_size(&c.id, &db)?);
    }
    Ok(out)
}

/// The section of `bench/RESULTS.md` for `files`, measured with `sessions` sessions.
pub(crate) fn section(sessions: u64, files: &[FileSize], stamp: &str) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{HEADING}bytes per settled session (target ≤ {TARGET:.0}, at each central)\n"
    );
    let _ = writeln!(s, "{stamp}\n");
    let _ = writeln!(
        s,
        "{sessions} sessions (entry and exit) posted through `POST /api/edge/event`, half at each of two peered centrals; SQLite's `dbstat` over each data file once both hold every event, the expiring edge-request answers left out.\n"
    );
    let _ = writeln!(s, "| central | bytes per session | verdict |");
    let _ = writeln!(s, "|---|---|---|");
    for f in files {
        let per = f.total as f64 / sessions as f64;
        let _ = writeln!(
            s,
            "| {} | {per:.0} | {} |",
            f.id,
            super::verdict(per <= TARGET)
        );
    }
    if let Some(f) = files.first() {
        let _ = writeln!(s, "\nWhere the bytes of {} go (per session):\n", f.id);
        let _ = writeln!(s, "| table or index | bytes per session |");
        let _ = writeln!(s, "|---|---|");
        let mut rows: Vec<_> = f.by_name.iter().collect();
        rows.sort_by(|x, y| y.1.cmp(x.1));
        for (name, bytes) in rows {
            let per = *bytes as f64 / sessions as f64;
            if per >= 0.5 {
                let _ = writeln!(s, "| `{name}` | {per:.0} |");
            }
        }
    }
    s
}
