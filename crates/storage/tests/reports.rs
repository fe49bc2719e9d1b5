//! The report projection on a real SQLite file: local days in a daylight-saving zone (Berlin's
//! 25-hour 2026-10-25) and a zone without one (Ho Chi Minh City), occupancy carried across
//! midnight, that the figures kept on disk survive a restart and follow a change made after it,
//! that they equal a full recompute from `history`, and that many marked days at once are
//! brought up to date too.

use jiff::civil::Date;
use parkmesh_parking::payload::{EntryPayload, ExitPayload, HistoryDeletePayload, Payload};
use parkmesh_protocol::{Event, EventKind};
use parkmesh_storage::{DailyReport, Storage};

mod common;

use common::{entry, open};

fn utc(text: &str) -> i64 {
    parkmesh_parking::time::parse_local(text, &jiff::tz::TimeZone::UTC).unwrap()
}

fn date(text: &str) -> Date {
    text.parse().unwrap()
}

fn event(origin: &str, seq: u64, at: i64, kind: EventKind, payload: serde_json::Value) -> Event {
    common::stream_event(origin, 1, seq, at, kind, payload)
}

fn exit(plate: &str, at_ms: i64) -> serde_json::Value {
    ExitPayload::at_gate(entry(plate, at_ms), None).to_value()
}

/// (entries, exits, revenue, avg stay, peak, peak hour) of `site` on `day`.
fn figures(r: &DailyReport, site: &str, day: &str) -> (u64, u64, i64, Option<i64>, i64, u8) {
    let row = r
        .rows
        .iter()
        .find(|x| x.site == site && x.date == date(day))
        .unwrap_or_else(|| panic!("no row {site} {day}"));
    let f = &row.figures;
    (
        f.entries,
        f.exits,
        f.revenue,
        f.avg_stay_secs,
        row.peak_occupancy,
        row.peak_hour,
    )
}

async fn report(s: &Storage) -> DailyReport {
    s.daily_report(date("2026-10-24"), date("2026-10-26"))
        .await
        .unwrap()
}

#[tokio::test]
async fn days_follow_each_sites_zone_and_incremental_equals_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "central-a").await;
    let tz = |o: &str, z: &str| {
        event(
            o,
            1,
            utc("2026-10-01 00:00:00"),
            EventKind::SiteTimezone,
            serde_json::json!({ "timezone": z }),
        )
    };
    s.apply_remote(vec![
        tz("berlin", "Europe/Berlin"),
        tz("hcm", "Asia/Ho_Chi_Minh"),
    ])
    .await
    .unwrap();
    // Berlin: 02:30 CEST (the first 02:30 of the 25-hour day) to 00:30 CET the next day, and
    // 23:30 to 23:50 CET. Ho Chi Minh City: 00:30 to 23:59 local (17:30 UTC the day before).
    let b1_in = utc("2026-10-25 00:30:00");
    let b1_out = utc("2026-10-25 23:30:00");
    let b2_in = utc("2026-10-25 22:30:00");
    let b2_out = utc("2026-10-25 22:50:00");
    let b3_in = utc("2026-10-25 20:00:00"); // a misread, deleted below
    let h_in = utc("2026-10-24 17:30:00");
    let h_out = utc("2026-10-25 16:59:00");
    let ent = EntryPayload::KIND;
    let ext = ExitPayload::KIND;
    s.apply_remote(vec![
        event(
            "berlin",
            2,
            b1_in,
            ent.clone(),
            entry("51A00001", b1_in).to_value(),
        ),
        event(
            "berlin",
            3,
            b2_in,
            ent.clone(),
            entry("51A00002", b2_in).to_value(),
        ),
        event("berlin", 4, b2_out, ext.clone(), exit("51A00002", b2_out)),
        event("berlin", 5, b1_out, ext.clone(), exit("51A00001", b1_out)),
        event(
            "berlin",
            6,
            b3_in,
            ent.clone(),
            entry("51A00005", b3_in).to_value(),
        ),
        event(
            "hcm",
            2,
            h_in,
            ent.clone(),
            entry("51A00003", h_in).to_value(),
        ),
        event("hcm", 3, h_out, ext.clone(), exit("51A00003", h_out)),
    ])
    .await
    .unwrap();
    let r = report(&s).await;
    let ids: Vec<(&str, &str)> = r
        .sites
        .iter()
        .map(|x| (x.id.as_str(), x.timezone.as_str()))
        .collect();
    assert_eq!(
        ids,
        [
            ("berlin", "Europe/Berlin"),
            ("central-a", "Asia/Ho_Chi_Minh"),
            ("hcm", "Asia/Ho_Chi_Minh")
        ]
    );
    assert_eq!(r.rows.len(), 9, "3 days × 3 sites");
    // The 25-hour day holds all three Berlin entries (UTC 00:30, 20:00 and 22:30).
    assert_eq!(figures(&r, "berlin", "2026-10-24"), (0, 0, 0, None, 0, 0));
    assert_eq!(
        figures(&r, "berlin", "2026-10-25"),
        (3, 1, 0, Some(1200), 3, 23)
    );
    // 23 hours: 23 started hours after the free half hour.
    assert_eq!(
        figures(&r, "berlin", "2026-10-26"),
        (0, 1, 23 * 25_000, Some(23 * 3600), 2, 0)
    );
    let stay = (h_out - h_in) / 1000;
    assert_eq!(
        figures(&r, "hcm", "2026-10-25"),
        (1, 1, 23 * 25_000, Some(stay), 1, 0)
    );
    assert_eq!(figures(&r, "hcm", "2026-10-24"), (0, 0, 0, None, 0, 0));

    // A delete, then a late entry: the kept figures follow, and equal a cold rebuild.
    let delete = HistoryDeletePayload {
        session: "berlin:1:6".into(),
        changed_by: "test".into(),
    };
    let late = utc("2026-10-25 10:00:00");
    s.apply_remote(vec![event(
        "berlin",
        7,
        utc("2026-10-27 00:00:00"),
        HistoryDeletePayload::KIND,
        delete.to_value(),
    )])
    .await
    .unwrap();
    let r = report(&s).await;
    assert_eq!(
        figures(&r, "berlin", "2026-10-25"),
        (2, 1, 0, Some(1200), 2, 23),
        "the deleted entry no longer counts"
    );
    assert_eq!(
        figures(&r, "berlin", "2026-10-26"),
        (0, 1, 23 * 25_000, Some(23 * 3600), 1, 0)
    );
    s.apply_remote(vec![event(
        "berlin",
        8,
        late,
        ent,
        entry("51A00004", late).to_value(),
    )])
    .await
    .unwrap();
    let warm = report(&s).await;
    // The late 11:00 CET entry is still inside at the end of the day.
    assert_eq!(
        figures(&warm, "berlin", "2026-10-25"),
        (3, 1, 0, Some(1200), 3, 23)
    );
    assert_eq!(
        figures(&warm, "berlin", "2026-10-26"),
        (0, 1, 23 * 25_000, Some(23 * 3600), 2, 0)
    );
    drop(s);
    let reopened = open(dir.path(), "central-a").await;
    assert_eq!(
        report(&reopened).await,
        warm,
        "the figures kept on disk survive a restart"
    );
    // A change after the restart, on the Ho Chi Minh day: its entry is deleted.
    reopened
        .apply_remote(vec![event(
            "hcm",
            4,
            utc("2026-10-27 00:00:00"),
            HistoryDeletePayload::KIND,
            HistoryDeletePayload {
                session: "hcm:1:2".into(),
                changed_by: "test".into(),
            }
            .to_value(),
        )])
        .await
        .unwrap();
    let changed = report(&reopened).await;
    // The car had left before the delete: the deleted session no longer counts, its exit
    // included (it is not left behind as an exception).
    assert_eq!(
        figures(&changed, "hcm", "2026-10-25"),
        (0, 0, 0, None, 0, 0)
    );
    let hcm = changed
        .rows
        .iter()
        .find(|x| x.site == "hcm" && x.date == date("2026-10-25"))
        .unwrap();
    assert_eq!(hcm.figures.exception_sessions(), 0);
    assert_eq!(
        figures(&changed, "berlin", "2026-10-25"),
        figures(&warm, "berlin", "2026-10-25"),
        "other sites' days are untouched"
    );
    drop(reopened);
    // Dropping the kept figures makes the next report recompute them all from `history`.
    let raw = rusqlite::Connection::open(dir.path().join("central.db")).unwrap();
    raw.execute_batch("DELETE FROM report_state; DELETE FROM report_days;")
        .unwrap();
    drop(raw);
    let rebuilt = open(dir.path(), "central-a").await;
    assert_eq!(
        report(&rebuilt).await,
        changed,
        "a cold rebuild equals the figures kept up to date by the marks"
    );
    let raw = rusqlite::Connection::open(dir.path().join("central.db")).unwrap();
    let (days, marks): (i64, i64) = raw
        .query_row(
            "SELECT (SELECT COUNT(*) FROM report_days), (SELECT COUNT(*) FROM report_marks)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (days, marks),
        (2, 0),
        "rows for berlin's 25th and 26th (hcm's 25th has no session left); no mark left over"
    );
}

#[tokio::test]
async fn many_marked_days_are_brought_up_to_date_by_a_full_recompute() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "central-a").await;
    let first = utc("2026-03-01 03:00:00");
    let from = date("2026-03-01");
    let to = date("2026-04-19");
    // A first report builds the (empty) kept figures; then 45 days of traffic arrive at once,
    // more marked days than a report recomputes under the write lock.
    assert!(
        s.daily_report(from, to)
            .await
            .unwrap()
            .rows
            .iter()
            .all(|r| r.figures.entries == 0)
    );
    let day = 86_400_000;
    let events: Vec<Event> = (0..45)
        .map(|i| {
            let at = first + i * day;
            let plate = format!("51A{i:05}");
            event(
                "hcm",
                u64::try_from(i).unwrap() + 1,
                at,
                EntryPayload::KIND,
                entry(&plate, at).to_value(),
            )
        })
        .collect();
    s.apply_remote(events).await.unwrap();
    let r = s.daily_report(from, to).await.unwrap();
    let hcm: Vec<u64> = r
        .rows
        .iter()
        .filter(|x| x.site == "hcm")
        .map(|x| x.figures.entries)
        .collect();
    assert_eq!(hcm.len(), 50);
    assert_eq!(hcm.iter().sum::<u64>(), 45);
    assert!(hcm[..45].iter().all(|n| *n == 1), "{hcm:?}");
    let last = r
        .rows
        .iter()
        .find(|x| x.site == "hcm" && x.date == to)
        .unwrap();
    assert_eq!(last.peak_occupancy, 45, "every car is still inside");
}
