//! P9: the cut-over import (`central-server import-parkai`) of an original ParkAI database with
//! `rows` history rows, generated here with the original schema and realistic rows.
//!
//! The database holds a year of traffic of a site in a mesh: plates come back every few days,
//! each session lasts one to six hours, one row in five is a copy of another site's session, the
//! last session of some plates is still inside, and a few rows were corrected or deleted by an
//! operator (audit rows in `history_changes`, deleted rows only there).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use rusqlite::params;

/// The original schema (the import tests build their databases from the same file).
const DDL: &str = include_str!("../../../bins/central-server/tests/common/parkai.sql");

/// Sessions per plate (so `rows / PER_PLATE` plates).
const PER_PLATE: u64 = 5;

/// Writes an original-schema database with `rows` history rows (deleted ones included).
pub(crate) fn generate(path: &Path, rows: u64) -> anyhow::Result<()> {
    let mut conn = rusqlite::Connection::open(path)?;
    conn.execute_batch(DDL)?;
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare(
            "INSERT INTO history (id, event_id, source_central, edge_id, plate_id, plate_view, entry_time,
                    entry_camera_id, entry_camera_name, entry_confidence, entry_source, exit_time, exit_camera_id,
                    exit_camera_name, exit_confidence, exit_source, duration, fee, status, sync_status)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, 'Cổng vào', 0.91, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
        )?;
        let mut change = tx.prepare(
            "INSERT INTO history_changes (history_id, change_type, old_plate_id, old_plate_view, new_plate_id,
                    new_plate_view, old_data, changed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        let base: i64 = 1_735_689_600; // 2025-01-01 00:00 UTC, seconds
        let plates = (rows / PER_PLATE).max(1);
        for id in 1..=rows as i64 {
            let n = id as u64 - 1;
            let (p, k) = (n % plates, n / plates);
            let plate_id = format!(
                "{}{}{:05}",
                11 + p % 88,
                char::from(b'A' + (p / 88 % 26) as u8),
                p / 2288 % 100_000
            );
            let plate_view = format!("{}-{}", &plate_id[..3], &plate_id[3..]);
            let entry = base + (k as i64) * 5 * 86_400 + (p as i64 * 7919) % 86_400;
            let stay = 3_600 + (id * 104_729) % 18_000;
            let last = k + 1 == PER_PLATE;
            let inside = last && p % 10 == 0;
            let copy = id % 5 == 0;
            let local = |s: i64| {
                // Site-local text at UTC+7 (the generator needs no time-zone database).
                let t = s + 7 * 3_600;
                let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
                let (y, m, d) = civil(days);
                format!(
                    "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
                    secs / 3600,
                    secs / 60 % 60,
                    secs % 60
                )
            };
            let fee = ((stay - 1_800 + 3_599) / 3_600) * 25_000;
            insert.execute(params![
                id,
                format!("edge-1_{}_{plate_id}", entry * 1000),
                copy.then_some("central-2"),
                copy.then_some("1"),
                plate_id,
                plate_view,
                local(entry),
                if copy { "p2p_sync" } else { "auto" },
                (!inside).then(|| local(entry + stay)),
                (!inside).then_some(2),
                (!inside).then_some("Cổng ra"),
                (!inside).then_some(0.88),
                (!inside).then_some("auto"),
                (!inside).then(|| format!("{} giờ {} phút", stay / 3600, stay / 60 % 60)),
                if inside { 0 } else { fee },
                if inside { "IN" } else { "OUT" },
                if copy { "SYNCED" } else { "LOCAL" },
            ])?;
            if id % 200 == 7 {
                // An operator corrected a misread plate.
                let new_id = format!("{plate_id}9");
                tx.execute(
                    "UPDATE history SET plate_id = ?2, plate_view = ?2 WHERE id = ?1",
                    params![id, new_id],
                )?;
                change.execute(params![
                    id,
                    "UPDATE",
                    plate_id,
                    plate_view,
                    new_id,
                    new_id,
                    "{}",
                    local(entry + stay)
                ])?;
            } else if id % 500 == 11 {
                // An operator deleted a row (the original deletes it; only the audit keeps it).
                let old: String = tx.query_row(
                    "SELECT json_object('id', id, 'event_id', event_id, 'source_central', source_central,
                            'plate_id', plate_id, 'plate_view', plate_view, 'entry_time', entry_time,
                            'exit_time', exit_time, 'fee', fee, 'status', status) FROM history WHERE id = ?1",
                    [id],
                    |r| r.get(0),
                )?;
                change.execute(params![
                    id,
                    "DELETE",
                    plate_id,
                    plate_view,
                    None::<String>,
                    None::<String>,
                    old,
                    local(entry + stay)
                ])?;
                tx.execute("DELETE FROM history WHERE id = ?1", [id])?;
            }
        }
        tx.execute_batch(
            "INSERT INTO parking_lots (location_name, capacity, camera_id, camera_type, edge_id)
                 VALUES ('Cổng A', 10, 3, 'PARKING_LOT', '192.168.0.144');
             INSERT INTO cameras (id, name, type) VALUES (1, 'Cổng vào', 'ENTRY'), (2, 'Cổng ra', 'EXIT');",
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
pub(crate) fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The import's wall time and its summary.
pub(crate) struct Measured {
    pub(crate) generate_secs: f64,
    pub(crate) import_secs: f64,
    pub(crate) summary: String,
}

/// Generates the database and imports it with `bin` into a fresh central under `tmp`.
pub(crate) fn measure(bin: &Path, tmp: &Path, rows: u64) -> anyhow::Result<Measured> {
    let original = tmp.join("parkai-central.db");
    let t = Instant::now();
    generate(&original, rows)?;
    let generate_secs = t.elapsed().as_secs_f64();
    let dir = tmp.join("import");
    std::fs::create_dir_all(&dir)?;
    let this =
        serde_json::json!({ "id": "central-1", "ip": "127.0.0.1", "p2p_port": 1, "api_port": 2 });
    let (import_secs, summary) = run(bin, &dir, this, &dir.join("data"), &original)?;
    Ok(Measured {
        generate_secs,
        import_secs,
        summary,
    })
}

/// Imports `original` with `bin` as the central `this` (its `this_central` section) into
/// `data_dir`, with a config written in `dir`; the wall time in seconds and the summary printed.
pub(crate) fn run(
    bin: &Path,
    dir: &Path,
    this: serde_json::Value,
    data_dir: &Path,
    original: &Path,
) -> anyhow::Result<(f64, String)> {
    let config = dir.join("p2p_config.json");
    std::fs::write(
        &config,
        serde_json::to_vec(&serde_json::json!({ "this_central": this, "data_dir": data_dir }))?,
    )?;
    let t = Instant::now();
    let out = Command::new(bin)
        .arg("import-parkai")
        .arg("--config")
        .arg(&config)
        .arg("--from")
        .arg(original)
        .output()
        .context("cannot run central-server import-parkai")?;
    let secs = t.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!("import failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok((secs, String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// The P9 section of `bench/RESULTS.md`.
pub(crate) fn section(rows: u64, m: &Measured) -> String {
    let summary: Vec<String> = m
        .summary
        .lines()
        .skip(1)
        .map(|l| {
            let mut parts: Vec<&str> = l.split_whitespace().collect();
            let n = parts.pop().unwrap_or_default();
            format!("| {} | {n} |", parts.join(" "))
        })
        .collect();
    format!(
        "## P9 — cut-over import of an original ParkAI database (`central-server import-parkai`)\n\n\
         | figure | value |\n|---|---|\n\
         | history rows in the original (generated in {:.1} s) | {rows} |\n\
         | import wall time, process start to exit | {:.1} s ({:.0} rows/s) |\n{}\n\n\
         Target: 1 000 000 rows in ≤ 60 s, one transaction.\n",
        m.generate_secs,
        m.import_secs,
        rows as f64 / m.import_secs,
        summary.join("\n")
    )
}

/// Replaces (or appends) the P9 section of `results`, keeping the rest.
pub(crate) fn splice(results: &str, section: &str) -> String {
    super::sections::splice(results, "## P9 — ", section)
}
