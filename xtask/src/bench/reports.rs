//! P11: the network report (`GET /api/reports/daily`) over 90 days of 12 sites with 5 000 000
//! sessions, answered by a real `central-server`.
//!
//! The database is built once per size under `target/bench-reports-<sessions>/` (kept for the
//! next run; building it takes a minute or two): the central starts once to create its schema,
//! then the sessions are written straight into `history` with one prepared statement in one
//! transaction (the projection rows the fold would write; the report reads nothing else), with
//! the other eleven sites' `site.timezone` announcements in the log. Each session enters at one
//! site and mostly leaves there (one in twenty leaves at the next site), stays 10 minutes to 6
//! hours; one in fifty is exempt, one in two hundred is an exit without entry.
//!
//! Measured: the first report once the kept figures are dropped (every site and day recomputed
//! from `history`), the first report after a restart (cold: the figures kept on disk), the same
//! report again (warm: nothing changed), the report right after an edge entry of today and right
//! after a late edge entry 20 days back (the local days around the marked day recomputed).

use std::path::Path;
use std::time::Instant;

use anyhow::bail;
use rusqlite::params;
use serde_json::Value;

use super::net::{Central, Http};

const SITES: usize = 12;
const DAYS: i64 = 90;
const DAY_MS: i64 = 86_400_000;
const ZONES: [&str; 4] = [
    "Asia/Ho_Chi_Minh",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Tokyo",
];
/// Heading of the section in `bench/RESULTS.md`.
pub(crate) const HEADING: &str = "## P11 — ";

/// What the bench measured.
pub(crate) struct Measured {
    sessions: u64,
    build_secs: Option<f64>,
    db_mb: f64,
    rebuild_ms: f64,
    cold_ms: f64,
    warm_ms: Vec<f64>,
    changed_ms: Vec<f64>,
    old_day_ms: Vec<f64>,
    rows: usize,
}

fn site(i: usize) -> String {
    format!("site-{i:02}")
}

/// A cheap deterministic hash of `n`.
fn mix(n: u64) -> u64 {
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 31;
    x.wrapping_mul(0xBF58_476D_1CE4_E5B9) ^ (x >> 29)
}

/// Writes `sessions` sessions over `DAYS` UTC days from `first_day_ms` into the database.
fn generate(db: &Path, sessions: u64, first_day_ms: i64) -> anyhow::Result<()> {
    let mut conn = rusqlite::Connection::open(db)?;
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;")?;
    let tx = conn.transaction()?;
    {
        // Kind 11: `site.timezone` as migration 0011 stores it.
        let mut ev = tx.prepare(
            "INSERT INTO events (origin, incarnation, seq, hlc_ms, hlc_counter, kind, schema, payload)
             VALUES (?1, 1, 1, ?2, 0, 11, 1, ?3)",
        )?;
        let mut head =
            tx.prepare("INSERT INTO streams (origin, incarnation, head_seq) VALUES (?1, 1, 1)")?;
        for i in 1..SITES {
            let payload = serde_json::json!({ "timezone": ZONES[i % ZONES.len()] }).to_string();
            ev.execute(params![site(i), first_day_ms, payload])?;
            head.execute(params![site(i)])?;
        }
        let mut insert = tx.prepare(
            "INSERT INTO history (session_id, plate_key, entry_event_id, exit_event_id, source_central,
                    plate_id, plate_view, entry_ms, exit_ms, fee, status, exception, exempt,
                    created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?2, ?2, ?6, ?7, ?8, ?9, ?10, ?11, '', '')",
        )?;
        let per_day = sessions / DAYS as u64;
        let mut seq = 0u64;
        for n in 0..sessions {
            seq += 1;
            let h = mix(n);
            let day = (n / per_day.max(1)).min(DAYS as u64 - 1) as i64;
            let s = (h % SITES as u64) as usize;
            let entry = first_day_ms + day * DAY_MS + ((h >> 8) % DAY_MS as u64) as i64;
            let stay = 600_000 + ((h >> 40) % 21_000) as i64 * 1000;
            let exit = entry + stay;
            let out_site = if h.is_multiple_of(20) {
                (s + 1) % SITES
            } else {
                s
            };
            let exception = h % 200 == 1;
            let exempt = h % 50 == 2;
            let fee = if exempt || exception {
                0
            } else {
                (stay - 1_800_000 + 3_599_999).max(0) / 3_600_000 * 25_000
            };
            let id = format!("{}:1:{seq}", site(if exception { out_site } else { s }));
            let plate = format!("51A{n:07}");
            insert.execute(params![
                id,
                plate,
                (!exception).then(|| id.clone()),
                format!("{}:1:{}", site(out_site), seq + 1),
                site(if exception { out_site } else { s }),
                (!exception).then_some(entry),
                exit,
                fee,
                "OUT",
                i64::from(exception),
                exempt.then_some("monthly"),
            ])?;
            seq += 1;
        }
    }
    tx.commit()?;
    Ok(())
}

fn get_ms(http: &mut Http, path: &str) -> anyhow::Result<(f64, Value)> {
    let t = Instant::now();
    let (status, body) = http.call("GET", path, None)?;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    if status != 200 {
        bail!(
            "report answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok((ms, serde_json::from_slice(&body)?))
}

/// Builds (or reuses) the database and measures the report.
pub(crate) fn measure(bin: &Path, root: &Path, sessions: u64) -> anyhow::Result<Measured> {
    let dir = root.join(format!("target/bench-reports-{sessions}"));
    std::fs::create_dir_all(&dir)?;
    let mut c = Central::plan(bin, &dir, &site(0), &[])?;
    let mut cfg: Value = serde_json::from_slice(&std::fs::read(&c.config)?)?;
    cfg["timezone"] = ZONES[0].into();
    cfg["max_event_age_secs"] = 2_592_000.into();
    std::fs::write(&c.config, serde_json::to_vec_pretty(&cfg)?)?;
    let db = dir.join(site(0)).join("db").join("central.db");
    let ready = dir.join("ready");
    // The range: `DAYS` days of data ending yesterday (UTC), and today for the change below.
    let today = super::net::now_secs() as i64 * 1000 / DAY_MS * DAY_MS;
    // Data on the `DAYS` UTC days before today; a database built on another day is built again
    // so that the range ends today and the change below falls inside it.
    let first = today - DAYS * DAY_MS;
    let mut build_secs = None;
    let built: Option<i64> = std::fs::read_to_string(&ready)
        .ok()
        .and_then(|t| t.trim().parse().ok());
    if built != Some(first) {
        let _ = std::fs::remove_file(&ready);
        let _ = std::fs::remove_dir_all(dir.join(site(0)).join("db"));
        c.start()?;
        c.kill();
        println!("  building {sessions} sessions into {}", db.display());
        let t = Instant::now();
        generate(&db, sessions, first)?;
        build_secs = Some(t.elapsed().as_secs_f64());
        std::fs::write(&ready, first.to_string())?;
    }
    let db_mb = std::fs::metadata(&db).map(|m| m.len() as f64 / 1e6)?;
    let date = |ms: i64| {
        let days = ms.div_euclid(DAY_MS);
        let (y, m, d) = super::import::civil(days);
        format!("{y:04}-{m:02}-{d:02}")
    };
    // 90 days ending today in the zone of site-00 (UTC+7, no daylight saving).
    let local_now = super::net::now_secs() as i64 * 1000 + 7 * 3_600_000;
    let (from, to) = (date(local_now - (DAYS - 1) * DAY_MS), date(local_now));
    let path = format!("/api/reports/daily?from={from}&to={to}");
    // Drop the kept figures (when this database has them yet), so that the first report
    // recomputes every site and day from `history`.
    {
        let conn = rusqlite::Connection::open(&db)?;
        let has: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'report_state')",
            [],
            |r| r.get(0),
        )?;
        if has {
            conn.execute_batch("DELETE FROM report_state")?;
        }
    }
    c.start()?;
    let mut http = Http::connect(c.api)?;
    let (rebuild_ms, _) = get_ms(&mut http, &path)?;
    c.kill();
    c.start()?;
    let mut http = Http::connect(c.api)?;
    let (cold_ms, v) = get_ms(&mut http, &path)?;
    let rows = v["days"].as_array().map_or(0, Vec::len);
    let mut warm_ms = Vec::new();
    for _ in 0..20 {
        warm_ms.push(get_ms(&mut http, &path)?.0);
    }
    let mut enter = |i: u64, ago_secs: f64| -> anyhow::Result<f64> {
        let now = super::net::now_secs();
        let entry = serde_json::json!({ "type": "ENTRY", "camera_id": 1, "camera_name": "bench",
            "camera_type": "ENTRY", "timestamp": now - ago_secs,
            "data": { "plate_text": format!("30B{:05}", mix(i + now as u64) % 100_000), "confidence": 0.9, "source": "auto" } });
        let (status, body) = http.call("POST", "/api/edge/event", Some(&entry.to_string()))?;
        if status != 200 {
            bail!("entry refused: {}", String::from_utf8_lossy(&body));
        }
        Ok(get_ms(&mut http, &path)?.0)
    };
    let mut changed_ms = Vec::new();
    let mut old_day_ms = Vec::new();
    for i in 0..5 {
        changed_ms.push(enter(i, 3600.0)?);
        old_day_ms.push(enter(100 + i, 20.0 * 86_400.0)?);
    }
    c.kill();
    Ok(Measured {
        sessions,
        build_secs,
        db_mb,
        rebuild_ms,
        cold_ms,
        warm_ms,
        changed_ms,
        old_day_ms,
        rows,
    })
}

/// The P11 section of `bench/RESULTS.md`.
pub(crate) fn section(m: &Measured) -> String {
    let med = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        (super::pct(&v, 0.5), super::pct(&v, 1.0))
    };
    let (warm, warm_max) = med(&m.warm_ms);
    let (changed, changed_max) = med(&m.changed_ms);
    let (old, old_max) = med(&m.old_day_ms);
    let built = m.build_secs.map_or_else(
        || "built by an earlier run".to_owned(),
        |s| format!("built in {s:.0} s"),
    );
    let verdict = |ms: f64| if ms <= 500.0 { "meets" } else { "misses" };
    format!(
        "{HEADING}network report, {DAYS} days × {SITES} sites, {} sessions (`cargo xtask bench --reports-only`)\n\n\
         | figure | value | target ≤ 500 ms |\n|---|---|---|\n\
         | database ({built}) | {:.0} MB, {} report rows (days × sites) | |\n\
         | full recompute: first report once the kept figures are dropped (every site and day from `history`; after a rules or time zone change only) | {:.0} ms | — |\n\
         | cold: first report after a restart (figures kept on disk) | {:.0} ms | {} |\n\
         | warm: the same report again, nothing changed (median / max of {}) | {:.1} / {:.1} ms | {} |\n\
         | after one edge entry of today (median / max of {}) | {:.1} / {:.1} ms | {} |\n\
         | after one late edge entry 20 days back (median / max of {}) | {:.1} / {:.1} ms | {} |\n\n\
         The figures of every site and local day are kept in `report_days` (a projection of \
         `history`). A report first recomputes the local days that overlap a UTC day marked by a \
         change (about {} sessions a day here over all sites, read in one walk of the covering \
         time indexes) in one write transaction, then reads the rows of its range.\n",
        m.sessions,
        m.db_mb,
        m.rows,
        m.rebuild_ms,
        m.cold_ms,
        verdict(m.cold_ms),
        m.warm_ms.len(),
        warm,
        warm_max,
        verdict(warm),
        m.changed_ms.len(),
        changed,
        changed_max,
        verdict(changed),
        m.old_day_ms.len(),
        old,
        old_max,
        verdict(old),
        m.sessions / DAYS as u64,
    )
}
