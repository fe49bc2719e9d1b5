//! Projections: how a stored event changes `streams`, `history`, `conflicts`, `settings`,
//! `zones` and `history_changes`.
//!
//! Sessions are never updated in place by an event. Instead every raw plate an event touches is
//! marked dirty; before the command finishes its group keys are brought up to date (`group`:
//! the plate after operator corrections) and every group key involved is folded again: from its
//! last settled point when the new events allow it (`marks`), else all its events with
//! `parkmesh_parking::incremental::fold_with_settled_point` (the full fold, a deterministic function of the
//! event set, which also finds the next settled point). The resulting rows are compared with
//! what is stored and only real changes are written (and reported to `/ws/history`
//! subscribers). `history.plate_key` and `conflicts.plate_key` are group keys, so the result
//! equals `parkmesh_parking::project`.
//!
//! These functions run on the writer thread inside its open transaction (rusqlite, cached
//! prepared statements); see `writer`. So two centrals that hold the same
//! events hold the same sessions, whatever order the events arrived in.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use parkmesh_parking::fold::SessionStatus;
use parkmesh_parking::payload::{SubscriptionsPayload, Tariff};
use parkmesh_parking::subscription::Subscription;
use parkmesh_protocol::{CentralId, Event, EventId, EventKind, Hlc, StreamId};
use rusqlite::{Connection, OptionalExtension, params};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::StorageError;
use crate::rows::{HISTORY_COLUMNS, HistoryRow, history_row_w};
use crate::sessions::Stored;

/// `SELECT` of the `history` columns [`history_row_w`] reads, followed by `tail`.
pub(crate) fn select_history(tail: &str) -> String {
    format!("SELECT {HISTORY_COLUMNS} FROM history {tail}")
}

static OPEN_SESSIONS: LazyLock<String> =
    LazyLock::new(|| select_history("WHERE plate_key = ?1 AND status = 'IN'"));
static SESSION_OF_EVENT: LazyLock<String> =
    LazyLock::new(|| select_history("WHERE session_id = ?1 OR exit_event_id = ?1 LIMIT 1"));

/// What the current command touched.
#[derive(Debug, Default)]
pub(crate) struct Dirty {
    /// Raw plates (`events.plate_key`) whose events or operator events changed.
    pub(crate) plates: BTreeSet<String>,
    pub(crate) new_events: Vec<Event>,
    pub(crate) changed_sessions: Vec<HistoryRow>,
    /// Seqs newly stored per stream, for [`crate::heads::advance_heads`].
    pub(crate) stored: Vec<(StreamId, BTreeSet<u64>)>,
    /// The `conflicts` table is known to be empty (false: not known), so a re-fold that finds
    /// no conflict has nothing to delete. Cleared when a fold stores a conflict.
    pub(crate) no_conflicts: bool,
    /// Raw plates that an operator event of this command targets: folded in full.
    pub(crate) full_plates: BTreeSet<String>,
    /// Fold every group in full (the import, the group-key migration).
    pub(crate) full: bool,
    /// The writer's memory of group tails (lent to the command; empty outside the writer).
    pub(crate) tails: crate::tails::Tails,
}

/// Sortable text form of an event's order key, for "newest wins" projections.
fn order_key(e: &Event) -> String {
    format!(
        "{:016x}{:08x}{}\u{1}{:016x}{:016x}",
        e.hlc.wall_ms, e.hlc.counter, e.id.origin, e.id.incarnation, e.id.seq
    )
}

/// `value` as JSON text, written into a buffer of `capacity` bytes to start with (about the
/// size expected: growing a small buffer step by step cost more than writing the text).
pub(crate) fn json_text<T: serde::Serialize + ?Sized>(
    value: &T,
    capacity: usize,
) -> Result<String, StorageError> {
    let mut buf = Vec::with_capacity(capacity);
    serde_json::to_writer(&mut buf, value)?;
    String::from_utf8(buf).map_err(|e| StorageError::Corrupt(format!("JSON text: {e}")))
}

fn str_field<'a>(e: &'a Event, key: &str) -> Option<&'a str> {
    e.payload.get(key).and_then(|v| v.as_str())
}

/// Stores one event (ignoring it when already held) and applies the settings, zone and audit
/// projections; the event goes to `dirty.new_events`, its seq to the stream heads to advance
/// ([`crate::heads::advance_heads`]) and vehicle plates are marked dirty for [`refold`].
/// `fresh`: the event was just made by this central's writer, so no other event can name it
/// yet (its id was never sent anywhere), and the caller moves this central's stream head
/// itself (once per batch, or the import's own update).
pub(crate) fn insert_event(
    conn: &Connection,
    event: Event,
    fresh: bool,
    now: i64,
    dirty: &mut Dirty,
) -> Result<(), StorageError> {
    let (plate_key, session_ref) = match event.kind {
        EventKind::VehicleEntry | EventKind::VehicleExit | EventKind::VehicleLocation => {
            (str_field(&event, "plate_id").map(str::to_owned), None)
        }
        EventKind::HistoryEdit | EventKind::HistoryDelete => {
            (None, str_field(&event, "session").map(str::to_owned))
        }
        _ => (None, None),
    };
    let id_text = event.id.to_string();
    let inserted = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO events (origin, incarnation, seq, id_text, hlc_ms, hlc_counter, kind, schema,
                                           payload, plate_key, group_key, session_ref, received_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12)",
        )?
        .execute(params![
            event.id.origin.as_str(),
            event.id.incarnation as i64,
            event.id.seq as i64,
            id_text,
            event.hlc.wall_ms as i64,
            i64::from(event.hlc.counter),
            event.kind.as_str(),
            i64::from(event.schema),
            json_text(&event.payload, 512)?,
            plate_key,
            session_ref,
            now,
        ])?;
    if inserted == 0 {
        return Ok(());
    }
    if !fresh {
        dirty.stored_seq(&event.id);
    }
    let event = &*push(&mut dirty.new_events, event);
    if let Some(plate) = plate_key {
        // An operator event held before the event it targets: the plate is folded in full (the
        // incremental fold takes only operator events aimed at events after the cut).
        if !fresh && crate::group::is_aimed(conn, &id_text)? {
            if crate::group::is_edited(conn, &id_text)? {
                crate::group::note_edit(conn, &plate)?;
            }
            dirty.full_plates.insert(plate.clone());
        }
        dirty.plates.insert(plate);
    }
    match &event.kind {
        EventKind::HistoryEdit | EventKind::HistoryDelete => {
            if let Some(target) = &session_ref {
                audit(conn, event, target)?;
                let plate: Option<Option<String>> = conn
                    .prepare_cached("SELECT plate_key FROM events WHERE id_text = ?1")?
                    .query_row([target], |r| r.get(0))
                    .optional()?;
                if let Some(Some(plate)) = plate {
                    if event.kind == EventKind::HistoryEdit {
                        crate::group::note_edit(conn, &plate)?;
                    }
                    dirty.full_plates.insert(plate.clone());
                    dirty.plates.insert(plate);
                }
            }
        }
        EventKind::FeesSet => set_setting(conn, "fees", event)?,
        EventKind::SubscriptionsSet => set_setting(conn, "subscriptions", event)?,
        EventKind::StaffSet => set_setting(conn, "staff", event)?,
        EventKind::ZoneConfig => set_zone(conn, event)?,
        EventKind::CamerasConfig => set_setting(conn, "edge_cameras", event)?,
        _ => {}
    }
    Ok(())
}

fn push<T>(v: &mut Vec<T>, x: T) -> &mut T {
    v.push(x);
    let last = v.len() - 1;
    &mut v[last]
}

fn set_setting(conn: &Connection, key: &str, event: &Event) -> Result<(), StorageError> {
    conn.prepare_cached(
        "INSERT INTO settings (key, value, order_key, event_id) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value, order_key = excluded.order_key,
            event_id = excluded.event_id
         WHERE excluded.order_key > settings.order_key",
    )?
    .execute(params![
        key,
        serde_json::to_string(&event.payload)?,
        order_key(event),
        event.id.to_string()
    ])?;
    Ok(())
}

fn set_zone(conn: &Connection, event: &Event) -> Result<(), StorageError> {
    let Some(name) = str_field(event, "location_name") else {
        tracing::warn!(event_id = %event.id, "zone.config without location_name ignored");
        return Ok(());
    };
    conn.prepare_cached(
        "INSERT INTO zones (location_name, capacity, camera_id, camera_type, edge_id, order_key, event_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT(location_name) DO UPDATE SET capacity = excluded.capacity, camera_id = excluded.camera_id,
            camera_type = excluded.camera_type, edge_id = excluded.edge_id, order_key = excluded.order_key,
            event_id = excluded.event_id
         WHERE excluded.order_key > zones.order_key",
    )?
    .execute(params![
        name,
        event.payload.get("capacity").and_then(|v| v.as_i64()).unwrap_or(0),
        event.payload.get("camera_id").and_then(|v| v.as_i64()),
        str_field(event, "camera_type"),
        str_field(event, "edge_id"),
        order_key(event),
        event.id.to_string(),
    ])?;
    Ok(())
}

/// Records an operator change in `history_changes`, with the session's plate as this central
/// holds it when the change arrives.
fn audit(conn: &Connection, event: &Event, target: &str) -> Result<(), StorageError> {
    let old: Option<(String, String)> = conn
        .prepare_cached("SELECT plate_id, plate_view FROM history WHERE session_id = ?1")?
        .query_row([target], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (old_id, old_view) = old.map_or((None, None), |(a, b)| (Some(a), Some(b)));
    let (change_type, new_id, new_view) = match event.kind {
        EventKind::HistoryEdit => (
            "UPDATE",
            str_field(event, "plate_id"),
            str_field(event, "plate_view"),
        ),
        _ => ("DELETE", None, None),
    };
    conn.prepare_cached(
        "INSERT OR IGNORE INTO history_changes (change_event, session_id, change_type, old_plate_id, old_plate_view,
                                                new_plate_id, new_plate_view, changed_at_ms, changed_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        event.id.to_string(),
        target,
        change_type,
        old_id,
        old_view,
        new_id,
        new_view,
        // An imported change keeps the time the original recorded.
        parkmesh_parking::import::ImportTag::of(event)
            .and_then(|t| t.at_ms)
            .unwrap_or(event.hlc.wall_ms as i64),
        str_field(event, "changed_by").unwrap_or("system"),
    ])?;
    Ok(())
}

/// One event's stored columns, as read by either driver.
pub(crate) struct EventParts {
    pub(crate) origin: String,
    pub(crate) incarnation: i64,
    pub(crate) seq: i64,
    pub(crate) hlc_ms: i64,
    pub(crate) hlc_counter: i64,
    pub(crate) kind: String,
    pub(crate) schema: i64,
    pub(crate) payload: String,
}

impl EventParts {
    pub(crate) fn into_event(self) -> Result<Event, StorageError> {
        let payload = serde_json::from_str(&self.payload).map_err(|e| {
            StorageError::Corrupt(format!(
                "event {}/{}/{}: the stored payload is not valid JSON ({e})",
                self.origin, self.incarnation, self.seq
            ))
        })?;
        Ok(Event {
            id: EventId {
                origin: CentralId::new(self.origin)
                    .map_err(|e| StorageError::Corrupt(e.to_string()))?,
                incarnation: self.incarnation as u64,
                seq: self.seq as u64,
            },
            hlc: Hlc {
                wall_ms: self.hlc_ms as u64,
                counter: self.hlc_counter as u32,
            },
            kind: EventKind::from(self.kind),
            payload,
            schema: self.schema as u16,
        })
    }
}

/// An event from a read-pool (sqlx) row selected with [`EVENT_COLUMNS`].
pub(crate) fn event_from_row(r: &SqliteRow) -> Result<Event, StorageError> {
    EventParts {
        origin: r.try_get(0)?,
        incarnation: r.try_get(1)?,
        seq: r.try_get(2)?,
        hlc_ms: r.try_get(3)?,
        hlc_counter: r.try_get(4)?,
        kind: r.try_get(5)?,
        schema: r.try_get(6)?,
        payload: r.try_get(7)?,
    }
    .into_event()
}

fn event_from_row_w(r: &rusqlite::Row<'_>) -> rusqlite::Result<EventParts> {
    Ok(EventParts {
        origin: r.get(0)?,
        incarnation: r.get(1)?,
        seq: r.get(2)?,
        hlc_ms: r.get(3)?,
        hlc_counter: r.get(4)?,
        kind: r.get(5)?,
        schema: r.get(6)?,
        payload: r.get(7)?,
    })
}

pub(crate) const EVENT_COLUMNS: &str =
    "origin, incarnation, seq, hlc_ms, hlc_counter, kind, schema, payload";
const ADMIN_COLUMNS: &str =
    "a.origin, a.incarnation, a.seq, a.hlc_ms, a.hlc_counter, a.kind, a.schema, a.payload";

/// How [`load_events`] selects a plate's vehicle events.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PlateOf {
    /// By group key (`events.group_key`): the events folded together.
    Group,
    /// By raw plate (`events.plate_key`): the events as the cameras read them.
    Raw,
}

/// `WHERE` terms (on table alias `t`, key `?1`) selecting the events of a raw plate, as two
/// alternatives for a `UNION ALL`: the raw plate index holds only the events whose group key
/// differs from their raw plate (migration 0008), the group key index the others.
pub(crate) const RAW_PLATE: [&str; 2] = [
    "t.group_key = ?1 AND t.plate_key = ?1",
    "t.plate_key = ?1 AND t.group_key IS NOT t.plate_key",
];

/// The vehicle events of plate `key` (see [`PlateOf`]), plus the operator events
/// (`history.edit` / `history.delete`) targeting them. (A join rather than `IN (SELECT ..)`,
/// which builds a temporary table per call; `id_text` is unique, so the join adds no
/// duplicates.)
pub(crate) fn load_events(
    conn: &Connection,
    of: PlateOf,
    key: &str,
) -> Result<Vec<Event>, StorageError> {
    let terms: &[&str] = match of {
        PlateOf::Group => &["t.group_key = ?1"],
        PlateOf::Raw => &RAW_PLATE,
    };
    let mut sql = Vec::with_capacity(2 * terms.len());
    for term in terms {
        sql.push(format!("SELECT {EVENT_COLUMNS} FROM events t WHERE {term}"));
    }
    for term in terms {
        sql.push(format!(
            "SELECT {ADMIN_COLUMNS} FROM events t JOIN events a ON a.session_ref = t.id_text WHERE {term}"
        ));
    }
    conn.prepare_cached(&sql.join(" UNION ALL "))?
        .query_map([key], event_from_row_w)?
        .map(|p| {
            p.map_err(StorageError::from)
                .and_then(EventParts::into_event)
        })
        .collect()
}

/// The operator events (`history.edit` / `history.delete`) aimed at event `id_text`.
pub(crate) fn load_aimed(conn: &Connection, id_text: &str) -> Result<Vec<Event>, StorageError> {
    conn.prepare_cached(&format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE session_ref = ?1"
    ))?
    .query_map([id_text], event_from_row_w)?
    .map(|p| {
        p.map_err(StorageError::from)
            .and_then(EventParts::into_event)
    })
    .collect()
}

/// The event whose id text is `id_text`, if the log holds it.
pub(crate) fn load_event(conn: &Connection, id_text: &str) -> Result<Option<Event>, StorageError> {
    conn.prepare_cached(&format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE id_text = ?1"
    ))?
    .query_row([id_text], event_from_row_w)
    .optional()?
    .map(EventParts::into_event)
    .transpose()
}

/// Brings the group keys of every dirty raw plate up to date, re-folds every group key
/// involved and writes the sessions and conflicts that changed.
pub(crate) fn refold(
    conn: &Connection,
    own: &StreamId,
    tz: &jiff::tz::TimeZone,
    now: i64,
    dirty: &mut Dirty,
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
    let now_text = parkmesh_parking::time::format_local(now, tz);
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
            crate::marks::refold_after(conn, own, tz, &now_text, &group, new, dirty)?
        };
        let gone = match incremental {
            Some(gone) => gone,
            None => refold_group(conn, own, tz, &now_text, &group, dirty)?,
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

/// Folds one group key in full, writes its changed sessions, its conflicts and its fold mark;
/// returns the ids of the rows it held before that its fold no longer has.
fn refold_group(
    conn: &Connection,
    own: &StreamId,
    tz: &jiff::tz::TimeZone,
    now_text: &str,
    group: &str,
    dirty: &mut Dirty,
) -> Result<Vec<String>, StorageError> {
    let events = load_events(conn, PlateOf::Group, group)?;
    let (fold, cut) = parkmesh_parking::incremental::fold_with_settled_point(&events);

    dirty.tails.forget(group);
    let mut existing: BTreeSet<String> = conn
        .prepare_cached("SELECT session_id FROM history WHERE plate_key = ?1")?
        .query_map([group], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let first_after = fold.sessions.len().saturating_sub(cut.sessions.len());
    let mut rows = std::collections::HashMap::with_capacity(cut.sessions.len());
    for (i, session) in fold.sessions.iter().enumerate() {
        let stored = if existing.remove(&session.id) {
            Stored::Probably
        } else {
            Stored::No
        };
        let row =
            crate::sessions::write_session(conn, own, tz, now_text, group, session, stored, dirty)?;
        if i >= first_after {
            rows.insert(row.session_id.clone(), row);
        }
    }
    if !dirty.no_conflicts {
        conn.prepare_cached("DELETE FROM conflicts WHERE plate_key = ?1")?
            .execute([group])?;
    }
    crate::sessions::insert_conflicts(conn, group, &fold.conflicts, dirty)?;
    crate::marks::write(conn, group, &cut)?;
    let tail = crate::tails::Tail::after_fold(cut, events, &[], rows);
    dirty.tails.put(group, tail);
    Ok(existing.into_iter().collect())
}

/// The newest session of a plate that blocks a new entry (see `parkmesh_parking::blocks_entry`), if any.
pub(crate) fn open_session(
    conn: &Connection,
    plate: &str,
) -> Result<Option<HistoryRow>, StorageError> {
    // The newest by entry time (NULL oldest, as SQLite orders it). Picked here rather than with
    // `ORDER BY entry_ms DESC LIMIT 1`, which sets up a sorter for the (almost always zero or
    // one) rows of the index search.
    let mut newest: Option<HistoryRow> = None;
    for row in conn
        .prepare_cached(&OPEN_SESSIONS)?
        .query_map([plate], history_row_w)?
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
    id_text: &str,
) -> Result<Option<HistoryRow>, StorageError> {
    Ok(conn
        .prepare_cached(&SESSION_OF_EVENT)?
        .query_row([id_text], history_row_w)
        .optional()?)
}

pub(crate) fn setting(conn: &Connection, key: &str) -> Result<Option<String>, StorageError> {
    Ok(conn
        .prepare_cached("SELECT value FROM settings WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?)
}

/// The replicated fee table in force, or the seed default (0.5 h free, 25 000 VND per hour).
pub(crate) fn tariff(conn: &Connection) -> Result<Tariff, StorageError> {
    Ok(match setting(conn, "fees")? {
        Some(v) => serde_json::from_str(&v)?,
        None => Tariff::default(),
    })
}

/// The replicated subscription list (empty when never set).
pub(crate) fn subscriptions(conn: &Connection) -> Result<Vec<Subscription>, StorageError> {
    Ok(match setting(conn, "subscriptions")? {
        Some(v) => serde_json::from_str::<SubscriptionsPayload>(&v)?.subscriptions,
        None => Vec::new(),
    })
}
