//! Writing folded sessions: a session becomes a `history` row (`to_row`), inserted when new and
//! otherwise updated in the columns that changed; a group's conflicts are written as rows of
//! `conflicts`. The last step of the write path: used by the fold (`refold`) and the bulk
//! import (`bulk`); it calls only the row types (`rows`) and the reports' change marks
//! (`report`). Also the writer's two reads of sessions (the open session of a plate, the session
//! of an event).

use std::sync::LazyLock;

use parkmesh_parking::fold::{Session, SessionStatus};
use parkmesh_protocol::StreamId;
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::StorageError;
use crate::rows::{
    HistoryRow, Now, RowContext, history_diff, history_row_w, select_history, stored_id,
    stored_time,
};
use crate::work::WorkingSet;

static HISTORY_BY_SESSION: LazyLock<String> =
    LazyLock::new(|| select_history("WHERE session_id = ?1"));
static OPEN_SESSIONS: LazyLock<String> =
    LazyLock::new(|| select_history("WHERE plate_key = ?1 AND status = 'IN'"));
static SESSION_OF_EVENT: LazyLock<String> =
    LazyLock::new(|| select_history("WHERE session_id = ?1 OR exit_event_id = ?1 LIMIT 1"));

/// The newest session of a plate that blocks a new entry (see `parkmesh_parking::blocks_entry`), if
/// any.
pub(crate) fn open_session(
    conn: &Connection,
    cx: &RowContext<'_>,
    plate: &str,
) -> Result<Option<HistoryRow>, StorageError> {
    // The newest by entry time (NULL oldest, as SQLite orders it). Picked here rather than with
    // `ORDER BY entry_ms DESC LIMIT 1`, which sets up a sorter for the (almost always zero or
    // one) rows of the index search.
    let mut newest: Option<HistoryRow> = None;
    for row in conn
        .prepare_cached(&OPEN_SESSIONS)?
        .query_map([plate], |r| history_row_w(r, cx))?
    {
        let row = row?;
        if !parkmesh_parking::blocks_entry(SessionStatus::In, row.deleted, row.is_anomaly) {
            continue;
        }
        if newest.as_ref().is_none_or(|n| row.entry_ms > n.entry_ms) {
            newest = Some(row);
        }
    }
    Ok(newest)
}

/// The session an event opened or closed, if any.
pub(crate) fn session_of_event(
    conn: &Connection,
    cx: &RowContext<'_>,
    id_text: &str,
) -> Result<Option<HistoryRow>, StorageError> {
    Ok(conn
        .prepare_cached(&SESSION_OF_EVENT)?
        .query_row([id_text], |r| history_row_w(r, cx))
        .optional()?)
}

/// What the caller knows of a session's stored row. (A short-lived argument: the row is moved
/// in, not boxed.)
#[allow(clippy::large_enum_variant)]
pub(crate) enum Stored {
    /// Not stored under the group (an insert is tried first).
    No,
    /// (Probably) stored under the group: read it.
    Probably,
    /// Stored exactly so (the writer's memory of the group, `unsettled`).
    Known(HistoryRow),
}

/// Writes one folded session of `group` when it is new or changed; returns its row as stored
/// afterwards.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_session(
    conn: &Connection,
    own: &StreamId,
    tz: &jiff::tz::TimeZone,
    now: &Now,
    group: &str,
    session: &Session,
    stored: Stored,
    dirty: &mut WorkingSet,
) -> Result<HistoryRow, StorageError> {
    let mut row = to_row(session, group, own, tz, &now.text);
    let cx = RowContext {
        tz,
        own: own.origin.as_str(),
    };
    // A session not stored under this group is tried as an insert first; one that exists
    // elsewhere (moved here from another group key) is then read and updated.
    let old = match stored {
        Stored::Known(old) => Some(old),
        Stored::Probably => row_by_session(conn, &cx, &session.id)?,
        Stored::No => None,
    };
    let old = match old {
        Some(old) => old,
        None => match insert_row(conn, tz, now, &row)? {
            Some(id) => {
                row.id = id;
                dirty.changed_sessions.push(row.clone());
                return Ok(row);
            }
            None => {
                let old = row_by_session(conn, &cx, &session.id)?.ok_or_else(|| {
                    StorageError::Corrupt(format!(
                        "history row of session {} neither insertable nor found",
                        session.id
                    ))
                })?;
                // Its old group's remembered rows no longer hold it.
                dirty.unsettled.forget(&old.plate_key);
                old
            }
        },
    };
    row.id = old.id;
    row.created_at.clone_from(&old.created_at);
    row.updated_at.clone_from(&old.updated_at);
    // The local columns are now equal: the rows differ only if the projection changed.
    if old == row {
        return Ok(old);
    }
    row.updated_at.clone_from(&now.text);
    update_row(conn, tz, now, &old, &row)?;
    dirty.changed_sessions.push(row.clone());
    Ok(row)
}

/// Inserts a group's conflicts (after its old ones were deleted).
pub(crate) fn insert_conflicts(
    conn: &Connection,
    group: &str,
    conflicts: &[parkmesh_parking::fold::Conflict],
    dirty: &mut WorkingSet,
) -> Result<(), StorageError> {
    if !conflicts.is_empty() {
        dirty.no_conflicts = false;
    }
    for c in conflicts {
        conn.prepare_cached("INSERT INTO conflicts (plate_key, kind, winner, losers, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)")?
            .execute(params![group, c.kind, c.winner, serde_json::to_string(&c.losers)?, c.at_ms])?;
    }
    Ok(())
}

fn row_by_session(
    conn: &Connection,
    cx: &RowContext<'_>,
    session_id: &str,
) -> Result<Option<HistoryRow>, StorageError> {
    Ok(conn
        .prepare_cached(&HISTORY_BY_SESSION)?
        .query_row([session_id], |r| history_row_w(r, cx))
        .optional()?)
}

pub(crate) fn to_row(
    s: &Session,
    plate: &str,
    own: &StreamId,
    tz: &jiff::tz::TimeZone,
    now_text: &str,
) -> HistoryRow {
    let local = |ms: i64| parkmesh_parking::time::format_local(ms, tz);
    let entry = s.entry.as_ref();
    let exit = s.exit.as_ref();
    // The entry's edge event id; an anomaly's "entry" is a sighting, whose id is not shown.
    let edge_event_id = entry
        .filter(|_| !s.is_anomaly)
        .and_then(|e| e.edge_event_id.clone());
    HistoryRow {
        id: 0,
        session_id: s.id.clone(),
        plate_key: plate.to_owned(),
        entry_event_id: entry.map(|e| e.event_id.clone()),
        exit_event_id: exit.map(|e| e.event_id.clone()),
        event_id: Some(edge_event_id.unwrap_or_else(|| s.id.clone())),
        source_central: Some(s.source_central.to_string()),
        edge_id: entry.or(exit).and_then(|e| e.edge_id.clone()),
        plate_id: s.plate_id.clone(),
        plate_view: s.plate_view.clone(),
        entry_ms: entry.map(|e| e.at_ms),
        entry_time: entry.map(|e| local(e.at_ms)),
        entry_camera_id: entry.and_then(|e| e.camera_id),
        entry_camera_name: entry.map(|e| e.camera_name.clone()),
        entry_confidence: entry.map(|e| e.confidence),
        entry_source: entry.map(|e| e.source.clone()),
        exit_ms: exit.map(|e| e.at_ms),
        exit_time: exit.map(|e| local(e.at_ms)),
        exit_camera_id: exit.and_then(|e| e.camera_id),
        exit_camera_name: exit.map(|e| e.camera_name.clone()),
        exit_confidence: exit.map(|e| e.confidence),
        exit_source: exit.map(|e| e.source.clone()),
        duration: s.duration.clone(),
        fee: s.fee,
        status: match s.status {
            SessionStatus::In => "IN".to_owned(),
            SessionStatus::Out => "OUT".to_owned(),
        },
        sync_status: if s.source_central == own.origin {
            "LOCAL"
        } else {
            "SYNCED"
        }
        .to_owned(),
        exception: s.exception,
        exempt: s.exempt.clone(),
        is_anomaly: s.is_anomaly,
        deleted: s.deleted,
        last_location: s.last_location.clone(),
        last_location_ms: s.last_location_ms,
        last_location_time: s.last_location_ms.map(local),
        entry_late: entry.is_some_and(|e| e.late),
        exit_late: exit.is_some_and(|e| e.late),
        time_clamped: entry.is_some_and(|e| e.clamped) || exit.is_some_and(|e| e.clamped),
        entry_operator: entry.and_then(|e| e.operator.clone()),
        exit_operator: exit.and_then(|e| e.operator.clone()),
        exit_plate: exit.and_then(|e| e.matched.exit_plate.clone()),
        exit_plate_view: exit.and_then(|e| e.matched.exit_plate_view.clone()),
        plate_match: exit.and_then(|e| e.matched.plate_match.clone()),
        match_candidates: exit
            .filter(|e| !e.matched.match_candidates.is_empty())
            .map(|e| e.matched.match_candidates.join(",")),
        created_at: now_text.to_owned(),
        updated_at: now_text.to_owned(),
    }
}

/// Updates the row of `old.session_id` from `old` to `new`, writing only the columns that
/// differ: SQLite rewrites every index that holds a column named in `SET`, so naming all of them
/// would rewrite all seven indexes of `history` for every change. The few distinct column sets
/// (an exit closing a session, a sighting, an edit, ...) each get their cached statement.
fn update_row(
    conn: &Connection,
    tz: &jiff::tz::TimeZone,
    now: &Now,
    old: &HistoryRow,
    new: &HistoryRow,
) -> Result<(), StorageError> {
    let mut diff = history_diff(old, new);
    let entry_id = stored_id(&new.entry_event_id, &new.session_id);
    if stored_id(&old.entry_event_id, &old.session_id) != entry_id {
        diff.push(("entry_event_id", &entry_id));
    }
    let event_id = stored_id(&new.event_id, &new.session_id);
    if stored_id(&old.event_id, &old.session_id) != event_id {
        diff.push(("event_id", &event_id));
    }
    let created_at = stored_time(&new.created_at, tz, now);
    if old.created_at != new.created_at {
        diff.push(("created_at", &created_at));
    }
    let updated_at = stored_time(&new.updated_at, tz, now);
    if old.updated_at != new.updated_at {
        diff.push(("updated_at", &updated_at));
    }
    if diff.is_empty() {
        return Ok(());
    }
    let mut sql = String::from("UPDATE history SET ");
    let mut params: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(diff.len() + 1);
    params.push(&old.session_id);
    for (i, (col, value)) in diff.into_iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(col);
        sql.push_str(" = ?");
        sql.push_str(&(i + 2).to_string());
        params.push(value);
    }
    sql.push_str(" WHERE session_id = ?1");
    conn.prepare_cached(&sql)?.execute(params.as_slice())?;
    // Report change marks: the old and new days, when a column the reports read changed.
    if (
        &old.entry_ms,
        &old.exit_ms,
        &old.exit_event_id,
        &old.source_central,
    ) != (
        &new.entry_ms,
        &new.exit_ms,
        &new.exit_event_id,
        &new.source_central,
    ) || (old.fee, &old.exempt, old.exception, old.deleted)
        != (new.fee, &new.exempt, new.exception, new.deleted)
    {
        crate::report::mark_days(
            conn,
            &[old.entry_ms, old.exit_ms, new.entry_ms, new.exit_ms],
        )?;
    }
    Ok(())
}

/// Inserts a new session row, marks its days for the reports and returns its id; `None` when a
/// row with this session id exists already (under another group key).
pub(crate) fn insert_row(
    conn: &Connection,
    tz: &jiff::tz::TimeZone,
    now: &Now,
    r: &HistoryRow,
) -> Result<Option<i64>, StorageError> {
    let id = insert_row_unmarked(conn, tz, now, r)?;
    if id.is_some() {
        // Report change marks (see `report::mark_days`).
        crate::report::mark_days(conn, &[r.entry_ms, r.exit_ms])?;
    }
    Ok(id)
}

/// [`insert_row`] without the reports' change marks: the bulk import marks each day once at the
/// end instead of twice per row. No `RETURNING`: SQLite runs that through a temporary table per
/// statement.
pub(crate) fn insert_row_unmarked(
    conn: &Connection,
    tz: &jiff::tz::TimeZone,
    now: &Now,
    r: &HistoryRow,
) -> Result<Option<i64>, StorageError> {
    // The derived columns are not stored (`rows::RowContext`).
    let sql = "INSERT INTO history (session_id, plate_key, entry_event_id, exit_event_id, event_id, source_central,
            edge_id, plate_id, plate_view, entry_ms, entry_camera_id, entry_camera_name,
            entry_confidence, entry_source, exit_ms, exit_camera_id, exit_camera_name, exit_confidence,
            exit_source, fee, status, exception, exempt, is_anomaly, deleted,
            last_location, last_location_ms, entry_late, exit_late, time_clamped,
            entry_operator, exit_operator, created_at, updated_at,
            exit_plate, exit_plate_view, plate_match, match_candidates)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,
                 ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34, ?35, ?36,
                 ?37, ?38)
         ON CONFLICT(session_id) DO NOTHING";
    let inserted = conn.prepare_cached(sql)?.execute(params![
        r.session_id,
        r.plate_key,
        stored_id(&r.entry_event_id, &r.session_id),
        r.exit_event_id,
        stored_id(&r.event_id, &r.session_id),
        r.source_central,
        r.edge_id,
        r.plate_id,
        r.plate_view,
        r.entry_ms,
        r.entry_camera_id,
        r.entry_camera_name,
        r.entry_confidence,
        r.entry_source,
        r.exit_ms,
        r.exit_camera_id,
        r.exit_camera_name,
        r.exit_confidence,
        r.exit_source,
        r.fee,
        r.status,
        r.exception,
        r.exempt,
        r.is_anomaly,
        r.deleted,
        r.last_location,
        r.last_location_ms,
        r.entry_late,
        r.exit_late,
        r.time_clamped,
        r.entry_operator,
        r.exit_operator,
        stored_time(&r.created_at, tz, now),
        stored_time(&r.updated_at, tz, now),
        r.exit_plate,
        r.exit_plate_view,
        r.plate_match,
        r.match_candidates,
    ])?;
    if inserted == 0 {
        return Ok(None);
    }
    Ok(Some(conn.last_insert_rowid()))
}
