//! The incremental re-fold of one group key, from its stored settled point (`fold_marks`).
//!
//! After every fold of a group the writer stores the fold's cut
//! (`parkmesh_parking::incremental::SettledPoint`): the fold-order key of the last event before it, the
//! ids of the vehicle events after it and the ids of the sessions after it. The `history` and
//! `conflicts` rows of the sessions before the cut are final for as long as new events sort after
//! the cut, so a command whose new events all do re-folds only the events after the cut (loaded
//! by id, with the operator events aimed at them) and writes only those sessions.
//! `parkmesh_parking::incremental::fold_after` decides whether the new events qualify; when they
//! do not (a late event, an operator event, an import, an exit naming an older entry) the caller
//! folds the whole group, as before, and stores its new cut. Marks are written in the same
//! transaction as the rows they describe, so they never run ahead of or behind them.

use std::collections::{BTreeSet, HashMap};

use parkmesh_parking::incremental::{SettledPoint, SortKey, covers, fold_after};
use parkmesh_protocol::{CentralId, Event, EventKind, Hlc, StreamId};
use rusqlite::{Connection, OptionalExtension, params};

use crate::StorageError;
use crate::project::{self, Dirty};
use crate::sessions::Stored;
use crate::tails::Tail;

/// The stored cut of `group`, if any.
pub(crate) fn read(conn: &Connection, group: &str) -> Result<Option<SettledPoint>, StorageError> {
    type Raw = (
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<String>,
        Option<i64>,
        Option<i64>,
        String,
        String,
    );
    let raw: Option<Raw> = conn
        .prepare_cached(
            "SELECT at_ms, rank, hlc_ms, hlc_counter, origin, incarnation, seq, suffix, sessions
               FROM fold_marks WHERE group_key = ?1",
        )?
        .query_row([group], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
            ))
        })
        .optional()?;
    let Some((at_ms, rank, hlc_ms, counter, origin, incarnation, seq, suffix, sessions)) = raw
    else {
        return Ok(None);
    };
    let after = match (at_ms, rank, hlc_ms, counter, origin, incarnation, seq) {
        (
            Some(at_ms),
            Some(rank),
            Some(hlc_ms),
            Some(counter),
            Some(origin),
            Some(inc),
            Some(seq),
        ) => Some(SortKey {
            at_ms,
            rank: u8::try_from(rank)
                .map_err(|_| StorageError::Corrupt(format!("fold mark of {group}: rank")))?,
            hlc: Hlc {
                wall_ms: hlc_ms as u64,
                counter: counter as u32,
            },
            origin: CentralId::new(origin)
                .map_err(|e| StorageError::Corrupt(format!("fold mark of {group}: {e}")))?,
            incarnation: inc as u64,
            seq: seq as u64,
        }),
        _ => None,
    };
    Ok(Some(SettledPoint {
        after,
        suffix: serde_json::from_str(&suffix)?,
        sessions: serde_json::from_str(&sessions)?,
    }))
}

/// Stores `cut` as the mark of `group`. A cut before every event is not stored (the group's next
/// fold is a full one, which then costs no more than the cut would save).
pub(crate) fn write(
    conn: &Connection,
    group: &str,
    cut: &SettledPoint,
) -> Result<(), StorageError> {
    let Some(a) = cut.after.as_ref() else {
        return forget(conn, group);
    };
    let a = Some(a);
    conn.prepare_cached(
        "INSERT OR REPLACE INTO fold_marks
            (group_key, at_ms, rank, hlc_ms, hlc_counter, origin, incarnation, seq, suffix, sessions)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        group,
        a.map(|k| k.at_ms),
        a.map(|k| i64::from(k.rank)),
        a.map(|k| k.hlc.wall_ms as i64),
        a.map(|k| i64::from(k.hlc.counter)),
        a.map(|k| k.origin.as_str()),
        a.map(|k| k.incarnation as i64),
        a.map(|k| k.seq as i64),
        serde_json::to_string(&cut.suffix)?,
        serde_json::to_string(&cut.sessions)?,
    ])?;
    Ok(())
}

/// Whether `history` holds a session of `group`.
fn has_rows(conn: &Connection, group: &str) -> Result<bool, StorageError> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM history WHERE plate_key = ?1)")?
        .query_row([group], |r| r.get(0))?)
}

/// Forgets the mark of `group` (its next fold is a full one).
pub(crate) fn forget(conn: &Connection, group: &str) -> Result<(), StorageError> {
    conn.prepare_cached("DELETE FROM fold_marks WHERE group_key = ?1")?
        .execute([group])?;
    Ok(())
}

/// Whether a session of `group` before the cut (not in `after`) has a real entry with event id
/// or edge event id `r`. (A session with an entry has the entry's id; `history.event_id` is the
/// entry's edge event id when it has one.)
fn names_prefix(
    conn: &Connection,
    group: &str,
    r: &str,
    after: &BTreeSet<&str>,
) -> Result<bool, StorageError> {
    for sql in [
        "SELECT session_id, plate_key, is_anomaly, entry_event_id FROM history WHERE session_id = ?1",
        "SELECT session_id, plate_key, is_anomaly, entry_event_id FROM history WHERE event_id = ?1",
    ] {
        let mut stmt = conn.prepare_cached(sql)?;
        let mut rows = stmt.query([r])?;
        while let Some(row) = rows.next()? {
            let session: String = row.get(0)?;
            let plate: String = row.get(1)?;
            let anomaly: bool = row.get(2)?;
            let entry: Option<String> = row.get(3)?;
            if plate == group && !anomaly && entry.is_some() && !after.contains(session.as_str()) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// The events after the cut and the operator events aimed at them. (None is aimed at the new
/// events: a stored event that an operator event already targets is folded in full, see
/// `project::insert_event`.)
fn load_after(conn: &Connection, cut: &SettledPoint) -> Result<Vec<Event>, StorageError> {
    let mut out = Vec::with_capacity(cut.suffix.len());
    for id in &cut.suffix {
        match project::load_event(conn, id)? {
            Some(e) => out.push(e),
            None => {
                return Err(StorageError::Corrupt(format!(
                    "fold mark names event {id}, which is not in the log"
                )));
            }
        }
    }
    for id in &cut.suffix {
        out.extend(project::load_aimed(conn, id)?);
    }
    Ok(out)
}

/// Re-folds `group` from its mark when the command's new events allow it; returns the ids of
/// the rows it held before that its fold no longer has, or `None` when the caller must fold the
/// group in full (no mark, or new events the incremental fold does not cover).
pub(crate) fn refold_after(
    conn: &Connection,
    own: &StreamId,
    tz: &jiff::tz::TimeZone,
    now_text: &str,
    group: &str,
    new: &[&Event],
    dirty: &mut Dirty,
) -> Result<Option<Vec<String>>, StorageError> {
    // The writer's memory of the group, else what the database holds.
    let (cut, held, mut known) = match dirty.tails.take(group) {
        Some(t) => (t.cut, Some(t.held), t.rows),
        None => {
            let cut = match read(conn, group)? {
                Some(cut) => cut,
                // Every group folded since migration 0006 has a mark (or no events before its
                // cut), and a group with foldable events has sessions: a group with neither
                // holds nothing to fold but the new events.
                None if !has_rows(conn, group)? => SettledPoint {
                    after: None,
                    suffix: Vec::new(),
                    sessions: Vec::new(),
                },
                None => return Ok(None),
            };
            (cut, None, HashMap::new())
        }
    };
    let after: BTreeSet<&str> = cut.sessions.iter().map(String::as_str).collect();
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
            if !covers(&cut, new, |r| prefix_refs.contains(r)) {
                return Ok(None);
            }
            load_after(conn, &cut)?
        }
    };
    let Some((fold, next)) = fold_after(&cut, &held, new, |r| prefix_refs.contains(r)) else {
        return Ok(None);
    };
    let mut gone: BTreeSet<String> = cut.sessions.iter().cloned().collect();
    let mut rows = HashMap::with_capacity(fold.sessions.len());
    for session in &fold.sessions {
        let stored = match (gone.remove(&session.id), known.remove(&session.id)) {
            (true, Some(row)) => Stored::Known(row),
            (true, None) => Stored::Probably,
            (false, _) => Stored::No,
        };
        let row =
            crate::sessions::write_session(conn, own, tz, now_text, group, session, stored, dirty)?;
        rows.insert(row.session_id.clone(), row);
    }
    if !dirty.no_conflicts {
        for winner in &cut.sessions {
            conn.prepare_cached("DELETE FROM conflicts WHERE plate_key = ?1 AND winner = ?2")?
                .execute([group, winner])?;
        }
    }
    crate::sessions::insert_conflicts(conn, group, &fold.conflicts, dirty)?;
    write(conn, group, &next)?;
    let tail = Tail::after_fold(next, held, new, rows);
    dirty.tails.put(group, tail);
    Ok(Some(gone.into_iter().collect()))
}
