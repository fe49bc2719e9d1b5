//! Group keys: the plate each vehicle event is folded under once operator corrections apply.
//!
//! A `history.edit` that corrects a session's plate moves that session's vehicle events to the
//! group of the corrected plate (`parkmesh_parking::project::group_by_plate`), so that a car
//! misread at entry and corrected while inside is closed by an exit of its real plate. Storage
//! keeps the result in `events.group_key` and re-folds sessions per group key. The group keys of
//! a raw plate depend only on that raw plate's events and the operator events targeting them, so
//! when a raw plate is touched [`regroup`] recomputes its keys alone, with the parking crate's
//! own function, writes the keys that changed and reports every group key involved (old and
//! new) for re-folding. A raw plate that no `history.edit` targets keeps `group_key =
//! plate_key`; the check for that is one indexed existence query, so the common case pays no
//! extra fold. Called by the fold (`refold`) and the event step (`append`); it reads events
//! (`events`) and writes keys, and calls nothing above.

use std::collections::{BTreeMap, BTreeSet};

use parkmesh_parking::fold::plate_key;
use parkmesh_protocol::EventKind;
use rusqlite::{Connection, params};

use crate::error::StorageError;
use crate::events::{BY_ID, PlateOf, RAW_PLATE, id_text_of, load_events, raw_plate_of};

/// Whether some `history.edit` targets an event of raw plate `raw` (`edited_plates`, kept by
/// [`note_edit`]).
fn has_edits(conn: &Connection, raw: &str) -> Result<bool, StorageError> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM edited_plates WHERE plate_key = ?1)")?
        .query_row([raw], |r| r.get(0))?)
}

/// Records in `edited_plates` that raw plate `raw` has a corrected event: called for a stored
/// `history.edit` whose target is held, and for a stored vehicle event that an edit held
/// earlier targets.
pub(crate) fn note_edit(conn: &Connection, raw: &str) -> Result<(), StorageError> {
    conn.prepare_cached("INSERT OR IGNORE INTO edited_plates (plate_key) VALUES (?1)")?
        .execute([raw])?;
    Ok(())
}

/// Whether a held operator event (`history.edit` / `history.delete`) targets event `id_text`.
pub(crate) fn is_aimed(conn: &Connection, id_text: &str) -> Result<bool, StorageError> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM events WHERE session_ref = ?1)")?
        .query_row([id_text], |r| r.get(0))?)
}

/// Whether a held `history.edit` or `exit.unmatch` (the kinds that move events between groups,
/// `parkmesh_parking::moves_events`) targets event `id_text`. (The kinds are literals, not bound
/// parameters: SQLite checks a bound value against the partial index on `events.kind` and then
/// re-prepares the statement at every new binding, which cost more than the query itself.)
pub(crate) fn is_edited(conn: &Connection, id_text: &str) -> Result<bool, StorageError> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT EXISTS (SELECT 1 FROM events WHERE session_ref = ?1 AND kind IN ({}, {}))",
            crate::codec::kind_sql(&EventKind::HistoryEdit),
            crate::codec::kind_sql(&EventKind::ExitUnmatch)
        )
    });
    Ok(conn
        .prepare_cached(&SQL)?
        .query_row([id_text], |r| r.get(0))?)
}

/// Recomputes `edited_plates` from the log (after the bulk import, which writes events
/// without the writer's bookkeeping).
pub(crate) fn note_all_edits(conn: &Connection) -> Result<(), StorageError> {
    for plate in targets_plates(conn, &EventKind::HistoryEdit)? {
        note_edit(conn, &plate)?;
    }
    Ok(())
}

/// The raw plates of the vehicle events that held operator events of `kind` target (each
/// target looked up by its key: the log does not store id texts).
pub(crate) fn targets_plates(
    conn: &Connection,
    kind: &EventKind,
) -> Result<BTreeSet<String>, StorageError> {
    let targets: Vec<String> = conn
        .prepare("SELECT session_ref FROM events WHERE kind = ?1 AND session_ref IS NOT NULL")?
        .query_map([crate::codec::kind_value(kind)], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut plates = BTreeSet::new();
    for target in targets {
        plates.extend(crate::events::plate_of(conn, &target)?.flatten());
    }
    Ok(plates)
}

/// Recomputes the group keys of raw plate `raw`'s events, stores the ones that changed and adds
/// to `groups` every group key holding one of its events before or after. Returns whether an
/// event moved to another group key.
pub(crate) fn regroup(
    conn: &Connection,
    raw: &str,
    groups: &mut BTreeSet<String>,
) -> Result<bool, StorageError> {
    if !has_edits(conn, raw)? {
        groups.insert(raw.to_owned());
        return Ok(false);
    }
    let events = load_events(conn, PlateOf::Raw, raw)?;
    let [a, b] = RAW_PLATE;
    let current: BTreeMap<String, Option<String>> = conn
        .prepare_cached(&format!(
            "SELECT {id}, group_key FROM events t WHERE {a}
             UNION ALL SELECT {id}, group_key FROM events t WHERE {b}",
            id = id_text_of("t")
        ))?
        .query_map([raw], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut moved = false;
    for (key, members) in parkmesh_parking::group_by_plate(&events) {
        groups.insert(key.clone());
        for e in members.iter().filter(|e| plate_key(e).is_some()) {
            let id = e.id.to_string();
            let old = current.get(&id).cloned().flatten();
            if old.as_deref() == Some(key.as_str()) {
                continue;
            }
            // The raw plate stays in `plate_key` while the group key differs from it.
            conn.prepare_cached(&format!(
                "UPDATE events SET plate_key = NULLIF({raw}, ?4), group_key = ?4 WHERE {BY_ID}",
                raw = raw_plate_of("events")
            ))?
            .execute(params![
                e.id.origin.as_str(),
                e.id.incarnation as i64,
                e.id.seq as i64,
                key
            ])?;
            groups.extend(old);
            moved = true;
        }
    }
    Ok(moved)
}
