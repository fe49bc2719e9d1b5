//! Unit tests of the ParkAI import plan.

use super::*;

fn tz() -> TimeZone {
    crate::time::parse_tz("Asia/Ho_Chi_Minh").unwrap()
}

fn row(id: i64, plate: &str, status: &str) -> OriginalSession {
    OriginalSession {
        id,
        event_id: Some(format!("edge-1_17000000000{id:02}_{plate}")),
        plate_id: Some(plate.to_owned()),
        plate_view: Some(plate.to_owned()),
        entry_time: Some("2026-01-01 07:00:00".to_owned()),
        exit_time: (status == "OUT").then(|| "2026-01-01 08:31:00".to_owned()),
        fee: Some(if status == "OUT" { 50_000 } else { 0 }),
        status: Some(status.to_owned()),
        ..OriginalSession::default()
    }
}

#[test]
fn sessions_keep_times_fee_and_key() {
    let mut copy = row(2, "30A12345", "OUT");
    copy.source_central = Some("central-1".into());
    let p = plan(&[row(1, "29a-123.45", "IN"), copy], &[], "central-2", &tz());
    assert!(p.rejected.is_empty(), "{:?}", p.rejected);
    let a = &p.sessions[0];
    assert_eq!(a.entry.plate_id, "29A12345");
    assert_eq!(a.entry.plate_view, "29A-123.45");
    assert_eq!(a.entry.at_ms, 1_767_225_600_000);
    assert_eq!(a.key, "parkai:edge-1_1700000000001_29a-123.45");
    assert!(a.exit.is_none());
    let b = &p.sessions[1];
    assert_eq!(b.source, "central-1");
    assert_eq!(b.key, "parkai:edge-1_1700000000002_30A12345");
    let (exit, fee) = b.exit.as_ref().unwrap();
    assert_eq!(
        (exit.gate.at_ms - b.entry.at_ms, *fee),
        (91 * 60_000, 50_000)
    );
}

#[test]
fn bad_rows_are_rejected_with_the_reason() {
    let mut bad_time = row(1, "30A12345", "IN");
    bad_time.entry_time = Some("hôm qua".into());
    let bad_plate = row(2, "--", "IN");
    let mut bad_exit = row(3, "30A12345", "OUT");
    bad_exit.exit_time = None;
    let bad_status = row(4, "30A12345", "PARKED");
    let p = plan(
        &[bad_time, bad_plate, bad_exit, bad_status],
        &[],
        "c",
        &tz(),
    );
    assert!(p.sessions.is_empty());
    let reasons: Vec<_> = p
        .rejected
        .iter()
        .map(|r| (r.row_id, r.reason.as_str()))
        .collect();
    assert!(
        reasons[0].1.contains("entry_time \"hôm qua\""),
        "{reasons:?}"
    );
    assert!(reasons[1].1.contains("plate_id \"--\""), "{reasons:?}");
    assert!(reasons[2].1.contains("exit_time empty"), "{reasons:?}");
    assert!(reasons[3].1.contains("status \"PARKED\""), "{reasons:?}");
}

#[test]
fn corrections_start_from_the_plate_read_and_deleted_rows_are_rebuilt() {
    let edited = row(1, "30A99999", "IN");
    let fix = OriginalChange {
        id: 10,
        history_id: Some(1),
        change_type: Some("UPDATE".into()),
        old_plate_id: Some("30A9999".into()),
        old_plate_view: Some("30A-9999".into()),
        new_plate_id: Some("30A99999".into()),
        new_plate_view: Some("30A-99999".into()),
        changed_at: Some("2026-01-01 01:00:00".into()),
        ..OriginalChange::default()
    };
    let gone = row(7, "51F11111", "OUT");
    let old_data = format!(
        r#"{{"id": 7, "event_id": {:?}, "plate_id": "51F11111", "plate_view": "51F-111.11",
            "entry_time": "2026-01-01 07:00:00", "exit_time": "2026-01-01 08:31:00", "fee": 50000,
            "status": "OUT"}}"#,
        gone.event_id.unwrap()
    );
    let delete = OriginalChange {
        id: 11,
        history_id: Some(7),
        change_type: Some("DELETE".into()),
        old_data: Some(old_data),
        ..OriginalChange::default()
    };
    let orphan = OriginalChange {
        id: 12,
        history_id: Some(8),
        change_type: Some("UPDATE".into()),
        new_plate_id: Some("30A11111".into()),
        ..OriginalChange::default()
    };
    let p = plan(&[edited], &[fix, delete, orphan], "c", &tz());
    assert_eq!(p.sessions.len(), 2);
    let s = &p.sessions[0];
    assert_eq!(
        (s.entry.plate_id.as_str(), s.entry.plate_view.as_str()),
        ("30A9999", "30A-9999")
    );
    assert_eq!(s.changes.len(), 1);
    assert_eq!(s.changes[0].at_ms, Some(1_767_229_200_000));
    assert!(
        matches!(&s.changes[0].kind, ChangeKind::Edit { plate_id, .. } if plate_id == "30A99999")
    );
    let d = &p.sessions[1];
    assert_eq!((d.row_id, d.entry.plate_view.as_str()), (7, "51F-111.11"));
    assert_eq!(d.exit.as_ref().map(|x| x.1), Some(50_000));
    assert_eq!(d.changes[0].kind, ChangeKind::Delete);
    assert_eq!(p.rejected.len(), 1);
    assert_eq!(
        (p.rejected[0].table, p.rejected[0].row_id),
        ("history_changes", 12)
    );
}
