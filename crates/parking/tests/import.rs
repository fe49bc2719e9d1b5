//! The fold with imported sessions: copies of one original session imported at several
//! centrals (same import key) make one session, whatever the order and whoever imported.

mod common;

use common::*;
use parkmesh_parking::fold::{SessionStatus, fold_plate};
use parkmesh_parking::import::ImportTag;
use parkmesh_parking::project;
use parkmesh_protocol::Event;

const KEY: &str = "parkai:edge-1_1767225600000_30A12345";

fn tag(mut e: Event, fee: Option<i64>) -> Event {
    let t = ImportTag {
        key: KEY.into(),
        source: Some("central-1".into()),
        fee,
        at_ms: None,
    };
    e.payload = t.attach(e.payload);
    e
}

/// Central `origin` imports the session: entry at T0, and (when `out`) the exit at T0+91 min
/// with the original's recorded fee.
fn copy(origin: &str, first_seq: u64, hlc: i64, out: bool) -> Vec<Event> {
    let mut first = entry(origin, first_seq, "30A12345", T0);
    first.hlc.wall_ms = hlc as u64;
    let mut v = vec![tag(first, None)];
    if out {
        v.push(tag(
            exit_with(
                origin,
                first_seq + 1,
                hlc,
                exit_payload("30A12345", T0 + 91 * MIN, None),
            ),
            Some(40_000),
        ));
    }
    v
}

#[test]
fn copies_of_one_session_fold_into_one_in_any_order() {
    let mut all = copy("central-1", 1, T0 + 1000, true);
    all.extend(copy("central-2", 1, T0 + 500, false));
    all.extend(copy("central-3", 1, T0 + 700, true));
    let expected = fold_plate(&all);
    assert_eq!(expected.sessions.len(), 1, "{expected:?}");
    assert!(expected.conflicts.is_empty(), "{:?}", expected.conflicts);
    let s = &expected.sessions[0];
    assert_eq!(s.status, SessionStatus::Out);
    assert_eq!(s.fee, 40_000, "the original's fee is kept");
    assert_eq!(s.source_central.as_str(), "central-1");
    assert_eq!(s.aliases.len(), 3, "{s:?}");
    for seed in 1..50 {
        let mut shuffled = all.clone();
        shuffle(&mut shuffled, seed);
        assert_eq!(fold_plate(&shuffled), expected, "seed {seed}");
    }
}

#[test]
fn a_car_in_at_import_exits_later_with_the_fee_from_its_entry() {
    let mut all = copy("central-1", 1, T0 + 1000, false);
    all.extend(copy("central-2", 1, T0 + 500, false));
    all.push(exit("central-2", 5, "30A12345", T0 + 3 * 60 * MIN, None));
    let f = fold_plate(&all);
    assert_eq!(f.sessions.len(), 1, "{f:?}");
    assert_eq!(f.sessions[0].fee, 75_000);
    assert!(f.conflicts.is_empty());
}

#[test]
fn an_edit_or_delete_through_any_copy_applies_to_the_one_session() {
    let mut all = copy("central-1", 1, T0 + 500, true);
    let b = copy("central-2", 1, T0 + 1000, true);
    // central-2's copy sorts second (later HLC): it is an alias; a delete names it.
    all.push(delete("central-2", 9, T0 + 2000, &b[0].id.to_string()));
    all.extend(b.clone());
    all.push(edit(
        "central-2",
        10,
        T0 + 3000,
        &b[1].id.to_string(),
        "30A12346",
    ));
    let p = project(&all);
    let sessions: Vec<_> = p.plates.values().flat_map(|f| f.sessions.iter()).collect();
    assert_eq!(sessions.len(), 1, "{p:?}");
    assert!(sessions[0].deleted);
    assert_eq!(sessions[0].plate_id, "30A12346");
    assert!(p.plates.contains_key("30A12346"));
}

#[test]
fn an_exit_does_not_reopen_a_deleted_imported_session_its_copy_closed() {
    let mut all = copy("central-1", 1, T0 + 500, true);
    all.push(delete(
        "central-1",
        9,
        T0 + 5 * 60 * MIN,
        &all[0].id.to_string(),
    ));
    // Made before the delete, but the imported exit closed the session already.
    all.push(exit("central-2", 5, "30A12345", T0 + 2 * 60 * MIN, None));
    let f = fold_plate(&all);
    assert_eq!(f.sessions.len(), 2, "{f:?}");
    let s = &f.sessions[0];
    assert!(s.deleted);
    assert_eq!((s.status, s.fee), (SessionStatus::Out, 40_000));
    assert_eq!(s.exit.as_ref().unwrap().event_id, all[1].id.to_string());
    assert!(f.sessions[1].exception);
}

#[test]
fn an_imported_exit_before_its_entry_waits_for_it() {
    let mut e = copy("central-1", 1, T0, true);
    // Odd original times: exit recorded before the entry time.
    e[1].payload["at_ms"] = serde_json::json!(T0 - 10 * MIN);
    let f = fold_plate(&e);
    assert_eq!(f.sessions.len(), 1, "{f:?}");
    assert!(!f.sessions[0].exception);
    assert_eq!(f.sessions[0].fee, 40_000);
}
