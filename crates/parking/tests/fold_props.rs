//! Properties of the fold: any permutation and duplication of an event set yields the same
//! sessions and conflicts; concurrent entries give one session and one conflict; an exit that
//! arrives before its entry merges into one closed session.

use parkmesh_parking::fold::{SessionStatus, fold_plate};
use parkmesh_parking::payload::{
    EntryPayload, ExitPayload, HistoryDeletePayload, HistoryEditPayload, Payload, Tariff,
};
use parkmesh_parking::project;
use parkmesh_protocol::{CentralId, Event, EventId, EventKind, Hlc};
use proptest::prelude::*;

const MIN: i64 = 60_000;

fn ev(origin: &str, seq: u64, at_ms: i64, kind: EventKind, payload: serde_json::Value) -> Event {
    Event {
        id: EventId {
            origin: CentralId::new(origin).unwrap(),
            incarnation: 1,
            seq,
        },
        hlc: Hlc {
            wall_ms: at_ms as u64,
            counter: 0,
        },
        kind,
        payload,
        schema: 1,
    }
}

fn entry(origin: &str, seq: u64, plate: &str, at_ms: i64) -> Event {
    let p = EntryPayload {
        plate_id: plate.into(),
        plate_view: plate.into(),
        at_ms,
        time_clamped: false,
        camera_id: Some(1),
        camera_name: "in".into(),
        camera_type: "ENTRY".into(),
        confidence: 0.9,
        source: "auto".into(),
        edge_event_id: Some(format!("edge-{origin}-{seq}")),
        edge_id: None,
    };
    ev(origin, seq, at_ms, EntryPayload::KIND, p.to_value())
}

fn exit(origin: &str, seq: u64, plate: &str, at_ms: i64, entry_ref: Option<String>) -> Event {
    let p = ExitPayload {
        plate_id: plate.into(),
        plate_view: plate.into(),
        at_ms,
        time_clamped: false,
        camera_id: Some(2),
        camera_name: "out".into(),
        camera_type: "EXIT".into(),
        confidence: 0.9,
        source: "auto".into(),
        edge_event_id: None,
        edge_id: None,
        entry_ref,
        tariff: Tariff::default(),
        exempt: None,
    };
    ev(origin, seq, at_ms, ExitPayload::KIND, p.to_value())
}

#[test]
fn concurrent_entries_give_one_session_and_one_conflict() {
    let a = entry("a", 1, "30A12345", 0);
    let b = entry("b", 1, "30A12345", 5 * MIN);
    for events in [vec![a.clone(), b.clone()], vec![b, a]] {
        let f = fold_plate(&events);
        assert_eq!(f.sessions.len(), 1);
        assert_eq!(f.conflicts.len(), 1);
        assert_eq!(f.conflicts[0].winner, "a:1:1");
        assert_eq!(f.conflicts[0].losers, vec!["b:1:1".to_owned()]);
    }
}

#[test]
fn exit_arriving_before_its_entry_merges() {
    let e = entry("a", 1, "30A12345", 0);
    let x = exit("c", 1, "30A12345", 91 * MIN, None);
    let only_exit = fold_plate(std::slice::from_ref(&x));
    assert!(only_exit.sessions[0].exception);
    let f = fold_plate(&[x, e]);
    assert_eq!(f.sessions.len(), 1);
    let s = &f.sessions[0];
    assert_eq!(
        (s.status, s.fee, s.exception),
        (SessionStatus::Out, 50_000, false)
    );
    assert_eq!(s.duration.as_deref(), Some("1 giờ 31 phút"));
}

#[test]
fn exit_with_entry_ref_completes_a_later_sorting_entry() {
    // Clock skew: the entry's time is after the exit's, but the exit names it.
    let e = entry("a", 1, "30A12345", 10 * MIN);
    let x = exit("c", 1, "30A12345", 5 * MIN, Some("edge-a-1".into()));
    let f = fold_plate(&[x, e]);
    assert_eq!(f.sessions.len(), 1, "{f:?}");
    assert_eq!(f.sessions[0].status, SessionStatus::Out);
    assert!(!f.sessions[0].exception);
}

#[test]
fn edits_and_deletes_apply_by_session_id() {
    let e = entry("a", 1, "30A1234", 0);
    let edit = ev(
        "b",
        1,
        MIN,
        EventKind::HistoryEdit,
        HistoryEditPayload {
            session: "a:1:1".into(),
            plate_id: "30A12345".into(),
            plate_view: "30A-123.45".into(),
            changed_by: "op".into(),
        }
        .to_value(),
    );
    let del = ev(
        "b",
        2,
        2 * MIN,
        EventKind::HistoryDelete,
        HistoryDeletePayload {
            session: "a:1:1".into(),
            changed_by: "op".into(),
        }
        .to_value(),
    );
    let f = fold_plate(&[edit.clone(), e.clone()]);
    assert_eq!(f.sessions[0].plate_view, "30A-123.45");
    let f = fold_plate(&[e, edit, del, entry("a", 2, "30A1234", 3 * MIN)]);
    assert!(f.sessions[0].deleted);
    assert_eq!(
        f.sessions.len(),
        2,
        "a deleted session does not block a new entry"
    );
    assert!(f.conflicts.is_empty());
}

fn arb_events() -> impl Strategy<Value = Vec<Event>> {
    let one = (0u8..3, 0u8..3, 0i64..600, any::<bool>());
    prop::collection::vec(one, 1..24).prop_map(|specs| {
        specs
            .into_iter()
            .enumerate()
            .map(|(i, (origin, plate, minute, is_entry))| {
                let origin = ["a", "b", "c"][origin as usize];
                let plate = ["30A11111", "30A22222", "30A33333"][plate as usize];
                let seq = i as u64 + 1;
                if is_entry {
                    entry(origin, seq, plate, minute * MIN)
                } else {
                    exit(origin, seq, plate, minute * MIN, None)
                }
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn any_permutation_and_duplication_gives_the_same_projection(
        events in arb_events(),
        shuffle in any::<u64>(),
        dups in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let reference = project(&events);
        let mut mixed = events.clone();
        for d in &dups {
            mixed.push(events[d.index(events.len())].clone());
        }
        // Deterministic Fisher–Yates from the seed.
        let mut x = shuffle | 1;
        for i in (1..mixed.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            mixed.swap(i, (x % (i as u64 + 1)) as usize);
        }
        prop_assert_eq!(project(&mixed), reference);
    }
}
