//! Storage contract: the incremental re-fold from the stored settled point equals the
//! projection of the log, whatever fold ran. Backend-neutral (see `common::Backend`), except the
//! final check that the incremental path ran, which reads the SQLite backend's table.

use parkmesh_parking::payload::{
    EntryPayload, ExitPayload, HistoryDeletePayload, LocationPayload, Payload,
};
use parkmesh_protocol::Event;

mod common;

use common::scenario::*;
use common::{entry, open};

// ---- Incremental re-fold from the stored settled point -----------------------------------

/// A long history of two plates (visits by event id and by edge id, a repeated edge id, exits
/// before entries, sightings, concurrent entries, late events, edits and deletes) arrives in
/// small replicated batches, mostly in order; the stored sessions and conflicts must equal the
/// projection of the log after every few batches, whichever fold (incremental or full) ran.
#[tokio::test]
async fn incremental_refolds_equal_the_projection_of_the_log() {
    // Several histories: the writer remembers the unsettled parts of the groups it folded across
    // commands, and every one must give what a rebuild gives.
    for seed in [
        0x9e37_79b9_7f4a_7c15u64,
        0x2545_f491_4f6c_dd1d,
        0x1234_5678_9abc_def1,
        0x0bad_cafe_dead_beef,
        7,
        0x5851_f42d_4c95_7f2d,
    ] {
        incremental_case(seed).await;
    }
}

async fn incremental_case(mut seed: u64) {
    let mut rnd = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let plates = ["30A00001", "30A00002"];
    let mut events = Vec::new();
    let mut entries: Vec<(Event, String)> = Vec::new();
    let mut seq = 0u64;
    let mut at = T0;
    for _ in 0..120 {
        seq += 1;
        at += 60_000 * (1 + rnd(90) as i64);
        // Now and then an event from an hour ago (a late edge queue).
        let t = if rnd(10) == 0 { at - HOUR } else { at };
        let plate = plates[rnd(2) as usize];
        let origin = ["central-b", "central-c"][rnd(2) as usize];
        let e = match rnd(24) {
            0..=8 => {
                let edge = if rnd(8) == 0 {
                    "dup".to_owned()
                } else {
                    format!("e{seq}")
                };
                let p = entry(plate, t).with_edge("1", Some(edge.clone()));
                let e = remote(origin, seq, t, p.to_value(), EntryPayload::KIND);
                entries.push((e.clone(), edge));
                e
            }
            9..=17 => {
                let r = match (rnd(3), entries.is_empty()) {
                    (0, _) | (_, true) => None,
                    (1, false) => Some(entries[rnd(entries.len() as u64) as usize].1.clone()),
                    _ => Some(entries[entries.len() - 1].0.id.to_string()),
                };
                let p = ExitPayload {
                    entry_ref: r,
                    ..exit(plate, t)
                };
                remote(origin, seq, t, p.to_value(), ExitPayload::KIND)
            }
            18..=20 => {
                let p = LocationPayload {
                    plate_id: plate.into(),
                    plate_view: plate.into(),
                    location: "Zone A".into(),
                    at_ms: t,
                    camera_id: Some(3),
                    camera_name: "Zone A".into(),
                    edge_event_id: None,
                };
                remote(origin, seq, t, p.to_value(), LocationPayload::KIND)
            }
            21 if !events.is_empty() => {
                let target: &Event = &events[rnd(events.len() as u64) as usize];
                edit_event(origin, seq, t, edit(target, plates[rnd(2) as usize]))
            }
            22 if !events.is_empty() => {
                let target: &Event = &events[rnd(events.len() as u64) as usize];
                remote(origin, seq, t, delete(target), HistoryDeletePayload::KIND)
            }
            _ => remote(
                origin,
                seq,
                t,
                entry(plate, t).to_value(),
                EntryPayload::KIND,
            ),
        };
        events.push(e);
    }
    // Arrival: in order, with one event in ten held back and delivered a few batches later.
    let mut arrival = Vec::new();
    let mut held_back = Vec::new();
    for e in events {
        if rnd(10) == 0 {
            held_back.push(e);
        } else {
            arrival.push(e);
            if rnd(4) == 0 {
                arrival.append(&mut held_back);
            }
        }
    }
    arrival.append(&mut held_back);

    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "central-a").await;
    let db = dir.path().join("central.db");
    let mut rest = arrival.as_slice();
    let mut n = 0;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at((1 + rnd(3) as usize).min(rest.len()));
        s.apply_remote(chunk.to_vec()).await.unwrap();
        rest = tail;
        n += 1;
        if n % 10 == 0 || rest.is_empty() {
            assert_equals_projection(&s, &db).await;
        }
    }
    // An exit that arrives before its entry waits as an exception after the settled point; the
    // entry then completes it, and the exception's row goes.
    let plate = "30A00003";
    let visit = |seq: u64, at: i64, edge: &str| {
        let p = entry(plate, at).with_edge("1", Some(edge.into()));
        let x = ExitPayload {
            entry_ref: Some(edge.into()),
            ..exit(plate, at + HOUR)
        };
        (
            remote("central-b", seq, at, p.to_value(), EntryPayload::KIND),
            remote(
                "central-b",
                seq + 1,
                at + HOUR,
                x.to_value(),
                ExitPayload::KIND,
            ),
        )
    };
    let (e1, x1) = visit(1000, T0, "v1");
    let (e2, x2) = visit(1002, T0 + 3 * HOUR, "v2");
    s.apply_remote(vec![e1, x1]).await.unwrap();
    s.apply_remote(vec![x2]).await.unwrap();
    s.apply_remote(vec![e2]).await.unwrap();
    assert_equals_projection(&s, &db).await;

    // The incremental path ran: some plate has a settled point after its first event.
    if common::Backend::under_test() != common::Backend::Sqlite {
        return;
    }
    let conn = rusqlite::Connection::open(&db).unwrap();
    let cuts: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM settled_points WHERE at_ms IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(cuts > 0);
}
