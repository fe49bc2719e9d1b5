//! The projection of a whole event set: every plate folded, plus the newest settings.
//!
//! Used by the replication simulation and the property tests to check that two centrals with
//! the same events hold the same state; storage keeps the same projection incrementally (it
//! re-folds only the plates an event touches).

use std::collections::BTreeMap;

use parkmesh_protocol::{Event, EventKind};

use crate::fold::{PlateFold, fold_plate, plate_key};

/// Everything derived from an event set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Projection {
    /// Per plate, its sessions and conflicts.
    pub plates: BTreeMap<String, PlateFold>,
    /// Per setting kind (`fees.set`, `subscriptions.set`, `staff.set`), the newest payload.
    pub settings: BTreeMap<String, serde_json::Value>,
    /// Per zone name, the newest `zone.config` payload.
    pub zones: BTreeMap<String, serde_json::Value>,
}

/// Projects an event set (any order, duplicates allowed).
pub fn project(events: &[Event]) -> Projection {
    let mut by_plate: BTreeMap<String, Vec<Event>> = BTreeMap::new();
    let mut plate_of: BTreeMap<String, String> = BTreeMap::new();
    let mut admin = Vec::new();
    let mut newest: BTreeMap<String, &Event> = BTreeMap::new();
    for e in events {
        if let Some(p) = plate_key(e) {
            plate_of.insert(e.id.to_string(), p.clone());
            by_plate.entry(p).or_default().push(e.clone());
            continue;
        }
        let key = match &e.kind {
            EventKind::HistoryEdit | EventKind::HistoryDelete => {
                admin.push(e);
                continue;
            }
            EventKind::FeesSet | EventKind::SubscriptionsSet | EventKind::StaffSet => {
                e.kind.as_str().to_owned()
            }
            EventKind::ZoneConfig => {
                match e.payload.get("location_name").and_then(|v| v.as_str()) {
                    Some(name) => format!("zone:{name}"),
                    None => continue,
                }
            }
            _ => continue,
        };
        if newest.get(&key).is_none_or(|old| e.cmp_order(old).is_gt()) {
            newest.insert(key, e);
        }
    }
    for e in admin {
        let target = e.payload.get("session").and_then(|v| v.as_str());
        if let Some(plate) = target.and_then(|t| plate_of.get(t)) {
            by_plate.entry(plate.clone()).or_default().push(e.clone());
        }
    }
    let mut out = Projection::default();
    for (plate, evs) in by_plate {
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
