//! The bulk import projects exactly what the normal path projects: an import's events, replayed
//! into another central through the ordinary writer path (`apply_remote`), give the same
//! sessions and conflicts, and both agree with `parkmesh_parking::project` — also when the
//! database already held events (another site's import, replicated) and for corrections that
//! move sessions between plates.

mod common;

use parkmesh_parking::parkai::{self, OriginalChange, OriginalSession};
use parkmesh_storage::{DailyReport, DailyRow, ImportInput, Storage};

const HOUR: i64 = 3_600_000;
/// 2026-01-01 00:00 UTC.
const T0: i64 = 1_767_225_600_000;

fn local(ms: i64) -> String {
    parkmesh_parking::time::format_local(ms, &common::tz())
}

/// A site's original rows: plates coming back, IN and OUT rows, copies from central-2,
/// duplicates of one event id, a plate IN twice (a conflict), an exit before its entry.
fn rows(seed: i64) -> (Vec<OriginalSession>, Vec<OriginalChange>) {
    let mut out = Vec::new();
    for id in 1..=240i64 {
        let plate = format!("30A{:05}", id % 37);
        let k = id / 37;
        let entry = T0 + k * 24 * HOUR + (id % 37) * 60_000;
        let inside = k == 6 && id % 3 == 0;
        let exit = entry + HOUR + (id * seed) % (5 * HOUR);
        out.push(OriginalSession {
            id,
            event_id: Some(format!("edge-1_{entry}_{plate}")),
            source_central: (id % 4 == 0).then(|| "central-2".to_owned()),
            plate_id: Some(plate.clone()),
            plate_view: Some(plate),
            entry_time: Some(local(entry)),
            exit_time: (!inside).then(|| local(if id == 50 { entry - HOUR } else { exit })),
            fee: Some(if inside { 0 } else { 10_000 + id }),
            status: Some(if inside { "IN" } else { "OUT" }.to_owned()),
            ..OriginalSession::default()
        });
    }
    // The same event id twice (the original has no unique constraint), once without its exit.
    let mut dup = out[9].clone();
    dup.id = 241;
    dup.status = Some("IN".into());
    out.push(dup);
    // A second open row of a plate that is inside.
    let mut twice = out[230].clone();
    twice.id = 242;
    twice.event_id = Some("edge-1_twice".into());
    twice.status = Some("IN".into());
    out.push(twice);
    let change = |id, history_id, kind: &str, old: &str, new: Option<&str>| OriginalChange {
        id,
        history_id: Some(history_id),
        change_type: Some(kind.into()),
        old_plate_id: Some(old.into()),
        old_plate_view: Some(old.into()),
        new_plate_id: new.map(Into::into),
        new_plate_view: new.map(Into::into),
        changed_at: Some("2026-01-02 03:04:05".into()),
        ..OriginalChange::default()
    };
    let changes = vec![
        // A misread corrected onto another plate that has sessions of its own.
        change(1, 40, "UPDATE", "30A00099", Some("30A00003")),
        change(2, 41, "UPDATE", "30A00004", Some("51K12345")),
        change(3, 42, "DELETE", "30A00005", None),
        change(4, 43, "UPDATE", "30A00006", Some("30A00007")),
        change(5, 43, "DELETE", "30A00007", None),
    ];
    (out, changes)
}

fn input(seed: i64, importer: &str) -> ImportInput {
    let (sessions, changes) = rows(seed);
    let plan = parkai::plan(&sessions, &changes, importer, &common::tz());
    assert!(plan.rejected.is_empty(), "{:?}", plan.rejected);
    ImportInput {
        sessions: plan.sessions,
        ..ImportInput::default()
    }
}

/// The projected columns of every session (deleted ones too) and the conflicts.
fn projection(dir: &std::path::Path) -> (Vec<String>, Vec<String>) {
    let conn = rusqlite::Connection::open(dir.join("central.db")).unwrap();
    let read = |sql: &str| -> Vec<String> {
        conn.prepare(sql)
            .unwrap()
            .query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    (
        read(
            "SELECT json_array(session_id, plate_key, plate_id, plate_view, status, fee, deleted, entry_ms,
                    exit_ms, exception, event_id, source_central, entry_event_id, exit_event_id)
               FROM history ORDER BY session_id",
        ),
        read("SELECT json_array(plate_key, kind, winner, losers) FROM conflicts ORDER BY plate_key, winner"),
    )
}

/// Replays `events` into a fresh central through the normal path.
async fn replay(id: &str, events: Vec<parkmesh_protocol::Event>) -> (tempfile::TempDir, Storage) {
    let dir = tempfile::tempdir().unwrap();
    let s = common::open(dir.path(), id).await;
    for chunk in events.chunks(97) {
        s.apply_remote(chunk.to_vec()).await.unwrap();
    }
    (dir, s)
}

fn date(text: &str) -> jiff::civil::Date {
    text.parse().unwrap()
}

/// The network report over the weeks the generated sessions fall in.
async fn network_report(s: &Storage) -> DailyReport {
    s.daily_report(date("2025-12-01"), date("2026-02-28"))
        .await
        .unwrap()
}

fn entries(r: &DailyReport) -> u64 {
    r.rows.iter().map(|row| row.figures.entries).sum()
}

/// Every index definition of the database (an import drops some while it writes).
fn indexes(dir: &std::path::Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(dir.join("central.db")).unwrap();
    let mut stmt = conn
        .prepare("SELECT name || ' ' || COALESCE(sql, '') FROM sqlite_master WHERE type = 'index' ORDER BY name")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn same_as_project(dir: &std::path::Path, events: &[parkmesh_protocol::Event]) {
    let p = parkmesh_parking::project(events);
    let mut expected: Vec<(String, String, bool, i64)> = p
        .plates
        .iter()
        .flat_map(|(plate, f)| {
            f.sessions
                .iter()
                .map(|s| (s.id.clone(), plate.clone(), s.deleted, s.fee))
        })
        .collect();
    expected.sort();
    let conn = rusqlite::Connection::open(dir.join("central.db")).unwrap();
    let got: Vec<(String, String, bool, i64)> = conn
        .prepare("SELECT session_id, plate_key, deleted, fee FROM history ORDER BY session_id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn a_bulk_import_projects_what_the_normal_path_projects() {
    let dir = tempfile::tempdir().unwrap();
    let a = common::open(dir.path(), "central-1").await;
    let before = indexes(dir.path());
    assert!(before.len() > 10, "{before:?}");
    // The network report's figures are built (empty) before the import, so the import's change
    // marks must bring them up to date.
    assert_eq!(entries(&network_report(&a).await), 0);
    let report = a.import_parkai(input(7, "central-1"), None).await.unwrap();
    assert_eq!(
        indexes(dir.path()),
        before,
        "the import builds again what it dropped"
    );
    assert_eq!(
        report.sessions_in + report.sessions_out,
        242 - 1,
        "{report:?}"
    );
    assert_eq!((report.edits, report.deletes), (3, 2), "{report:?}");
    assert_eq!(
        report.skipped, 1,
        "the second row of one event id: {report:?}"
    );
    let events = a.all_events().await.unwrap();
    let (bulk, conflicts) = projection(dir.path());
    assert!(!conflicts.is_empty(), "the plate IN twice is a conflict");
    let (b_dir, b) = replay("central-9", events.clone()).await;
    assert_eq!(projection(b_dir.path()), (bulk.clone(), conflicts));
    same_as_project(dir.path(), &events);
    let imported = network_report(&a).await;
    assert!(entries(&imported) > 200, "{imported:?}");
    let replayed = network_report(&b).await;
    let theirs = |r: &DailyReport| -> Vec<DailyRow> {
        r.rows
            .iter()
            .filter(|row| row.site != "central-9")
            .cloned()
            .collect()
    };
    assert_eq!(
        theirs(&imported),
        theirs(&replayed),
        "the report after a bulk import equals the normal path's"
    );

    // A second import adds nothing.
    let again = a.import_parkai(input(7, "central-1"), None).await.unwrap();
    assert_eq!(
        (again.events, again.sessions_in, again.sessions_out),
        (0, 0, 0),
        "{again:?}"
    );
    assert_eq!(a.all_events().await.unwrap().len(), events.len());
}

#[tokio::test]
async fn an_import_into_a_database_that_holds_another_sites_import() {
    // Site 2 imported its (overlapping) rows first; they reached site 1 by replication.
    let two = tempfile::tempdir().unwrap();
    let b = common::open(two.path(), "central-2").await;
    let mut first_half = input(11, "central-2");
    first_half.sessions.retain(|s| s.row_id <= 120);
    b.import_parkai(first_half, None).await.unwrap();
    let theirs = b.all_events().await.unwrap();
    let (one_dir, one) = replay("central-1", theirs).await;
    let before = indexes(one_dir.path());
    let report = one
        .import_parkai(input(7, "central-1"), None)
        .await
        .unwrap();
    // Rows 1..=120 are present (site 2's copies, with their own exit times); the rest is new,
    // on plates that already have sessions, and this site's corrections target site 2's entries.
    assert_eq!(report.sessions_in + report.sessions_out, 121, "{report:?}");
    assert_eq!(indexes(one_dir.path()), before);
    assert_eq!((report.edits, report.deletes), (3, 2), "{report:?}");
    let all = one.all_events().await.unwrap();
    let (z_dir, _z) = replay("central-9", all.clone()).await;
    assert_eq!(projection(one_dir.path()), projection(z_dir.path()));
    same_as_project(one_dir.path(), &all);
}
