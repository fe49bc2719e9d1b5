//! The event log's rows: how an event is stored and read back (either driver), and the loads
//! of a group's or a raw plate's events that the fold and the group keys read.
//!
//! A leaf of the write path: it reads and encodes, and calls no other module of the crate.

use parkmesh_protocol::{CentralId, Event, EventId, EventKind, Hlc};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::codec::{self, StoredPayload};
use crate::error::StorageError;

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

/// One event's stored columns, as read by either driver.
pub(crate) struct EventParts {
    pub(crate) origin: String,
    pub(crate) incarnation: i64,
    pub(crate) seq: i64,
    pub(crate) hlc_ms: i64,
    pub(crate) hlc_counter: i64,
    /// The kind: its code (`codec::kind_code`) or, for a kind without one, its text.
    pub(crate) kind: KindColumn,
    pub(crate) schema: i64,
    /// The stored payload's bytes: the compact form (`codec`) or, in a row written before
    /// migration 0011 and not yet re-encoded, JSON text.
    pub(crate) payload: Vec<u8>,
    /// Whether `payload` is JSON text.
    pub(crate) payload_is_json: bool,
}

impl EventParts {
    pub(crate) fn into_event(self) -> Result<Event, StorageError> {
        let stored = if self.payload_is_json {
            StoredPayload::Json(&self.payload)
        } else {
            StoredPayload::Compact(&self.payload)
        };
        let payload = codec::decode_stored(stored, &|| {
            format!("event {}/{}/{}", self.origin, self.incarnation, self.seq)
        })?;
        let kind = match self.kind {
            KindColumn::Code(code) => codec::kind_of_code(code).ok_or_else(|| {
                StorageError::Corrupt(format!(
                    "event {}/{}/{}: unknown kind code {code}",
                    self.origin, self.incarnation, self.seq
                ))
            })?,
            KindColumn::Text(text) => EventKind::from(text),
        };
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
            kind,
            payload,
            schema: self.schema as u16,
        })
    }
}

/// `events.kind` as stored.
pub(crate) enum KindColumn {
    /// A kind's code (`codec::kind_code`).
    Code(i64),
    /// A kind without a code, as text.
    Text(String),
}

/// `events.kind` of a pool (sqlx) row's column `col`.
fn kind_from_row(r: &SqliteRow, col: usize) -> Result<KindColumn, StorageError> {
    use sqlx::{TypeInfo, ValueRef as _};
    Ok(if r.try_get_raw(col)?.type_info().name() == "INTEGER" {
        KindColumn::Code(r.try_get(col)?)
    } else {
        KindColumn::Text(r.try_get(col)?)
    })
}

/// `events.kind` of the writer's rusqlite row, column `col`.
pub(crate) fn kind_from_row_w(r: &rusqlite::Row<'_>, col: usize) -> rusqlite::Result<KindColumn> {
    Ok(match r.get_ref(col)? {
        ValueRef::Integer(code) => KindColumn::Code(code),
        _ => KindColumn::Text(r.get(col)?),
    })
}

/// A stored payload column read through the pool (sqlx): its bytes and whether they are JSON
/// text (see [`EventParts::payload`]).
pub(crate) fn payload_from_row(r: &SqliteRow, col: usize) -> Result<(Vec<u8>, bool), StorageError> {
    use sqlx::{TypeInfo, ValueRef};
    let is_json = r.try_get_raw(col)?.type_info().name() == "TEXT";
    Ok((r.try_get::<Vec<u8>, _>(col)?, is_json))
}

/// The payload of a pool (sqlx) row's column `col` (either stored form); `what` names the
/// event in an error.
pub(crate) fn payload_value(
    r: &SqliteRow,
    col: usize,
    what: &dyn Fn() -> String,
) -> Result<serde_json::Value, StorageError> {
    let (bytes, is_json) = payload_from_row(r, col)?;
    let stored = if is_json {
        StoredPayload::Json(&bytes)
    } else {
        StoredPayload::Compact(&bytes)
    };
    codec::decode_stored(stored, what)
}

/// An event from a read-pool (sqlx) row selected with [`EVENT_COLUMNS`].
pub(crate) fn event_from_row(r: &SqliteRow) -> Result<Event, StorageError> {
    let (payload, payload_is_json) = payload_from_row(r, 7)?;
    EventParts {
        origin: r.try_get(0)?,
        incarnation: r.try_get(1)?,
        seq: r.try_get(2)?,
        hlc_ms: r.try_get(3)?,
        hlc_counter: r.try_get(4)?,
        kind: kind_from_row(r, 5)?,
        schema: r.try_get(6)?,
        payload,
        payload_is_json,
    }
    .into_event()
}

fn event_from_row_w(r: &rusqlite::Row<'_>) -> rusqlite::Result<EventParts> {
    let (payload, payload_is_json) = match r.get_ref(7)? {
        ValueRef::Text(t) => (t.to_vec(), true),
        ValueRef::Blob(b) => (b.to_vec(), false),
        other => {
            return Err(rusqlite::Error::InvalidColumnType(
                7,
                "payload".to_owned(),
                other.data_type(),
            ));
        }
    };
    Ok(EventParts {
        origin: r.get(0)?,
        incarnation: r.get(1)?,
        seq: r.get(2)?,
        hlc_ms: r.get(3)?,
        hlc_counter: r.get(4)?,
        kind: kind_from_row_w(r, 5)?,
        schema: r.get(6)?,
        payload,
        payload_is_json,
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
/// alternatives for a `UNION ALL`. `events.plate_key` holds the raw plate only when a correction
/// moved the event to another group key (migration 0011; the index `events_plate_moved` holds
/// just those); for the others it is NULL and the raw plate is the group key.
pub(crate) const RAW_PLATE: [&str; 2] = [
    "t.group_key = ?1 AND t.plate_key IS NULL",
    "t.plate_key = ?1",
];

/// SQL of the raw plate of the event row under alias `alias` (see [`RAW_PLATE`]).
pub(crate) fn raw_plate_of(alias: &str) -> String {
    format!("COALESCE({alias}.plate_key, {alias}.group_key)")
}

/// The vehicle events of plate `key` (see [`PlateOf`]), plus the operator events
/// (`history.edit` / `history.delete`) targeting them. (A join rather than `IN (SELECT ..)`,
/// which builds a temporary table per call; an event's id text is unique, so the join adds no
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
            "SELECT {ADMIN_COLUMNS} FROM events t JOIN events a ON a.session_ref = {} WHERE {term}",
            id_text_of("t")
        ));
    }
    query_events(conn, &sql.join(" UNION ALL "), key)
}

/// The operator events (`history.edit` / `history.delete`) aimed at event `id_text`.
pub(crate) fn load_aimed(conn: &Connection, id_text: &str) -> Result<Vec<Event>, StorageError> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE session_ref = ?1");
    query_events(conn, &sql, id_text)
}

/// The events that `sql` (selecting the event columns, one parameter) finds for `param`.
fn query_events(conn: &Connection, sql: &str, param: &str) -> Result<Vec<Event>, StorageError> {
    conn.prepare_cached(sql)?
        .query_map([param], event_from_row_w)?
        .map(|p| {
            p.map_err(StorageError::from)
                .and_then(EventParts::into_event)
        })
        .collect()
}

/// The event whose id text is `id_text`, if the log holds it.
pub(crate) fn load_event(conn: &Connection, id_text: &str) -> Result<Option<Event>, StorageError> {
    let Some((origin, incarnation, seq)) = id_key(id_text) else {
        return Ok(None);
    };
    conn.prepare_cached(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE {BY_ID}"))?
        .query_row(
            rusqlite::params![origin, incarnation, seq],
            event_from_row_w,
        )
        .optional()?
        .map(EventParts::into_event)
        .transpose()
}

/// `WHERE` term selecting the event whose key is `?1, ?2, ?3` ([`id_key`]): one search of the
/// log's unique key. (The id text itself is not stored: it is made of these three columns.)
pub(crate) const BY_ID: &str = "origin = ?1 AND incarnation = ?2 AND seq = ?3";

/// The stored key (origin, incarnation, seq) of the event whose id text is `id_text`; `None`
/// when the text is no event id (then no event has it).
pub(crate) fn id_key(id_text: &str) -> Option<(String, i64, i64)> {
    let id = EventId::parse(id_text).ok()?;
    Some((
        id.origin.as_str().to_owned(),
        i64::try_from(id.incarnation).ok()?,
        i64::try_from(id.seq).ok()?,
    ))
}

/// SQL text of the id (`origin:incarnation:seq`) of the event row under alias `alias`, as
/// [`EventId`]'s `Display` writes it.
pub(crate) fn id_text_of(alias: &str) -> String {
    format!("({alias}.origin || ':' || {alias}.incarnation || ':' || {alias}.seq)")
}

/// The raw plate of the event whose id text is `id_text`: `Some(None)` for a held event
/// without a plate, `None` when the log does not hold it.
pub(crate) fn plate_of(
    conn: &Connection,
    id_text: &str,
) -> Result<Option<Option<String>>, StorageError> {
    let Some((origin, incarnation, seq)) = id_key(id_text) else {
        return Ok(None);
    };
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {} FROM events t WHERE {BY_ID}",
            raw_plate_of("t")
        ))?
        .query_row(rusqlite::params![origin, incarnation, seq], |r| r.get(0))
        .optional()?)
}
