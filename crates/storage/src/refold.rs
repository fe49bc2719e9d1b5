//! Second step of the write path: the affected groups' events are folded by the pure fold of
//! `parkmesh_parking`, and the result goes down to `sessions` as rows.
//!
//! Sessions are never updated in place by an event. Instead every raw plate an event touches is
//! noted in the command's working set (`append`); before the command finishes its group keys
//! are brought up to date (`group`: the plate after operator corrections) and every group key
//! involved is folded again: from its settled point (`settled`) when the new events allow it,
//! else all its events with `parkmesh_parking::incremental::fold_with_settled_point` (the full fold, a
//! deterministic function of the event set, which also finds the next settled point). The
//! incremental fold (`parkmesh_parking::incremental::fold_after`) decides whether the new events
//! qualify; when they do not (a late event, an operator event, an import, an exit naming an
//! older entry) the group is folded in full and its new settled point stored. The resulting rows
//! are compared with what is stored and only real changes are written (and reported to
//! `/ws/history` subscribers). `history.plate_key` and `conflicts.plate_key` are group keys, so
//! the result equals `parkmesh_parking::project`. So two centrals that hold the same events
//! hold the same sessions, whatever order the events arrived in.
//!
//! Runs on the writer thread inside its open transaction (rusqlite, cached prepared statements).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use parkmesh_parking::incremental::{covers, fold_after};
use parkmesh_protocol::{Event, EventKind, StreamId};
use rusqlite::Connection;

use crate::error::StorageError;
use crate::events::{PlateOf, load_aimed, load_event, load_events};
use crate::sessions::{Stored, insert_conflicts, write_session};
use crate::settled::{SettledPoint, settled_point, write_settled_point};
use crate::unsettled::Unsettled;
use crate::work::WorkingSet;

/// Brings the group keys of every dirty raw plate up to date, re-folds every group key
/// involved and writes the sessions and conflicts that changed.
pub(crate) fn refold(
    conn: &Connection,
    own: &StreamId,
    tz: &jiff::tz::TimeZone,
    now: i64,
    dirty: &mut WorkingSet,
) -> Result<(), StorageError> {
    let mut groups = BTreeSet::new();
    // Groups whose events moved or whose sessions an operator event changed: folded in full.
    let mut full = BTreeSet::new();
    for raw in std::mem::take(&mut dirty.plates) {
        let mut these = BTreeSet::new();
        let moved = crate::group::regroup(conn, &raw, &mut these)?;
        if moved || dirty.full || dirty.full_plates.contains(&raw) {
            full.extend(these.iter().cloned());
        }
        groups.extend(these);
    }
    let now = crate::rows::Now::new(now, tz);
    // Sessions may move between groups: every group is written first (a moved session's row is
    // updated in place, keeping its id), then each group drops the rows it held that its fold no
    // longer has, unless another group took them over meanwhile.
    let mut stale: Vec<(String, Vec<String>)> = Vec::new();
    // The command's new vehicle events per raw plate (a catch-up command holds hundreds).
    let new_events = std::mem::take(&mut dirty.new_events);
    let mut by_plate: BTreeMap<String, Vec<&Event>> = BTreeMap::new();
    for e in &new_events {
        if let Some(plate) = parkmesh_parking::fold::plate_key(e) {
            by_plate.entry(plate).or_default().push(e);
        }
    }
    for group in groups {
        let new = by_plate.get(&group).map(Vec::as_slice).unwrap_or_default();
        let incremental = if full.contains(&group) || new.is_empty() {
            None
        } else {
            refold_after(conn, own, tz, &now, &group, new, dirty)?
        };
        let gone = match incremental {
            Some(gone) => gone,
            None => refold_group(conn, own, tz, &now, &group, dirty)?,
        };
        if !gone.is_empty() {
            stale.push((group, gone));
        }
    }
    dirty.new_events = new_events;
    for (group, gone) in stale {
        for session_id in gone {
            conn.prepare_cached("DELETE FROM history WHERE session_id = ?1 AND plate_key = ?2")?
                .execute([&session_id, &group])?;
        }
    }
    Ok(())
}

/// Folds one group key in full, writes its changed sessions, its conflicts and its settled point;
/// returns the ids of the rows it held before that its fold no longer has.
fn refold_group(
    conn: &Connection,
    own: &StreamId,
    tz: &jiff::tz::TimeZone,
    now: &crate::rows::Now,
    group: &str,
    dirty: &mut WorkingSet,
) -> Result<Vec<String>, StorageError> {
    let events = load_events(conn, PlateOf::Group, group)?;
    let (fold, settled) = parkmesh_parking::incremental::fold_with_settled_point(&events);

    dirty.unsettled.forget(group);
    let mut existing: BTreeSet<String> = conn
        .prepare_cached("SELECT session_id FROM history WHERE plate_key = ?1")?
        .query_map([group], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let first_after = fold.sessions.len().saturating_sub(settled.sessions.len());
    let mut rows = HashMap::with_capacity(settled.sessions.len());
    for (i, session) in fold.sessions.iter().enumerate() {
        let stored = if existing.remove(&session.id) {
            Stored::Probably
        } else {
            Stored::No
        };
        let row = write_session(conn, own, tz, now, group, session, stored, dirty)?;
        if i >= first_after {
            rows.insert(row.session_id.clone(), row);
        }
    }
    if !dirty.no_conflicts {
        conn.prepare_cached("DELETE FROM conflicts WHERE plate_key = ?1")?
            .execute([group])?;
    }
    insert_conflicts(conn, group, &fold.conflicts, dirty)?;
    write_settled_point(conn, group, &settled, first_after)?;
    let unsettled = Unsettled::after_fold(settled, events, &[], rows);
    dirty.unsettled.put(group, unsettled);
    Ok(existing.into_iter().collect())
}

/// Whether `history` holds a session of `group`.
fn has_rows(conn: &Connection, group: &str) -> Result<bool, StorageError> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM history WHERE plate_key = ?1)")?
        .query_row([group], |r| r.get(0))?)
}

/// Whether a session of `group` before the settled point (not in `after`) has a real entry with
/// event id or edge event id `r`. (A session with an entry has the entry's id; `history.event_id`
/// is the entry's edge event id when it has one.)
fn names_prefix(
    conn: &Connection,
    group: &str,
    r: &str,
    after: &BTreeSet<&str>,
) -> Result<bool, StorageError> {
    for sql in [
        // `entry_ms`: whether the session has an entry (its id is the session id, or stored).
        "SELECT session_id, plate_key, is_anomaly, entry_ms FROM history WHERE session_id = ?1",
        // A NULL `event_id` is the session id, which the first search covers.
        "SELECT session_id, plate_key, is_anomaly, entry_ms FROM history WHERE event_id = ?1",
    ] {
        let mut stmt = conn.prepare_cached(sql)?;
        let mut rows = stmt.query([r])?;
        while let Some(row) = rows.next()? {
            let session: String = row.get(0)?;
            let plate: String = row.get(1)?;
            let anomaly: bool = row.get(2)?;
            let entry: Option<i64> = row.get(3)?;
            if plate == group && !anomaly && entry.is_some() && !after.contains(session.as_str()) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// The events after the settled point and the operator events aimed at them. (None is aimed at the
/// new events: a stored event that an operator event already targets is folded in full, see
/// `insert_event`.)
fn load_after(conn: &Connection, settled: &SettledPoint) -> Result<Vec<Event>, StorageError> {
    let mut out = Vec::with_capacity(settled.suffix.len());
    for id in &settled.suffix {
        match load_event(conn, id)? {
            Some(e) => out.push(e),
            None => {
                return Err(StorageError::Corrupt(format!(
                    "settled point names event {id}, which is not in the log"
                )));
            }
        }
    }
    for id in &settled.suffix {
        out.extend(load_aimed(conn, id)?);
    }
    Ok(out)
}

/// Re-folds `group` from its settled point when the command's new events allow it; returns the ids
/// of the rows it held before that its fold no longer has, or `None` when the caller must fold the
/// group in full (no settled point, or new events the incremental fold does not cover).
pub(crate) fn refold_after(
    conn: &Connection,
    own: &StreamId,
    tz: &jiff::tz::TimeZone,
    now: &crate::rows::Now,
    group: &str,
    new: &[&Event],
    dirty: &mut WorkingSet,
) -> Result<Option<Vec<String>>, StorageError> {
    // The writer's memory of the group, else what the database holds.
    let (settled, held, mut known) = match dirty.unsettled.take(group) {
        Some(t) => (t.settled, Some(t.held), t.rows),
        None => {
            let settled = match settled_point(conn, group)? {
                Some(settled) => settled,
                // A group with sessions but no settled point (fewer than `settled::MIN_SETTLED`
                // settled sessions, or folded before migration 0006) is folded in full; a group
                // with neither holds nothing to fold but the new events.
                None if !has_rows(conn, group)? => SettledPoint {
                    after: None,
                    suffix: Vec::new(),
                    sessions: Vec::new(),
                },
                None => return Ok(None),
            };
            (settled, None, HashMap::new())
        }
    };
    let after: BTreeSet<&str> = settled.sessions.iter().map(String::as_str).collect();
    let mut prefix_refs = BTreeSet::new();
    for e in new.iter().filter(|e| e.kind == EventKind::VehicleExit) {
        if let Some(r) = e.payload.get("entry_ref").and_then(|v| v.as_str())
            && names_prefix(conn, group, r, &after)?
        {
            prefix_refs.insert(r.to_owned());
        }
    }
    let held = match held {
        Some(held) => held,
        None => {
            // Cheap refusals first, before loading anything (`fold_after` checks again).
            if !covers(&settled, new, |r| prefix_refs.contains(r)) {
                return Ok(None);
            }
            load_after(conn, &settled)?
        }
    };
    let Some((fold, next)) = fold_after(&settled, &held, new, |r| prefix_refs.contains(r)) else {
        return Ok(None);
    };
    let mut gone: BTreeSet<String> = settled.sessions.iter().cloned().collect();
    let mut rows = HashMap::with_capacity(fold.sessions.len());
    for session in &fold.sessions {
        let stored = match (gone.remove(&session.id), known.remove(&session.id)) {
            (true, Some(row)) => Stored::Known(row),
            (true, None) => Stored::Probably,
            (false, _) => Stored::No,
        };
        let row = write_session(conn, own, tz, now, group, session, stored, dirty)?;
        rows.insert(row.session_id.clone(), row);
    }
    if !dirty.no_conflicts {
        for winner in &settled.sessions {
            conn.prepare_cached("DELETE FROM conflicts WHERE plate_key = ?1 AND winner = ?2")?
                .execute([group, winner])?;
        }
    }
    insert_conflicts(conn, group, &fold.conflicts, dirty)?;
    // A group that had a settled point keeps one; else count the sessions this fold settled.
    let settled_sessions = if settled.after.is_some() {
        usize::MAX
    } else {
        fold.sessions.len().saturating_sub(next.sessions.len())
    };
    write_settled_point(conn, group, &next, settled_sessions)?;
    let unsettled = Unsettled::after_fold(next, held, new, rows);
    dirty.unsettled.put(group, unsettled);
    Ok(Some(gone.into_iter().collect()))
}
