//! Scenario helpers shared by the storage contract tests: payloads, replicated events, and the
//! check that the stored sessions and conflicts equal the projection of the stored log.

use parkmesh_parking::payload::{
    EntryPayload, ExitPayload, HistoryDeletePayload, HistoryEditPayload, LocationPayload, Payload,
};
use parkmesh_protocol::Event;
use parkmesh_storage::{HistoryQuery, Ingested, Intent, Storage};

use super::entry;

pub fn exit(plate: &str, at_ms: i64) -> ExitPayload {
    let gate = entry(plate, at_ms)
        .with_camera(2, "Exit", "EXIT")
        .with_edge("2", None);
    ExitPayload::at_gate(gate, None)
}

/// An entry of `plate` at `at` and its exit two hours later; the exit's session row.
pub async fn visit(s: &Storage, plate: &str, at: i64) -> Box<parkmesh_storage::HistoryRow> {
    s.ingest(Intent::Entry {
        payload: entry(plate, at),
        request_key: None,
    })
    .await
    .unwrap();
    let out = s
        .ingest(Intent::Exit {
            payload: exit(plate, at + 2 * HOUR),
            matching: parkmesh_parking::plate::ExitMatch::Exact,
            request_key: None,
        })
        .await
        .unwrap();
    let Ingested::Stored {
        session: Some(row), ..
    } = out
    else {
        panic!("expected a stored exit with its session")
    };
    row
}

pub fn remote(
    origin: &str,
    seq: u64,
    at: i64,
    payload: serde_json::Value,
    kind: parkmesh_protocol::EventKind,
) -> Event {
    super::stream_event(origin, 7, seq, at, kind, payload)
}

pub const T0: i64 = 1_790_000_000_000;
pub const HOUR: i64 = 3_600_000;

pub fn edit(session: &Event, plate: &str) -> serde_json::Value {
    HistoryEditPayload {
        session: session.id.to_string(),
        plate_id: plate.into(),
        plate_view: plate.into(),
        changed_by: "operator".into(),
    }
    .to_value()
}

pub fn delete(session: &Event) -> serde_json::Value {
    HistoryDeletePayload {
        session: session.id.to_string(),
        changed_by: "operator".into(),
    }
    .to_value()
}

pub fn all() -> HistoryQuery {
    HistoryQuery {
        limit: 1000,
        ..Default::default()
    }
}

/// The stored sessions and conflicts are exactly `parkmesh_parking::project` of the stored log:
/// same sessions under the same (corrected) plates, nothing more.
pub async fn assert_equals_projection(s: &Storage, db: &std::path::Path) {
    let events = s.all_events().await.unwrap();
    let rebuilt = parkmesh_parking::project(&events);
    let (rows, conflicts) = super::snapshot(db);
    let n_sessions: usize = rebuilt.plates.values().map(|p| p.sessions.len()).sum();
    assert_eq!(rows.len(), n_sessions, "{rows:?}\n{rebuilt:?}");
    let mut expected_conflicts = Vec::new();
    for (plate, fold) in &rebuilt.plates {
        for p in &fold.sessions {
            let r = s
                .session_by_session_id(&p.id)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("session {} of {plate} is stored", p.id));
            assert_eq!(&r.plate_key, plate, "{r:?}");
            assert_eq!(
                (
                    r.plate_id.as_str(),
                    r.status.as_str(),
                    r.fee,
                    r.exception,
                    r.deleted,
                    r.is_anomaly
                ),
                (
                    p.plate_id.as_str(),
                    if p.is_open() || p.status == parkmesh_parking::fold::SessionStatus::In {
                        "IN"
                    } else {
                        "OUT"
                    },
                    p.fee,
                    p.exception,
                    p.deleted,
                    p.is_anomaly
                ),
                "{r:?}\n{p:?}"
            );
            assert_eq!(
                (r.entry_event_id.as_ref(), r.exit_event_id.as_ref()),
                (
                    p.entry.as_ref().map(|e| &e.event_id),
                    p.exit.as_ref().map(|e| &e.event_id)
                )
            );
            assert_eq!(r.last_location, p.last_location);
        }
        for c in &fold.conflicts {
            expected_conflicts.push((
                plate.clone(),
                c.kind.clone(),
                c.winner.clone(),
                serde_json::to_string(&c.losers).unwrap(),
                c.at_ms,
            ));
        }
    }
    expected_conflicts.sort();
    assert_eq!(conflicts, expected_conflicts);
}

pub fn edit_event(origin: &str, seq: u64, at: i64, payload: serde_json::Value) -> Event {
    remote(origin, seq, at, payload, HistoryEditPayload::KIND)
}

/// The misread scenario plus neighbours: a sighting of the real plate, a concurrent entry of the
/// real plate recorded at another central, and a later car that really is 51A12346.
pub fn misread_events() -> Vec<Event> {
    let e1 = remote(
        "central-a",
        1,
        T0,
        entry("51A12346", T0).to_value(),
        EntryPayload::KIND,
    );
    let fix = edit_event("central-a", 2, T0 + 10 * 60_000, edit(&e1, "51A12345"));
    let seen = remote(
        "central-a",
        3,
        T0 + 30 * 60_000,
        LocationPayload {
            plate_id: "51A12345".into(),
            plate_view: "51A12345".into(),
            location: "B1".into(),
            at_ms: T0 + 30 * 60_000,
            camera_id: Some(9),
            camera_name: "Lot".into(),
            edge_event_id: None,
        }
        .to_value(),
        LocationPayload::KIND,
    );
    let x = remote(
        "central-a",
        4,
        T0 + 2 * HOUR,
        exit("51A12345", T0 + 2 * HOUR).to_value(),
        ExitPayload::KIND,
    );
    let twin = remote(
        "central-b",
        1,
        T0 + HOUR,
        entry("51A12345", T0 + HOUR).to_value(),
        EntryPayload::KIND,
    );
    let real = remote(
        "central-b",
        2,
        T0 + 3 * HOUR,
        entry("51A12346", T0 + 3 * HOUR).to_value(),
        EntryPayload::KIND,
    );
    vec![e1, fix, seen, x, twin, real]
}
