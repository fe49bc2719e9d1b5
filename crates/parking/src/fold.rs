//! The deterministic session projection: one plate's events in, sessions and conflicts out.
//!
//! `fold_plate` is a pure function of the *set* of events: it drops duplicate ids, sorts by
//! `(at_ms, hlc, origin, incarnation, seq)` and folds. Sorting by the business time `at_ms`
//! first (the gate's own clock, honoured by the central) rather than by HLC means an exit whose
//! event reached a central before the matching entry still sorts after it, so the two merge into
//! one closed session whatever the arrival order; the HLC and id only break ties. Two centrals
//! holding the same events therefore produce identical sessions and conflicts.
//!
//! Rules, in fold order:
//! - ENTRY with no open session opens one (id = the entry's event id). ENTRY while a session is
//!   open keeps the earlier one and records a `concurrent_entry` conflict listing the loser
//!   (a partition, a misread or a cloned plate) — never silently dropped. An open anomaly or a
//!   deleted session does not block an entry: it is closed (superseded) instead.
//! - EXIT with `entry_ref` closes the session whose entry has that edge event id or event id; if
//!   that entry sorts later (clock skew between sites) the exit waits as an exception session and
//!   the entry, when folded, completes it — never a car left inside forever. EXIT without a ref
//!   closes the open session. An EXIT that matches nothing becomes an exception session.
//! - LOCATION updates the open session's location, or opens an anomaly session.
//! - `history.edit` overrides a session's plate (newest edit by order wins); `history.delete`
//!   tombstones it (`deleted`), kept for audit and never matched by later entries.

use std::collections::{BTreeMap, BTreeSet};

use parkmesh_protocol::{CentralId, Event, EventKind, Hlc};

use crate::fee::{Tariff, duration_text};
use crate::payload::{
    EntryPayload, ExitPayload, HistoryDeletePayload, HistoryEditPayload, LocationPayload, Payload,
};

/// Open or closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    /// Inside the lot.
    In,
    /// Left (or superseded).
    Out,
}

/// One side (entry or exit) of a session.
#[derive(Debug, Clone, PartialEq)]
pub struct Side {
    /// Event id text.
    pub event_id: String,
    /// Business time (ms).
    pub at_ms: i64,
    /// Camera id.
    pub camera_id: Option<i64>,
    /// Camera name.
    pub camera_name: String,
    /// OCR confidence.
    pub confidence: f64,
    /// Source.
    pub source: String,
    /// Central that recorded it.
    pub origin: CentralId,
    /// Edge id.
    pub edge_id: Option<String>,
    /// The edge's event id.
    pub edge_event_id: Option<String>,
}

/// One parking session.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// Id: the event id text of the event that opened it.
    pub id: String,
    /// Plate (after operator edits).
    pub plate_id: String,
    /// Plate as shown (after operator edits).
    pub plate_view: String,
    /// Entry side.
    pub entry: Option<Side>,
    /// Exit side.
    pub exit: Option<Side>,
    /// Open or closed.
    pub status: SessionStatus,
    /// Fee in VND.
    pub fee: i64,
    /// Duration text.
    pub duration: Option<String>,
    /// An exit that matched no entry.
    pub exception: bool,
    /// Opened by an in-lot sighting without an entry.
    pub is_anomaly: bool,
    /// Tombstoned by an operator.
    pub deleted: bool,
    /// Last in-lot location.
    pub last_location: Option<String>,
    /// Last in-lot sighting (ms).
    pub last_location_ms: Option<i64>,
    /// Central whose event opened the session.
    pub source_central: CentralId,
    /// Subscription type that exempted the fee.
    pub exempt: Option<String>,
}

/// A conflict found by the fold.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// Plate.
    pub plate_id: String,
    /// `concurrent_entry` or `duplicate_exit`.
    pub kind: String,
    /// Session that stands.
    pub winner: String,
    /// Events that lost, in fold order.
    pub losers: Vec<String>,
    /// Business time of the first loser.
    pub at_ms: i64,
}

/// Sessions and conflicts of one plate.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlateFold {
    /// Sessions in fold order.
    pub sessions: Vec<Session>,
    /// Conflicts in fold order.
    pub conflicts: Vec<Conflict>,
}

/// The plate a vehicle event belongs to.
pub fn plate_key(event: &Event) -> Option<String> {
    match event.kind {
        EventKind::VehicleEntry | EventKind::VehicleExit | EventKind::VehicleLocation => event
            .payload
            .get("plate_id")
            .and_then(|v| v.as_str())
            .map(str::to_owned),
        _ => None,
    }
}

enum Vehicle {
    Entry(EntryPayload),
    Exit(ExitPayload),
    Location(LocationPayload),
}

struct Item<'a> {
    event: &'a Event,
    at_ms: i64,
    what: Vehicle,
}

fn side(
    e: &Event,
    at_ms: i64,
    camera_id: Option<i64>,
    camera_name: &str,
    confidence: f64,
    source: &str,
) -> Side {
    Side {
        event_id: e.id.to_string(),
        at_ms,
        camera_id,
        camera_name: camera_name.to_owned(),
        confidence,
        source: source.to_owned(),
        origin: e.id.origin.clone(),
        edge_id: None,
        edge_event_id: None,
    }
}

fn close(s: &mut Session, exit: Side, tariff: &Tariff, exempt: Option<String>) {
    if let Some(entry) = &s.entry {
        let stay = exit.at_ms - entry.at_ms;
        s.fee = if exempt.is_some() {
            0
        } else {
            tariff.fee(entry.at_ms, exit.at_ms)
        };
        s.duration = Some(duration_text(stay));
    }
    s.exempt = exempt;
    s.exit = Some(exit);
    s.status = SessionStatus::Out;
}

/// Folds one plate's events (vehicle events plus operator events targeting its sessions), in
/// any order and with duplicates, into sessions and conflicts. Malformed payloads are skipped.
pub fn fold_plate(events: &[Event]) -> PlateFold {
    let mut seen = BTreeSet::new();
    let mut items = Vec::new();
    let mut edits: BTreeMap<String, (Hlc, &Event, HistoryEditPayload)> = BTreeMap::new();
    let mut deleted = BTreeSet::new();
    for e in events {
        if !seen.insert(&e.id) {
            continue;
        }
        let item = match e.kind {
            EventKind::VehicleEntry => EntryPayload::from_event(e)
                .ok()
                .map(|p| (p.at_ms, Vehicle::Entry(p))),
            EventKind::VehicleExit => ExitPayload::from_event(e)
                .ok()
                .map(|p| (p.at_ms, Vehicle::Exit(p))),
            EventKind::VehicleLocation => LocationPayload::from_event(e)
                .ok()
                .map(|p| (p.at_ms, Vehicle::Location(p))),
            EventKind::HistoryEdit => {
                if let Ok(p) = HistoryEditPayload::from_event(e) {
                    let newer = edits
                        .get(&p.session)
                        .is_none_or(|(_, old, _)| e.cmp_order(old).is_gt());
                    if newer {
                        edits.insert(p.session.clone(), (e.hlc, e, p));
                    }
                }
                None
            }
            EventKind::HistoryDelete => {
                if let Ok(p) = HistoryDeletePayload::from_event(e) {
                    deleted.insert(p.session);
                }
                None
            }
            _ => None,
        };
        if let Some((at_ms, what)) = item {
            items.push(Item {
                event: e,
                at_ms,
                what,
            });
        }
    }
    items.sort_by(|a, b| {
        a.at_ms
            .cmp(&b.at_ms)
            .then_with(|| a.event.cmp_order(b.event))
    });

    let mut out = PlateFold::default();
    let mut open: Option<usize> = None;
    // Exception exits waiting for the entry they reference: ref -> session index.
    let mut waiting: BTreeMap<String, usize> = BTreeMap::new();
    for item in &items {
        let e = item.event;
        let id = e.id.to_string();
        match &item.what {
            Vehicle::Entry(p) => {
                let entry = Side {
                    edge_id: p.edge_id.clone(),
                    edge_event_id: p.edge_event_id.clone(),
                    ..side(
                        e,
                        p.at_ms,
                        p.camera_id,
                        &p.camera_name,
                        p.confidence,
                        &p.source,
                    )
                };
                let waiter = waiting
                    .remove(&id)
                    .or_else(|| p.edge_event_id.as_ref().and_then(|r| waiting.remove(r)));
                if let Some(idx) = waiter {
                    // An exit that referenced this entry was folded first: complete it.
                    let s = &mut out.sessions[idx];
                    if let Some(exit) = s.exit.take() {
                        s.entry = Some(entry);
                        s.exception = false;
                        s.source_central = e.id.origin.clone();
                        let ex = exits_tariff(&items, &exit.event_id);
                        close(s, exit, &ex.0, ex.1);
                    }
                    continue;
                }
                if let Some(idx) = open {
                    let s = &mut out.sessions[idx];
                    if s.is_anomaly || deleted.contains(&s.id) {
                        s.status = SessionStatus::Out;
                    } else {
                        let winner = s.id.clone();
                        match out
                            .conflicts
                            .iter_mut()
                            .find(|c| c.winner == winner && c.kind == "concurrent_entry")
                        {
                            Some(c) => c.losers.push(id),
                            None => out.conflicts.push(Conflict {
                                plate_id: p.plate_id.clone(),
                                kind: "concurrent_entry".into(),
                                winner,
                                losers: vec![id],
                                at_ms: p.at_ms,
                            }),
                        }
                        continue;
                    }
                }
                out.sessions.push(Session {
                    id,
                    plate_id: p.plate_id.clone(),
                    plate_view: p.plate_view.clone(),
                    entry: Some(entry),
                    exit: None,
                    status: SessionStatus::In,
                    fee: 0,
                    duration: None,
                    exception: false,
                    is_anomaly: false,
                    deleted: false,
                    last_location: None,
                    last_location_ms: None,
                    source_central: e.id.origin.clone(),
                    exempt: None,
                });
                open = Some(out.sessions.len() - 1);
            }
            Vehicle::Exit(p) => {
                let exit = Side {
                    edge_id: p.edge_id.clone(),
                    edge_event_id: p.edge_event_id.clone(),
                    ..side(
                        e,
                        p.at_ms,
                        p.camera_id,
                        &p.camera_name,
                        p.confidence,
                        &p.source,
                    )
                };
                let by_ref = p.entry_ref.as_ref().and_then(|r| {
                    out.sessions.iter().position(|s| {
                        s.entry.as_ref().is_some_and(|en| {
                            &en.event_id == r || en.edge_event_id.as_ref() == Some(r)
                        })
                    })
                });
                let target = match (by_ref, open) {
                    (Some(idx), _) if out.sessions[idx].status == SessionStatus::In => Some(idx),
                    (Some(idx), _) => {
                        out.conflicts.push(Conflict {
                            plate_id: p.plate_id.clone(),
                            kind: "duplicate_exit".into(),
                            winner: out.sessions[idx].id.clone(),
                            losers: vec![id.clone()],
                            at_ms: p.at_ms,
                        });
                        None
                    }
                    (None, open) => open,
                };
                match target {
                    Some(idx) => {
                        close(&mut out.sessions[idx], exit, &p.tariff, p.exempt.clone());
                        if open == Some(idx) {
                            open = None;
                        }
                    }
                    None => {
                        out.sessions.push(Session {
                            id: id.clone(),
                            plate_id: p.plate_id.clone(),
                            plate_view: p.plate_view.clone(),
                            entry: None,
                            exit: Some(exit),
                            status: SessionStatus::Out,
                            fee: 0,
                            duration: None,
                            exception: true,
                            is_anomaly: false,
                            deleted: false,
                            last_location: None,
                            last_location_ms: None,
                            source_central: e.id.origin.clone(),
                            exempt: p.exempt.clone(),
                        });
                        if let (Some(r), None) = (&p.entry_ref, by_ref) {
                            waiting.insert(r.clone(), out.sessions.len() - 1);
                        }
                    }
                }
            }
            Vehicle::Location(p) => match open {
                Some(idx) => {
                    let s = &mut out.sessions[idx];
                    s.last_location = Some(p.location.clone());
                    s.last_location_ms = Some(p.at_ms);
                }
                None => {
                    out.sessions.push(Session {
                        id: id.clone(),
                        plate_id: p.plate_id.clone(),
                        plate_view: p.plate_view.clone(),
                        entry: Some(Side {
                            edge_event_id: p.edge_event_id.clone(),
                            ..side(
                                e,
                                p.at_ms,
                                p.camera_id,
                                &p.camera_name,
                                0.0,
                                "parking_lot_auto",
                            )
                        }),
                        exit: None,
                        status: SessionStatus::In,
                        fee: 0,
                        duration: None,
                        exception: false,
                        is_anomaly: true,
                        deleted: false,
                        last_location: Some(p.location.clone()),
                        last_location_ms: Some(p.at_ms),
                        source_central: e.id.origin.clone(),
                        exempt: None,
                    });
                    open = Some(out.sessions.len() - 1);
                }
            },
        }
    }
    for s in &mut out.sessions {
        if let Some((_, _, edit)) = edits.get(&s.id) {
            s.plate_id = edit.plate_id.clone();
            s.plate_view = edit.plate_view.clone();
        }
        s.deleted = deleted.contains(&s.id);
    }
    out
}

fn exits_tariff(items: &[Item<'_>], exit_id: &str) -> (Tariff, Option<String>) {
    items
        .iter()
        .find_map(|i| match &i.what {
            Vehicle::Exit(p) if i.event.id.to_string() == exit_id => {
                Some((p.tariff, p.exempt.clone()))
            }
            _ => None,
        })
        .unwrap_or_default()
}
