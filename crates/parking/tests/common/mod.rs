//! Event builders shared by the fold tests.

#![allow(dead_code, unreachable_pub)]

use parkmesh_parking::payload::{
    EntryPayload, ExitPayload, ExitUnmatchPayload, HistoryDeletePayload, HistoryEditPayload,
    LocationPayload, Payload, PlateMatch, Tariff,
};
use parkmesh_protocol::{CentralId, Event, EventId, EventKind, Hlc};

pub const MIN: i64 = 60_000;
/// 2026-01-01 00:00:00 UTC.
pub const T0: i64 = 1_767_225_600_000;

/// An event minted by `origin` with HLC wall time `hlc_ms`.
pub fn ev(
    origin: &str,
    seq: u64,
    hlc_ms: i64,
    kind: EventKind,
    payload: serde_json::Value,
) -> Event {
    Event {
        id: EventId {
            origin: CentralId::new(origin).unwrap(),
            incarnation: 1,
            seq,
        },
        hlc: Hlc {
            wall_ms: hlc_ms as u64,
            counter: 0,
        },
        kind,
        payload,
        schema: 1,
    }
}

pub fn id(origin: &str, seq: u64) -> String {
    format!("{origin}:1:{seq}")
}

pub fn entry_payload(origin: &str, seq: u64, plate: &str, at_ms: i64) -> EntryPayload {
    EntryPayload::read(plate, at_ms)
        .with_camera(1, "in", "ENTRY")
        .with_read(0.9, "auto")
        .with_edge("1", Some(format!("edge-{origin}-{seq}")))
}

pub fn entry(origin: &str, seq: u64, plate: &str, at_ms: i64) -> Event {
    let p = entry_payload(origin, seq, plate, at_ms);
    ev(origin, seq, at_ms, EntryPayload::KIND, p.to_value())
}

pub fn exit_payload(plate: &str, at_ms: i64, entry_ref: Option<String>) -> ExitPayload {
    ExitPayload {
        gate: EntryPayload::read(plate, at_ms)
            .with_camera(2, "out", "EXIT")
            .with_read(0.9, "auto")
            .with_edge("2", None),
        entry_ref,
        tariff: Tariff::default(),
        exempt: None,
        matched: PlateMatch::default(),
    }
}

/// An exit read as `read` that the exiting central matched to the open session of `plate`.
pub fn confusable_exit(origin: &str, seq: u64, plate: &str, read: &str, at_ms: i64) -> Event {
    let mut p = exit_payload(plate, at_ms, None);
    p.matched = PlateMatch {
        exit_plate: Some(read.into()),
        exit_plate_view: Some(read.into()),
        plate_match: Some("confusable".into()),
        match_candidates: Vec::new(),
    };
    ev(origin, seq, at_ms, ExitPayload::KIND, p.to_value())
}

/// An operator's undo of exit `exit`'s confusable match.
pub fn unmatch(origin: &str, seq: u64, hlc_ms: i64, exit: &str) -> Event {
    let p = ExitUnmatchPayload {
        session: exit.into(),
        changed_by: "op".into(),
    };
    ev(origin, seq, hlc_ms, ExitUnmatchPayload::KIND, p.to_value())
}

pub fn exit(origin: &str, seq: u64, plate: &str, at_ms: i64, entry_ref: Option<String>) -> Event {
    let p = exit_payload(plate, at_ms, entry_ref);
    ev(origin, seq, at_ms, ExitPayload::KIND, p.to_value())
}

pub fn exit_with(origin: &str, seq: u64, hlc_ms: i64, p: ExitPayload) -> Event {
    ev(origin, seq, hlc_ms, ExitPayload::KIND, p.to_value())
}

pub fn location(origin: &str, seq: u64, plate: &str, at_ms: i64, zone: &str) -> Event {
    let p = LocationPayload {
        plate_id: plate.into(),
        plate_view: plate.into(),
        location: zone.into(),
        at_ms,
        camera_id: Some(3),
        camera_name: zone.into(),
        edge_event_id: None,
    };
    ev(origin, seq, at_ms, LocationPayload::KIND, p.to_value())
}

pub fn edit(origin: &str, seq: u64, hlc_ms: i64, session: &str, plate: &str) -> Event {
    let p = HistoryEditPayload {
        session: session.into(),
        plate_id: plate.into(),
        plate_view: plate.into(),
        changed_by: "op".into(),
    };
    ev(origin, seq, hlc_ms, HistoryEditPayload::KIND, p.to_value())
}

pub fn delete(origin: &str, seq: u64, hlc_ms: i64, session: &str) -> Event {
    let p = HistoryDeletePayload {
        session: session.into(),
        changed_by: "op".into(),
    };
    ev(
        origin,
        seq,
        hlc_ms,
        HistoryDeletePayload::KIND,
        p.to_value(),
    )
}

/// Deterministic xorshift shuffle.
pub fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut x = seed | 1;
    for i in (1..items.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        items.swap(i, (x % (i as u64 + 1)) as usize);
    }
}
