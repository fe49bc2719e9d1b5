//! Scenario tests of the session fold and the projection: conflicts, exits that arrive before
//! their entries, sightings, operator edits and deletes, and grouping under corrected plates.

mod common;

use common::*;
use parkmesh_parking::fold::{
    CONCURRENT_ENTRY, DUPLICATE_EXIT, SessionStatus, fold_plate, plate_key,
};
use parkmesh_parking::payload::{EntryPayload, Payload, Tariff};
use parkmesh_parking::{blocks_entry, effective_plate, project};
use parkmesh_protocol::EventKind;

const P: &str = "30A12345";

#[test]
fn entry_then_exit_is_one_closed_session_with_fee_and_duration() {
    let f = fold_plate(&[entry("a", 1, P, T0), exit("a", 2, P, T0 + 91 * MIN, None)]);
    assert_eq!(f.sessions.len(), 1);
    let s = &f.sessions[0];
    assert_eq!(s.id, id("a", 1));
    assert_eq!((s.status, s.fee), (SessionStatus::Out, 50_000));
    assert_eq!(s.duration.as_deref(), Some("1 giờ 31 phút"));
    assert_eq!(
        s.entry.as_ref().unwrap().edge_event_id.as_deref(),
        Some("edge-a-1")
    );
    assert_eq!(s.exit.as_ref().unwrap().event_id, id("a", 2));
    assert!(!s.exception && !s.is_anomaly && !s.deleted);
    assert!(f.conflicts.is_empty());
    assert_eq!(f.open(), None);
}

#[test]
fn concurrent_entries_give_one_session_and_one_conflict() {
    let a = entry("a", 1, P, T0);
    let b = entry("b", 1, P, T0 + 5 * MIN);
    let c = entry("c", 1, P, T0 + 6 * MIN);
    for events in [
        vec![a.clone(), b.clone()],
        vec![b.clone(), a.clone()],
        vec![b.clone(), b.clone(), a.clone()],
    ] {
        let f = fold_plate(&events);
        assert_eq!(f.sessions.len(), 1);
        assert_eq!(f.conflicts.len(), 1);
        let c = &f.conflicts[0];
        assert_eq!(
            (c.kind.as_str(), c.plate_id.as_str()),
            (CONCURRENT_ENTRY, P)
        );
        assert_eq!(c.winner, id("a", 1));
        assert_eq!(c.losers, vec![id("b", 1)]);
        assert_eq!(c.at_ms, T0 + 5 * MIN);
    }
    let f = fold_plate(&[c, b, a]);
    assert_eq!(f.conflicts.len(), 1, "one conflict per winner");
    assert_eq!(f.conflicts[0].losers, vec![id("b", 1), id("c", 1)]);
}

#[test]
fn exit_arriving_before_its_entry_merges() {
    let e = entry("a", 1, P, T0);
    let x = exit("c", 1, P, T0 + 91 * MIN, None);
    let only_exit = fold_plate(std::slice::from_ref(&x));
    assert!(only_exit.sessions[0].exception);
    assert_eq!(only_exit.sessions[0].status, SessionStatus::Out);
    assert!(only_exit.sessions[0].entry.is_none());
    let f = fold_plate(&[x, e]);
    assert_eq!(f.sessions.len(), 1);
    let s = &f.sessions[0];
    assert_eq!(
        (s.status, s.fee, s.exception),
        (SessionStatus::Out, 50_000, false)
    );
    assert_eq!(s.id, id("a", 1));
}

#[test]
fn same_millisecond_entry_and_exit_pair_whatever_the_hlc() {
    // The exit was recorded with an earlier HLC than the entry (another central's clock).
    let e = entry("a", 1, P, T0);
    let x = exit_with("b", 1, T0 - 10_000, exit_payload(P, T0, None));
    let f = fold_plate(&[x, e]);
    assert_eq!(f.sessions.len(), 1, "{f:?}");
    assert_eq!(f.sessions[0].status, SessionStatus::Out);
    assert!(!f.sessions[0].exception);
}

#[test]
fn exit_with_entry_ref_completes_a_later_sorting_entry() {
    // Clock skew: the entry's time is after the exit's, but the exit names it.
    let e = entry("a", 1, P, T0 + 10 * MIN);
    let x = exit("c", 1, P, T0 + 5 * MIN, Some("edge-a-1".into()));
    let f = fold_plate(&[x.clone(), e.clone()]);
    assert_eq!(f.sessions.len(), 1, "{f:?}");
    let s = &f.sessions[0];
    assert_eq!(s.status, SessionStatus::Out);
    assert!(!s.exception);
    assert_eq!(
        s.id,
        id("a", 1),
        "the merged session carries the entry's id"
    );
    assert_eq!(s.fee, 0, "a negative stay is free");
    assert_eq!(fold_plate(&[e, x]), f);
}

#[test]
fn entry_ref_picks_the_named_session_not_the_open_one() {
    let first = entry("a", 1, P, T0);
    let second = entry("b", 1, P, T0 + MIN);
    let x = exit("a", 2, P, T0 + 90 * MIN, Some(id("a", 1)));
    let f = fold_plate(&[x, second, first]);
    assert_eq!(f.sessions.len(), 1);
    assert_eq!(f.sessions[0].status, SessionStatus::Out);
    assert_eq!(f.conflicts[0].losers, vec![id("b", 1)]);
}

#[test]
fn second_exit_naming_a_closed_session_is_a_duplicate_exit_conflict() {
    let e = entry("a", 1, P, T0);
    let x1 = exit("a", 2, P, T0 + 40 * MIN, Some("edge-a-1".into()));
    let x2 = exit("b", 1, P, T0 + 41 * MIN, Some("edge-a-1".into()));
    let f = fold_plate(&[x2, x1, e]);
    assert_eq!(f.sessions.len(), 1);
    assert_eq!(f.sessions[0].fee, 25_000);
    assert_eq!(f.conflicts.len(), 1);
    assert_eq!(f.conflicts[0].kind, DUPLICATE_EXIT);
    assert_eq!(f.conflicts[0].winner, id("a", 1));
    assert_eq!(f.conflicts[0].losers, vec![id("b", 1)]);
}

#[test]
fn exit_with_no_session_is_an_exception_and_keeps_its_exemption() {
    let mut p = exit_payload(P, T0, None);
    p.exempt = Some("monthly".into());
    let f = fold_plate(&[exit_with("a", 1, T0, p)]);
    let s = &f.sessions[0];
    assert!(s.exception);
    assert_eq!((s.id.as_str(), s.fee), (id("a", 1).as_str(), 0));
    assert_eq!(s.exempt.as_deref(), Some("monthly"));
}

#[test]
fn exit_uses_its_own_tariff_and_exemption() {
    let mut p = exit_payload(P, T0 + 3 * 60 * MIN, None);
    p.tariff = Tariff {
        fee_base: 0.0,
        fee_per_hour: 10_000,
    };
    let f = fold_plate(&[entry("a", 1, P, T0), exit_with("b", 1, T0, p.clone())]);
    assert_eq!(f.sessions[0].fee, 30_000);
    p.exempt = Some("company".into());
    let f = fold_plate(&[entry("a", 1, P, T0), exit_with("b", 1, T0, p)]);
    assert_eq!(f.sessions[0].fee, 0);
    assert_eq!(f.sessions[0].exempt.as_deref(), Some("company"));
    assert_eq!(f.sessions[0].duration.as_deref(), Some("3 giờ 0 phút"));
}

#[test]
fn sightings_update_the_open_session_or_open_an_anomaly() {
    let f = fold_plate(&[
        entry("a", 1, P, T0),
        location("a", 2, P, T0 + MIN, "Zone A"),
        location("a", 3, P, T0 + 2 * MIN, "Zone B"),
    ]);
    assert_eq!(f.sessions.len(), 1);
    assert_eq!(f.sessions[0].last_location.as_deref(), Some("Zone B"));
    assert_eq!(f.sessions[0].last_location_ms, Some(T0 + 2 * MIN));

    let anomaly = fold_plate(&[location("a", 1, P, T0, "Zone A")]);
    let s = &anomaly.sessions[0];
    assert!(s.is_anomaly);
    assert_eq!(
        (s.status, s.id.as_str()),
        (SessionStatus::In, id("a", 1).as_str())
    );
    assert_eq!(s.entry.as_ref().unwrap().source, "parking_lot_auto");
    assert!(
        !anomaly.sessions.iter().any(|s| s.blocks_entry()),
        "an anomaly does not block entry"
    );

    // A later entry supersedes the anomaly; an exit then closes the entry's session.
    let f = fold_plate(&[
        location("a", 1, P, T0, "Zone A"),
        entry("a", 2, P, T0 + MIN),
        exit("a", 3, P, T0 + 20 * MIN, None),
    ]);
    assert_eq!(f.sessions.len(), 2);
    assert_eq!(f.sessions[0].status, SessionStatus::Out);
    assert!(f.sessions[0].exit.is_none());
    assert_eq!(f.sessions[1].exit.as_ref().unwrap().event_id, id("a", 3));
    assert!(f.conflicts.is_empty());

    // An exit closes an anomaly, billed from the first sighting (the seed's entry time).
    let f = fold_plate(&[
        location("a", 1, P, T0, "Zone A"),
        exit("a", 2, P, T0 + 31 * MIN, None),
    ]);
    assert_eq!((f.sessions.len(), f.sessions[0].fee), (1, 25_000));
}

#[test]
fn an_open_entry_blocks_a_new_entry_until_it_is_closed_or_deleted() {
    let f = fold_plate(&[entry("a", 1, P, T0)]);
    assert!(f.sessions[0].blocks_entry());
    let f = fold_plate(&[entry("a", 1, P, T0), exit("a", 2, P, T0 + MIN, None)]);
    assert!(
        !f.sessions[0].blocks_entry(),
        "a closed session does not block"
    );
    let f = fold_plate(&[entry("a", 1, P, T0), delete("a", 2, T0 + MIN, &id("a", 1))]);
    assert!(f.sessions[0].deleted);
    assert!(
        !f.sessions[0].blocks_entry(),
        "a deleted session does not block"
    );
    assert!(blocks_entry(SessionStatus::In, false, false));
    assert!(!blocks_entry(SessionStatus::In, false, true));
    assert!(!blocks_entry(SessionStatus::In, true, false));
    assert!(!blocks_entry(SessionStatus::Out, false, false));
}

#[test]
fn newest_edit_wins_and_deletes_tombstone() {
    let e = entry("a", 1, P, T0);
    let older = edit("b", 1, T0 + MIN, &id("a", 1), "30A11111");
    let newer = edit("c", 1, T0 + 2 * MIN, &id("a", 1), "30A22222");
    let f = fold_plate(&[newer.clone(), e.clone(), older.clone()]);
    assert_eq!(f.sessions[0].plate_id, "30A22222");
    assert_eq!(
        effective_plate(&e, &[older.clone(), newer.clone()]),
        "30A22222"
    );
    assert_eq!(effective_plate(&e, &[]), P);

    let del = delete("b", 2, T0 + 3 * MIN, &id("a", 1));
    let f = fold_plate(&[e.clone(), del.clone(), entry("a", 2, P, T0 + 4 * MIN)]);
    assert!(f.sessions[0].deleted);
    assert_eq!(
        f.sessions.len(),
        2,
        "a deleted session does not block a new entry"
    );
    assert!(f.conflicts.is_empty());
    assert_eq!(f.open().map(|s| s.id.clone()), Some(id("a", 2)));

    // An exit without a ref does not close a deleted session; one that names it does.
    let f = fold_plate(&[e.clone(), del.clone(), exit("a", 3, P, T0 + 60 * MIN, None)]);
    assert_eq!(f.sessions.len(), 2);
    assert!(f.sessions[1].exception);
    let f = fold_plate(&[e, del, exit("a", 3, P, T0 + 60 * MIN, Some(id("a", 1)))]);
    assert_eq!(f.sessions.len(), 1);
    assert!(f.sessions[0].deleted);
    assert_eq!(f.sessions[0].status, SessionStatus::Out);
}

#[test]
fn deleting_a_closed_session_keeps_its_exit_in_it() {
    // The car entered and left; then an operator at another central deleted the record.
    let e = entry("a", 1, P, T0);
    let x = exit("a", 2, P, T0 + 60 * MIN, None);
    let del = delete("b", 1, T0 + 61 * MIN, &id("a", 1));
    for events in [
        vec![e.clone(), x.clone(), del.clone()],
        vec![del.clone(), x.clone(), e.clone()],
    ] {
        let f = fold_plate(&events);
        assert_eq!(f.sessions.len(), 1, "the exit is not left as an exception");
        let s = &f.sessions[0];
        assert!(s.deleted && !s.exception);
        assert_eq!((s.status, s.fee), (SessionStatus::Out, 25_000));
        assert_eq!(s.exit.as_ref().unwrap().event_id, id("a", 2));
        assert!(f.conflicts.is_empty());
        assert_eq!(f.open(), None);
    }
    // A second exit without a ref made after the delete has no session to close.
    let late = exit("a", 3, P, T0 + 90 * MIN, None);
    let f = fold_plate(&[e.clone(), x.clone(), del.clone(), late]);
    assert_eq!(f.sessions.len(), 2);
    assert!(f.sessions[1].exception);
    // An entry between the deleted one and the exit opens its own session, which the exit closes.
    let again = entry("a", 4, P, T0 + 30 * MIN);
    let f = fold_plate(&[e, again, x, del]);
    assert_eq!(f.sessions.len(), 2);
    assert!(f.sessions[0].deleted && f.sessions[0].exit.is_none());
    assert_eq!(f.sessions[1].id, id("a", 4));
    assert_eq!(f.sessions[1].status, SessionStatus::Out);
    assert!(f.conflicts.is_empty());
}

#[test]
fn edits_made_on_an_exception_survive_the_merge_with_its_entry() {
    let x = exit("b", 1, P, T0 + 60 * MIN, Some("edge-a-1".into()));
    let fix = edit("b", 2, T0 + 61 * MIN, &id("b", 1), "30A54321");
    let e = entry("a", 1, P, T0);
    let f = fold_plate(&[x, fix, e]);
    assert_eq!(f.sessions.len(), 1);
    assert_eq!(f.sessions[0].id, id("a", 1));
    assert_eq!(f.sessions[0].plate_id, "30A54321");
}

#[test]
fn malformed_and_foreign_events_are_skipped() {
    let mut bad = entry("a", 1, P, T0);
    bad.payload["at_ms"] = serde_json::json!("noon");
    let other = ev(
        "a",
        2,
        T0,
        EventKind::Other("future.kind".into()),
        serde_json::json!({}),
    );
    let f = fold_plate(&[bad, other, entry("a", 3, P, T0)]);
    assert_eq!(f.sessions.len(), 1);
    assert_eq!(plate_key(&entry("a", 1, P, T0)).as_deref(), Some(P));
    assert_eq!(plate_key(&delete("a", 1, T0, "a:1:1")), None);
}

#[test]
fn corrected_plate_is_closed_by_an_exit_of_the_corrected_plate() {
    // Misread at entry as 30A1234X-ish "30A12346"; the operator corrects it while inside.
    let e = entry("a", 1, "30A12346", T0);
    let fix = edit("a", 2, T0 + MIN, &id("a", 1), P);
    let x = exit("b", 1, P, T0 + 91 * MIN, None);
    let mut events = vec![e.clone(), fix.clone(), x.clone()];
    let reference = project(&events);
    assert_eq!(reference.plates.len(), 1, "{reference:?}");
    let s = &reference.plates[P].sessions[0];
    assert_eq!(
        (s.status, s.fee, s.exception),
        (SessionStatus::Out, 50_000, false)
    );
    assert_eq!(effective_plate(&e, &[fix]), P);
    for seed in 1..20 {
        shuffle(&mut events, seed);
        assert_eq!(project(&events), reference);
    }
}

#[test]
fn a_closed_session_corrected_afterwards_moves_with_both_sides() {
    let wrong = "30A12346";
    let events = [
        entry("a", 1, wrong, T0),
        exit("a", 2, wrong, T0 + 60 * MIN, None),
        edit("a", 3, T0 + 70 * MIN, &id("a", 1), P),
    ];
    let p = project(&events);
    assert_eq!(p.plates.keys().collect::<Vec<_>>(), vec![P]);
    let f = &p.plates[P];
    assert_eq!(f.sessions.len(), 1);
    assert_eq!(f.sessions[0].status, SessionStatus::Out);
    assert_eq!(f.sessions[0].plate_id, P);
}

#[test]
fn a_corrected_concurrent_entry_leaves_the_conflict() {
    // B read the plate wrong during a partition and its operator fixed it.
    let other = "51G88888";
    let events = [
        entry("a", 1, P, T0),
        entry("b", 1, P, T0 + MIN),
        edit("b", 2, T0 + 2 * MIN, &id("b", 1), other),
    ];
    let p = project(&events);
    assert!(p.plates[P].conflicts.is_empty(), "{p:?}");
    assert_eq!(p.plates[other].sessions[0].id, id("b", 1));
    assert_eq!(p.plates[other].sessions[0].plate_id, other);
    // Without the correction the conflict stands.
    assert_eq!(project(&events[..2]).plates[P].conflicts.len(), 1);
}

#[test]
fn projection_keeps_the_newest_settings() {
    let fees = |seq: u64, hlc: i64, per_hour: i64| {
        let t = Tariff {
            fee_base: 0.5,
            fee_per_hour: per_hour,
        };
        ev("a", seq, hlc, Tariff::KIND, t.to_value())
    };
    let zone = |seq: u64, hlc: i64, cap: i64| {
        ev(
            "b",
            seq,
            hlc,
            EventKind::ZoneConfig,
            serde_json::json!({"location_name": "Zone A", "capacity": cap}),
        )
    };
    let p = project(&[
        fees(2, T0 + 1, 30_000),
        zone(1, T0, 10),
        fees(1, T0, 20_000),
        zone(2, T0 + 5, 12),
    ]);
    assert_eq!(p.settings["fees.set"]["fee_per_hour"], 30_000);
    assert_eq!(p.zones["Zone A"]["capacity"], 12);
    assert_eq!(p.settings.len(), 1);
    assert!(!p.settings.contains_key(EntryPayload::KIND.as_str()));
}
