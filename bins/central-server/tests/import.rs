//! The cut-over import (`central-server import-parkai`) through the real binary, from databases
//! built with the original ParkAI schema: sessions IN and OUT, edits, deletes, copies replicated
//! from another central, odd times and plates; a second import; bad files; and two centrals
//! that import overlapping databases and replicate.

mod common;

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use common::parkai::{self, Row};
use serde_json::{Value, json};

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn history(port: u16) -> Vec<Value> {
    let (status, h) = common::json(port, "GET", "/api/parking/history?limit=1000", None);
    assert_eq!(status, 200, "{h}");
    h["history"].as_array().cloned().unwrap_or_default()
}

fn by_plate<'a>(rows: &'a [Value], plate: &str) -> Vec<&'a Value> {
    rows.iter().filter(|r| r["plate_id"] == plate).collect()
}

/// Counts rows of `table` in the parkmesh database under `dir`.
fn rows(dir: &Path, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(dir.join("data/central.db")).unwrap();
    conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

fn exit_event(plate: &str, ts_ms: i64) -> Value {
    json!({
        "type": "EXIT", "camera_id": 2, "camera_name": "Cổng ra", "camera_type": "EXIT",
        "timestamp": ts_ms as f64 / 1000.0, "event_id": null,
        "data": { "plate_text": plate, "confidence": 0.9, "source": "auto" }
    })
}

/// A site's original database: its own sessions (IN, OUT with a fee the original computed its
/// own way, edited, deleted), a copy of another site's session, odd plates and times, and rows
/// that cannot be imported.
fn site_db(path: &Path, now: i64) {
    let conn = parkai::create(path);
    parkai::insert(&conn, &Row::new(1, "30A-123.45", now - 2 * HOUR));
    parkai::insert(
        &conn,
        &Row::new(2, "51G-678.90", now - 5 * HOUR).out(now - 3 * HOUR, 12_345),
    );
    parkai::insert(
        &conn,
        &Row::new(3, "29B11111", now - 4 * HOUR).from("central-2"),
    );
    parkai::insert(&conn, &Row::new(4, "51F9999", now - 3 * HOUR));
    parkai::edit(&conn, 4, "51F99999");
    parkai::insert(
        &conn,
        &Row::new(5, "43A55555", now - 6 * HOUR).out(now - 5 * HOUR, 25_000),
    );
    parkai::delete(&conn, 5);
    let mut odd = Row::new(6, "29a-222.22", now - HOUR);
    odd.plate_id = "29a-222.22".into();
    odd.entry_time = odd.entry_time.replace(' ', "T") + ".123456";
    parkai::insert(&conn, &odd);
    let mut bad_time = Row::new(7, "30E77777", now);
    bad_time.entry_time = "32/13/2025 25:61".into();
    parkai::insert(&conn, &bad_time);
    let mut bad_plate = Row::new(8, "30E88888", now);
    bad_plate.plate_id = "???".into();
    parkai::insert(&conn, &bad_plate);
    conn.execute_batch(
        "INSERT INTO parking_lots (location_name, capacity, camera_id, camera_type, edge_id)
             VALUES ('Cổng A', 10, 3, 'PARKING_LOT', '192.168.0.144');
         INSERT INTO cameras (id, name, type, status) VALUES (1, 'Cổng vào', 'ENTRY', 'online');
         INSERT INTO p2p_sync_state (peer_central_id, last_sync_timestamp) VALUES ('central-2', 0);",
    )
    .unwrap();
}

#[test]
fn a_site_switches_without_losing_a_car() {
    let now = now_ms();
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("central.db");
    site_db(&original, now);
    let (api, p2p) = (common::free_port(), common::free_port());
    let config = common::write_config(
        dir.path(),
        "central-1",
        api,
        p2p,
        json!({ "max_clock_skew_secs": 86400 }),
    );

    // Dry run: a report, every rejected row, nothing written.
    let out = parkai::import(&config, &original, &["--dry-run"]);
    let (stdout, stderr) = parkai::text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("dry run, nothing written"), "{stdout}");
    assert_eq!(parkai::count(&stdout, "sessions IN"), 4, "{stdout}");
    assert_eq!(parkai::count(&stdout, "sessions OUT"), 2, "{stdout}");
    for line in [
        "table history row 7: entry_time \"32/13/2025 25:61\"",
        "table history row 8: plate_id \"???\"",
    ] {
        let hit: Vec<&str> = stderr.lines().filter(|l| l.contains(line)).collect();
        assert_eq!(hit.len(), 1, "{line} in {stderr}");
        assert!(
            hit[0].contains(&original.display().to_string()) && hit[0].contains("import again")
        );
    }
    assert!(
        !dir.path().join("data/central.db").exists(),
        "a dry run writes nothing"
    );

    // The original folder's fee table, passes and roster come along.
    let folder = dir.path().join("backend-central");
    std::fs::create_dir_all(folder.join("data")).unwrap();
    let data = |name: &str, v: Value| {
        std::fs::write(folder.join("data").join(name), v.to_string()).unwrap()
    };
    data(
        "parking_fees.json",
        json!({ "fee_base": 0.5, "fee_per_hour": 25000 }),
    );
    data(
        "subscriptions.json",
        json!([{ "id": 1, "plate_number": "51A-999.99", "owner_name": "Công ty X", "type": "company",
                 "status": "active", "start_date": "2025-01-01", "phone": "", "note": "" }]),
    );
    data(
        "staff.json",
        json!([{ "id": 1, "name": "Lan", "position": "bảo vệ", "phone": "", "shift": "Ca ngày", "status": "active" }]),
    );
    let folder_arg = folder.display().to_string();

    // The import.
    let out = parkai::import(&config, &original, &["--parkai-dir", &folder_arg]);
    let (stdout, stderr) = parkai::text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for (name, n) in [
        ("sessions IN", 4),
        ("sessions OUT", 2),
        ("edits", 1),
        ("deletes", 1),
        ("cameras", 1),
        ("lots", 1),
        ("settings", 3),
        ("skipped", 0),
        ("rejected", 2),
    ] {
        assert_eq!(parkai::count(&stdout, name), n, "{name}: {stdout}");
    }
    // The import (written with a rollback journal when nothing else has the database open) left
    // it in WAL mode, with no journal behind.
    let db = dir.path().join("data/central.db");
    let mode: String = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    assert!(!dir.path().join("data/central.db-journal").exists());
    let events = rows(dir.path(), "events");

    // A second import adds nothing.
    let out = parkai::import(&config, &original, &["--parkai-dir", &folder_arg]);
    let (stdout, stderr) = parkai::text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(parkai::count(&stdout, "sessions IN"), 0, "{stdout}");
    assert_eq!(parkai::count(&stdout, "sessions OUT"), 0, "{stdout}");
    assert_eq!(parkai::count(&stdout, "events"), 0, "{stdout}");
    assert!(parkai::count(&stdout, "skipped") >= 10, "{stdout}");
    assert_eq!(rows(dir.path(), "events"), events);

    // The central serves what was imported.
    let mut c = common::Central {
        child: common::spawn(&config),
        api_port: api,
        p2p_port: p2p,
        dir,
        config_path: config,
    };
    common::wait_child_ready(&mut c.child, api);
    let h = history(api);
    assert_eq!(h.len(), 5, "the deleted session is hidden: {h:#?}");
    let kept = by_plate(&h, "51G67890");
    assert_eq!(
        (kept[0]["status"].as_str(), kept[0]["fee"].as_i64()),
        (Some("OUT"), Some(12_345)),
        "the original's fee is kept"
    );
    assert_eq!(
        by_plate(&h, "51F99999").len(),
        1,
        "the correction applies: {h:#?}"
    );
    assert_eq!(by_plate(&h, "29A22222")[0]["plate_view"], "29A-222.22");
    let copy = by_plate(&h, "29B11111");
    assert_eq!(copy[0]["source_central"], "central-2");
    let (_, changes) = common::json(api, "GET", "/api/parking/history/changes", None);
    assert!(changes.to_string().contains("51F9999"), "{changes}");
    let (_, subs) = common::json(api, "GET", "/api/subscriptions", None);
    assert!(subs.to_string().contains("51A-999.99"), "{subs}");
    let (_, occ) = common::json(api, "GET", "/api/parking/occupancy", None);
    assert!(occ.to_string().contains("Cổng A"), "{occ}");

    // The car that was inside at the switch leaves now: the fee counts from its real entry.
    let (status, v) = common::json(
        api,
        "POST",
        "/api/edge/event",
        Some(&exit_event("30A-123.45", now)),
    );
    assert_eq!(status, 200, "{v}");
    let car = by_plate(&history(api), "30A12345")
        .into_iter()
        .cloned()
        .collect::<Vec<_>>();
    assert_eq!(car.len(), 1, "{car:#?}");
    assert_eq!(
        (car[0]["status"].as_str(), car[0]["fee"].as_i64()),
        (Some("OUT"), Some(50_000)),
        "{car:#?}"
    );
    assert!(common::panics(&c).is_empty());
}

/// An import killed while its transaction is open (here once its rows are written, while it
/// builds indexes) leaves the database as before or, had the commit landed first, with the whole
/// import: never part of it. The next run imports the rest, once.
#[test]
fn a_killed_import_leaves_nothing_half_written() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let now = now_ms();
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("central.db");
    const SESSIONS: i64 = 3_000;
    {
        let conn = parkai::create(&original);
        for id in 1..=SESSIONS {
            let entry = now - (id + 10) * MIN;
            let row = Row::new(id, &format!("30A{:05}", id), entry);
            let row = if id % 3 == 0 {
                row
            } else {
                row.out(entry + 5 * MIN, 5_000)
            };
            parkai::insert(&conn, &row);
        }
    }
    let config = common::write_config(
        dir.path(),
        "central-1",
        common::free_port(),
        common::free_port(),
        json!({ "max_clock_skew_secs": 86400 }),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_central-server"))
        .arg("import-parkai")
        .arg("--config")
        .arg(&config)
        .arg("--from")
        .arg(&original)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        let at_indexes = line.contains("building indexes");
        seen.push(line);
        if at_indexes {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let log = seen.join("\n");
    assert!(log.contains("writing with a rollback journal"), "{log}");
    assert!(log.contains("building indexes"), "{log}");

    // Opening the database rolls a left-over journal back.
    let db = dir.path().join("data/central.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let sessions: i64 = conn
        .query_row("SELECT COUNT(*) FROM history", [], |r| r.get(0))
        .unwrap();
    assert!(
        sessions == 0 || sessions == SESSIONS,
        "{sessions} sessions after the kill"
    );
    drop(conn);

    let out = parkai::import(&config, &original, &[]);
    let (stdout, stderr) = parkai::text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let added = parkai::count(&stdout, "sessions IN") + parkai::count(&stdout, "sessions OUT");
    assert_eq!(added as i64 + sessions, SESSIONS, "{stdout}");
    assert_eq!(rows(dir.path(), "history"), SESSIONS);
    let exits = SESSIONS - SESSIONS / 3;
    assert_eq!(
        rows(
            dir.path(),
            // `vehicle.entry` and `vehicle.exit` as the log stores their kinds (codes 1 and 2).
            "events WHERE kind IN (1, 2)"
        ),
        SESSIONS + exits,
        "each entry and exit once"
    );
}

/// Runs the import of `original` and asserts it is refused with `message` and writes nothing.
fn refused(original: &Path, message: &str) {
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_config(
        dir.path(),
        "central-1",
        common::free_port(),
        common::free_port(),
        json!({}),
    );
    let out = parkai::import(&config, original, &[]);
    let (stdout, stderr) = parkai::text(&out);
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(
        lines[0].contains(&original.display().to_string()),
        "{stderr}"
    );
    assert!(lines[0].contains(message), "{message:?} in {stderr}");
    assert!(
        !dir.path().join("data/central.db").exists(),
        "nothing written: {stdout}"
    );
}

#[test]
fn bad_files_are_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.db");
    std::fs::write(&text, "history,plate\n1,30A12345\n").unwrap();
    refused(&text, "is not an SQLite database");

    let empty = dir.path().join("empty.db");
    rusqlite::Connection::open(&empty)
        .unwrap()
        .execute_batch("CREATE TABLE other (x);")
        .unwrap();
    refused(&empty, "has no table history");

    let partial = dir.path().join("partial.db");
    rusqlite::Connection::open(&partial)
        .unwrap()
        .execute_batch("CREATE TABLE history (id INTEGER PRIMARY KEY, plate TEXT); CREATE TABLE history_changes (id, history_id, change_type);")
        .unwrap();
    refused(&partial, "table history has no column plate_id");

    refused(&dir.path().join("missing.db"), "cannot open it");

    // An original central in the middle of a write.
    let busy = dir.path().join("busy.db");
    site_db(&busy, now_ms());
    let conn = rusqlite::Connection::open(&busy).unwrap();
    conn.execute_batch("BEGIN IMMEDIATE; UPDATE history SET fee = fee + 1;")
        .unwrap();
    refused(&busy, "the original central is running");
    conn.execute_batch("ROLLBACK").unwrap();
    drop(conn);

    // A fee file in another shape is refused, naming it.
    let folder = dir.path().join("backend-central/data");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("parking_fees.json"),
        "{\"fee_base\": \"half an hour\"}",
    )
    .unwrap();
    let good = dir.path().join("good.db");
    site_db(&good, now_ms());
    let cfg_dir = tempfile::tempdir().unwrap();
    let config = common::write_config(
        cfg_dir.path(),
        "central-1",
        common::free_port(),
        common::free_port(),
        json!({}),
    );
    let out = parkai::import(
        &config,
        &good,
        &[
            "--parkai-dir",
            &dir.path().join("backend-central").display().to_string(),
        ],
    );
    let (_, stderr) = parkai::text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains("parking_fees.json: not the original's format"),
        "{stderr}"
    );
    assert!(!cfg_dir.path().join("data/central.db").exists());

    // A refused import leaves an existing database unchanged.
    let site = tempfile::tempdir().unwrap();
    let good = site.path().join("central.db");
    site_db(&good, now_ms());
    let config = common::write_config(
        site.path(),
        "central-1",
        common::free_port(),
        common::free_port(),
        json!({}),
    );
    assert!(parkai::import(&config, &good, &[]).status.success());
    let before = rows(site.path(), "events");
    assert!(!parkai::import(&config, &text, &[]).status.success());
    assert!(!parkai::import(&config, &empty, &[]).status.success());
    assert_eq!(rows(site.path(), "events"), before);
}

#[test]
fn two_sites_importing_overlapping_databases_converge_to_one_session_each() {
    let now = now_ms();
    let m = common::plan(&["central-1", "central-2"]);
    let secret = "import-test-secret";
    // Site 1 holds its sessions and a copy of site 2's (whose exit never reached site 1);
    // site 2 holds its own and copies of site 1's.
    let s1_out = Row::new(1, "30A11111", now - 5 * HOUR).out(now - 4 * HOUR, 25_000);
    let s1_in = Row::new(2, "30A22222", now - 2 * HOUR);
    let s2_out = Row::new(1, "51B33333", now - 3 * HOUR).out(now - HOUR, 50_000);
    let dir = tempfile::tempdir().unwrap();
    let (db1, db2) = (dir.path().join("one.db"), dir.path().join("two.db"));
    {
        let c = parkai::create(&db1);
        parkai::insert(&c, &s1_out);
        parkai::insert(&c, &s1_in);
        let mut copy = s2_out.clone().from("central-2");
        copy.id = 3;
        copy.exit = None;
        parkai::insert(&c, &copy);
        let c = parkai::create(&db2);
        parkai::insert(&c, &s2_out);
        for (id, r) in [(2, &s1_out), (3, &s1_in)] {
            let mut copy = r.clone().from("central-1");
            copy.id = id;
            parkai::insert(&c, &copy);
        }
    }
    let mut a = common::start_member(&m, 0, &[1], secret, json!({}));
    let mut b = common::start_member(&m, 1, &[0], secret, json!({}));
    common::stop(&mut a);
    common::stop(&mut b);
    for (c, db) in [(&a, &db1), (&b, &db2)] {
        let out = parkai::import(&c.config_path, db, &[]);
        let (stdout, stderr) = parkai::text(&out);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert_eq!(
            parkai::count(&stdout, "sessions IN") + parkai::count(&stdout, "sessions OUT"),
            3
        );
    }
    common::restart(&mut a);
    common::restart(&mut b);
    let expect = |h: &[Value]| {
        let one = |plate: &str, status: &str| {
            let r = by_plate(h, plate);
            r.len() == 1 && r[0]["status"] == status
        };
        h.len() == 3 && one("30A11111", "OUT") && one("30A22222", "IN") && one("51B33333", "OUT")
    };
    for c in [&a, &b] {
        common::eventually("one session per original session", || {
            expect(&history(c.api_port)).then_some(())
        });
        let (_, conflicts) = common::json(c.api_port, "GET", "/api/p2p/conflicts", None);
        assert_eq!(
            conflicts["conflicts"].as_array().map(Vec::len),
            Some(0),
            "{conflicts}"
        );
    }
    let fee = by_plate(&history(a.api_port), "51B33333")[0]["fee"].clone();
    assert_eq!(fee, 50_000, "site 2's exit and fee reach site 1");

    // The car inside at the switch leaves at site 2: one closed session everywhere.
    let (status, v) = common::json(
        b.api_port,
        "POST",
        "/api/edge/event",
        Some(&exit_event("30A22222", now)),
    );
    assert_eq!(status, 200, "{v}");
    for c in [&a, &b] {
        common::eventually("the exit reaches every site", || {
            let h = history(c.api_port);
            let r = by_plate(&h, "30A22222");
            (r.len() == 1 && r[0]["status"] == "OUT" && r[0]["fee"] == 50_000).then_some(())
        });
    }
    // Importing again on either site still adds nothing.
    common::stop(&mut a);
    let out = parkai::import(&a.config_path, &db2, &[]);
    let (stdout, _) = parkai::text(&out);
    assert_eq!(
        parkai::count(&stdout, "events"),
        0,
        "site 2's rows were replicated already: {stdout}"
    );
    assert!(common::panics(&a).is_empty() && common::panics(&b).is_empty());
}
