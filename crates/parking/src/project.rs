//! The projection of a whole event set: every plate folded, plus the newest settings.
//!
//! Used by the replication simulation and the property tests to check that two centrals with
//! the same events hold the same state; storage keeps the same projection incrementally (it
//! re-folds only the plates an event touches).
//!
//! # Grouping under the corrected plate
//!
//! Sessions are folded per plate, so an operator's plate correction (`history.edit`) must move
//! the corrected session to the group of its new plate: a car misread at entry and corrected
//! while inside must be closed by an exit of the corrected plate. [`group_by_plate`] does this
//! in two deterministic passes:
//!
//! 1. group vehicle events by their raw `plate_id` and fold each group;
//! 2. every event that became part of a session (its entry, its exit, sightings that updated it,
//!    duplicate exits naming it) goes to the group of that session's plate *after* edits; any
//!    other vehicle event (a concurrent-entry loser, say) goes to [`effective_plate`] of itself.
//!    Edits and deletes follow the event they target.
//!
//! An `exit.unmatch` (an operator undid an exit's match to a confusable plate's session) moves
//! the same way: the fold makes that exit an exception under the plate it was read as, so pass 2
//! files it there.
//!
//! A closed session corrected afterwards therefore moves with both of its sides, and an entry
//! that lost a concurrent-entry conflict and was corrected by the operator (the misread case)
//! leaves the conflict. Both passes are functions of the event set, so the result is too.

use std::collections::BTreeMap;

use parkmesh_protocol::{Event, EventKind};

use crate::fold::{PlateFold, fold_members, fold_plate, plate_key};
use crate::payload::{HistoryEditPayload, Payload};

/// The key prefix of a plate's watch-list entry among the settings (`watch:` and the plate).
pub const WATCH_PREFIX: &str = "watch:";

/// Everything derived from an event set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Projection {
    /// Per plate (after operator corrections), its sessions and conflicts.
    pub plates: BTreeMap<String, PlateFold>,
    /// Per setting kind (`fees.set`, `subscriptions.set`, `staff.set`), the newest payload; per
    /// watched plate ([`WATCH_PREFIX`] and the plate), its newest `watchlist.set` payload.
    pub settings: BTreeMap<String, serde_json::Value>,
    /// Per zone name, the newest `zone.config` payload.
    pub zones: BTreeMap<String, serde_json::Value>,
}

/// The plate an event is filed under once operator corrections apply: the `plate_id` of the
/// newest `history.edit` (by [`Event::order_key`]) among `admin` that names this event (or, for
/// an exit, the entry named by its `entry_ref`), else the event's own `plate_id`. Empty for
/// events that carry no plate.
pub fn effective_plate(event: &Event, admin: &[Event]) -> String {
    let id = event.id.to_string();
    let entry_ref = match event.kind {
        EventKind::VehicleExit => event.payload.get("entry_ref").and_then(|v| v.as_str()),
        _ => None,
    };
    admin
        .iter()
        .filter(|a| a.kind == EventKind::HistoryEdit)
        .filter_map(|a| HistoryEditPayload::from_event(a).ok().map(|p| (a, p)))
        .filter(|(_, p)| p.session == id || Some(p.session.as_str()) == entry_ref)
        .max_by(|a, b| a.0.cmp_order(b.0))
        .map(|(_, p)| p.plate_id)
        .or_else(|| plate_key(event))
        .unwrap_or_default()
}

/// Whether an operator event of kind `kind` may move vehicle events to another group: a plate
/// correction, or an undone confusable match (the exit goes back to the plate it was read as).
pub fn moves_events(kind: &EventKind) -> bool {
    matches!(kind, EventKind::HistoryEdit | EventKind::ExitUnmatch)
}

fn session_target(e: &Event) -> Option<&str> {
    match e.kind {
        EventKind::HistoryEdit | EventKind::HistoryDelete | EventKind::ExitUnmatch => {
            e.payload.get("session").and_then(|v| v.as_str())
        }
        _ => None,
    }
}

/// Groups vehicle events and the operator events targeting them by plate after corrections
/// (see the module doc). Events of other kinds, and operator events whose target is absent, are
/// left out. Input order and duplicates do not matter.
pub fn group_by_plate(events: &[Event]) -> BTreeMap<String, Vec<Event>> {
    // Pass 1: raw plates.
    let mut raw: BTreeMap<String, Vec<&Event>> = BTreeMap::new();
    let mut raw_of: BTreeMap<String, String> = BTreeMap::new();
    let mut admin = Vec::new();
    for e in events {
        if let Some(p) = plate_key(e) {
            raw_of.insert(e.id.to_string(), p.clone());
            raw.entry(p).or_default().push(e);
        } else if session_target(e).is_some() {
            admin.push(e);
        }
    }
    let mut admin_by_raw: BTreeMap<&str, Vec<Event>> = BTreeMap::new();
    for a in &admin {
        if let Some(plate) = session_target(a).and_then(|t| raw_of.get(t)) {
            admin_by_raw
                .entry(plate.as_str())
                .or_default()
                .push((*a).clone());
        }
    }
    // Pass 2: the plate of each vehicle event after corrections.
    let mut key_of: BTreeMap<String, String> = BTreeMap::new();
    let mut out: BTreeMap<String, Vec<Event>> = BTreeMap::new();
    for (plate, group) in &raw {
        let admin = admin_by_raw.remove(plate.as_str()).unwrap_or_default();
        if !admin.iter().any(|a| moves_events(&a.kind)) {
            // No corrections: the whole group stays under its raw plate (the common case).
            for e in group {
                key_of.insert(e.id.to_string(), plate.clone());
            }
            out.entry(plate.clone())
                .or_default()
                .extend(group.iter().map(|e| (*e).clone()));
            continue;
        }
        let mut input: Vec<Event> = group.iter().map(|e| (*e).clone()).collect();
        input.extend(admin.iter().cloned());
        let (fold, members) = fold_members(&input);
        for e in group {
            let id = e.id.to_string();
            let key = match members.get(&id).and_then(|i| fold.sessions.get(*i)) {
                Some(s) => s.plate_id.clone(),
                None => effective_plate(e, &admin),
            };
            key_of.insert(id, key.clone());
            out.entry(key).or_default().push((*e).clone());
        }
    }
    for a in admin {
        if let Some(key) = session_target(a).and_then(|t| key_of.get(t)) {
            out.entry(key.clone()).or_default().push(a.clone());
        }
    }
    out
}

/// Projects an event set (any order, duplicates allowed).
pub fn project(events: &[Event]) -> Projection {
    let mut newest: BTreeMap<String, &Event> = BTreeMap::new();
    for e in events {
        let key = match &e.kind {
            EventKind::FeesSet | EventKind::SubscriptionsSet | EventKind::StaffSet => {
                e.kind.as_str().to_owned()
            }
            EventKind::ZoneConfig => {
                match e.payload.get("location_name").and_then(|v| v.as_str()) {
                    Some(name) => format!("zone:{name}"),
                    None => continue,
                }
            }
            EventKind::WatchlistSet => match e.payload.get("plate_id").and_then(|v| v.as_str()) {
                Some(plate) => format!("{WATCH_PREFIX}{plate}"),
                None => continue,
            },
            _ => continue,
        };
        if newest.get(&key).is_none_or(|old| e.cmp_order(old).is_gt()) {
            newest.insert(key, e);
        }
    }
    let mut out = Projection::default();
    for (plate, evs) in group_by_plate(events) {
        out.plates.insert(plate, fold_plate(&evs));
    }
    for (key, e) in newest {
        match key.strip_prefix("zone:") {
            Some(name) => out.zones.insert(name.to_owned(), e.payload.clone()),
            None => out.settings.insert(key, e.payload.clone()),
        };
    }
    out
}
