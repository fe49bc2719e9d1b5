//! Projections: how a stored event changes `streams`, `history`, `conflicts`, `settings`,
//! `zones` and `history_changes`.
//!
//! Sessions are never updated in place by an event. Instead every plate an event touches is
//! marked dirty and, before the command finishes, all events of that plate are loaded and folded
//! again with `parkmesh_parking::fold::fold_plate`, which is a deterministic function of the
//! event set. The resulting rows are compared with what is stored and only real changes are
//! written (and reported to `/ws/history` subscribers). So two centrals that hold the same
//! events hold the same sessions, whatever order the events arrived in.

use std::collections::{BTreeMap, BTreeSet};

use parkmesh_parking::fold::{Session, SessionStatus};
use parkmesh_parking::payload::{EntryPayload, Payload, SubscriptionsPayload, Tariff};
use parkmesh_parking::subscription::Subscription;
use parkmesh_protocol::{CentralId, Event, EventId, EventKind, Hlc, StreamId};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use crate::StorageError;
use crate::rows::{HistoryRow, history_row};

/// What the current command touched.
#[derive(Debug, Default)]
pub(crate) struct Dirty {
    pub(crate) plates: BTreeSet<String>,
    pub(crate) new_events: Vec<Event>,
    pub(crate) changed_sessions: Vec<HistoryRow>,
}

/// Sortable text form of an event's order key, for "newest wins" projections.
fn order_key(e: &Event) -> String {
    format!(
        "{:016x}{:08x}{}\u{1}{:016x}{:016x}",
        e.hlc.wall_ms, e.hlc.counter, e.id.origin, e.id.incarnation, e.id.seq
    )
}

fn str_field<'a>(e: &'a Event, key: &str) -> Option<&'a str> {
    e.payload.get(key).and_then(|v| v.as_str())
}

/// Stores one event (ignoring it when already held), advances the stream head and applies the
/// settings, zone and audit projections; vehicle plates are marked dirty for [`refold`].
pub(crate) async fn insert_event(
    conn: &mut SqliteConnection,
    event: &Event,
    now: i64,
    dirty: &mut Dirty,
) -> Result<(), StorageError> {
    let (plate_key, session_ref) = match event.kind {
        EventKind::VehicleEntry | EventKind::VehicleExit | EventKind::VehicleLocation => {
            (str_field(event, "plate_id").map(str::to_owned), None)
        }
        EventKind::HistoryEdit | EventKind::HistoryDelete => {
            (None, str_field(event, "session").map(str::to_owned))
        }
        _ => (None, None),
    };
    let id_text = event.id.to_string();
    let inserted = sqlx::query(
        "INSERT OR IGNORE INTO events (origin, incarnation, seq, id_text, hlc_ms, hlc_counter, kind, schema,
                                       payload, plate_key, session_ref, received_at_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(event.id.origin.as_str())
    .bind(event.id.incarnation as i64)
    .bind(event.id.seq as i64)
    .bind(&id_text)
    .bind(event.hlc.wall_ms as i64)
    .bind(event.hlc.counter as i64)
    .bind(event.kind.as_str())
    .bind(event.schema as i64)
    .bind(serde_json::to_string(&event.payload)?)
    .bind(&plate_key)
    .bind(&session_ref)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(());
    }
    advance_head(conn, &event.id).await?;
    dirty.new_events.push(event.clone());
    if let Some(plate) = plate_key {
        dirty.plates.insert(plate);
    }
    match &event.kind {
        EventKind::HistoryEdit | EventKind::HistoryDelete => {
            if let Some(target) = &session_ref {
                audit(conn, event, target).await?;
                let plate: Option<Option<String>> =
                    sqlx::query_scalar("SELECT plate_key FROM events WHERE id_text = ?")
                        .bind(target)
                        .fetch_optional(&mut *conn)
                        .await?;
                if let Some(Some(plate)) = plate {
                    dirty.plates.insert(plate);
                }
            }
        }
        EventKind::FeesSet => set_setting(conn, "fees", event).await?,
        EventKind::SubscriptionsSet => set_setting(conn, "subscriptions", event).await?,
        EventKind::StaffSet => set_setting(conn, "staff", event).await?,
        EventKind::ZoneConfig => set_zone(conn, event).await?,
        _ => {}
    }
    Ok(())
}

/// Moves the stream's contiguous head forward over `id` and any already-held successors. A
/// gap keeps the head where it is, so the vector never claims an event that is missing.
async fn advance_head(conn: &mut SqliteConnection, id: &EventId) -> Result<(), StorageError> {
    let origin = id.origin.as_str();
    let inc = id.incarnation as i64;
    sqlx::query("INSERT OR IGNORE INTO streams (origin, incarnation, head_seq) VALUES (?, ?, 0)")
        .bind(origin)
        .bind(inc)
        .execute(&mut *conn)
        .await?;
    let mut head: i64 =
        sqlx::query_scalar("SELECT head_seq FROM streams WHERE origin = ? AND incarnation = ?")
            .bind(origin)
            .bind(inc)
            .fetch_one(&mut *conn)
            .await?;
    if id.seq as i64 != head + 1 {
        return Ok(());
    }
    head += 1;
    loop {
        let next: Option<i64> = sqlx::query_scalar(
            "SELECT seq FROM events WHERE origin = ? AND incarnation = ? AND seq = ?",
        )
        .bind(origin)
        .bind(inc)
        .bind(head + 1)
        .fetch_optional(&mut *conn)
        .await?;
        match next {
            Some(_) => head += 1,
            None => break,
        }
    }
    sqlx::query("UPDATE streams SET head_seq = ? WHERE origin = ? AND incarnation = ?")
        .bind(head)
        .bind(origin)
        .bind(inc)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn set_setting(
    conn: &mut SqliteConnection,
    key: &str,
    event: &Event,
) -> Result<(), StorageError> {
    sqlx::query(
        "INSERT INTO settings (key, value, order_key, event_id) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value, order_key = excluded.order_key,
            event_id = excluded.event_id
         WHERE excluded.order_key > settings.order_key",
    )
    .bind(key)
    .bind(serde_json::to_string(&event.payload)?)
    .bind(order_key(event))
    .bind(event.id.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn set_zone(conn: &mut SqliteConnection, event: &Event) -> Result<(), StorageError> {
    let Some(name) = str_field(event, "location_name") else {
        tracing::warn!(event_id = %event.id, "zone.config without location_name ignored");
        return Ok(());
    };
    sqlx::query(
        "INSERT INTO zones (location_name, capacity, camera_id, camera_type, edge_id, order_key, event_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT(location_name) DO UPDATE SET capacity = excluded.capacity, camera_id = excluded.camera_id,
            camera_type = excluded.camera_type, edge_id = excluded.edge_id, order_key = excluded.order_key,
            event_id = excluded.event_id
         WHERE excluded.order_key > zones.order_key",
    )
    .bind(name)
    .bind(event.payload.get("capacity").and_then(|v| v.as_i64()).unwrap_or(0))
    .bind(event.payload.get("camera_id").and_then(|v| v.as_i64()))
    .bind(str_field(event, "camera_type"))
    .bind(str_field(event, "edge_id"))
    .bind(order_key(event))
    .bind(event.id.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records an operator change in `history_changes`, with the session's plate as this central
/// holds it when the change arrives.
async fn audit(
    conn: &mut SqliteConnection,
    event: &Event,
    target: &str,
) -> Result<(), StorageError> {
    let old = sqlx::query("SELECT plate_id, plate_view FROM history WHERE session_id = ?")
        .bind(target)
        .fetch_optional(&mut *conn)
        .await?;
    let (old_id, old_view): (Option<String>, Option<String>) = match old {
        Some(r) => (Some(r.try_get(0)?), Some(r.try_get(1)?)),
        None => (None, None),
    };
    let (change_type, new_id, new_view) = match event.kind {
        EventKind::HistoryEdit => (
            "UPDATE",
            str_field(event, "plate_id").map(str::to_owned),
            str_field(event, "plate_view").map(str::to_owned),
        ),
        _ => ("DELETE", None, None),
    };
    sqlx::query(
        "INSERT OR IGNORE INTO history_changes (change_event, session_id, change_type, old_plate_id, old_plate_view,
                                                new_plate_id, new_plate_view, changed_at_ms, changed_by)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(event.id.to_string())
    .bind(target)
    .bind(change_type)
    .bind(old_id)
    .bind(old_view)
    .bind(new_id)
    .bind(new_view)
    .bind(event.hlc.wall_ms as i64)
    .bind(str_field(event, "changed_by").unwrap_or("system"))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(crate) fn event_from_row(r: &SqliteRow) -> Result<Event, StorageError> {
    let origin: String = r.try_get("origin")?;
    let payload: String = r.try_get("payload")?;
    let kind: String = r.try_get("kind")?;
    Ok(Event {
        id: EventId {
            origin: CentralId::new(origin).map_err(|e| StorageError::Corrupt(e.to_string()))?,
            incarnation: r.try_get::<i64, _>("incarnation")? as u64,
            seq: r.try_get::<i64, _>("seq")? as u64,
        },
        hlc: Hlc {
            wall_ms: r.try_get::<i64, _>("hlc_ms")? as u64,
            counter: r.try_get::<i64, _>("hlc_counter")? as u32,
        },
        kind: EventKind::from(kind),
        payload: serde_json::from_str(&payload)?,
        schema: r.try_get::<i64, _>("schema")? as u16,
    })
}

pub(crate) const EVENT_COLUMNS: &str =
    "origin, incarnation, seq, hlc_ms, hlc_counter, kind, schema, payload";

/// Re-folds every dirty plate and writes the sessions and conflicts that changed.
pub(crate) async fn refold(
    conn: &mut SqliteConnection,
    own: &StreamId,
    tz: &jiff::tz::TimeZone,
    now: i64,
    dirty: &mut Dirty,
) -> Result<(), StorageError> {
    let plates = std::mem::take(&mut dirty.plates);
    for plate in plates {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE plate_key = ?1
             UNION ALL
             SELECT {EVENT_COLUMNS} FROM events
              WHERE session_ref IN (SELECT id_text FROM events WHERE plate_key = ?1)"
        )))
        .bind(&plate)
        .fetch_all(&mut *conn)
        .await?;
        let events = rows
            .iter()
            .map(event_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let edge_ids: BTreeMap<String, Option<String>> = events
            .iter()
            .filter(|e| e.kind == EventKind::VehicleEntry)
            .map(|e| {
                (
                    e.id.to_string(),
                    EntryPayload::from_event(e)
                        .ok()
                        .and_then(|p| p.edge_event_id),
                )
            })
            .collect();
        let fold = parkmesh_parking::fold::fold_plate(&events);

        let existing = sqlx::query("SELECT * FROM history WHERE plate_key = ?")
            .bind(&plate)
            .fetch_all(&mut *conn)
            .await?;
        let mut existing: BTreeMap<String, HistoryRow> = existing
            .iter()
            .map(|r| history_row(r).map(|h| (h.session_id.clone(), h)))
            .collect::<Result<_, _>>()?;
        let now_text = parkmesh_parking::time::format_local(now, tz);
        for session in &fold.sessions {
            let old = existing.remove(&session.id);
            let mut row = to_row(session, &plate, own, tz, &edge_ids, &now_text);
            if let Some(old) = &old {
                row.id = old.id;
                row.created_at = old.created_at.clone();
                row.updated_at = old.updated_at.clone();
                if same_projection(old, &row) {
                    continue;
                }
                row.updated_at = now_text.clone();
            }
            row.id = write_row(conn, &row, old.is_some()).await?;
            dirty.changed_sessions.push(row);
        }
        for (session_id, _) in existing {
            sqlx::query("DELETE FROM history WHERE session_id = ?")
                .bind(&session_id)
                .execute(&mut *conn)
                .await?;
        }
        sqlx::query("DELETE FROM conflicts WHERE plate_key = ?")
            .bind(&plate)
            .execute(&mut *conn)
            .await?;
        for c in &fold.conflicts {
            sqlx::query("INSERT INTO conflicts (plate_key, kind, winner, losers, at_ms) VALUES (?, ?, ?, ?, ?)")
                .bind(&plate)
                .bind(&c.kind)
                .bind(&c.winner)
                .bind(serde_json::to_string(&c.losers)?)
                .bind(c.at_ms)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

fn same_projection(a: &HistoryRow, b: &HistoryRow) -> bool {
    let mut b = b.clone();
    b.id = a.id;
    b.created_at = a.created_at.clone();
    b.updated_at = a.updated_at.clone();
    *a == b
}

fn to_row(
    s: &Session,
    plate: &str,
    own: &StreamId,
    tz: &jiff::tz::TimeZone,
    edge_ids: &BTreeMap<String, Option<String>>,
    now_text: &str,
) -> HistoryRow {
    let local = |ms: i64| parkmesh_parking::time::format_local(ms, tz);
    let entry = s.entry.as_ref();
    let exit = s.exit.as_ref();
    let edge_event_id = entry.and_then(|e| edge_ids.get(&e.event_id).cloned().flatten());
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
        created_at: now_text.to_owned(),
        updated_at: now_text.to_owned(),
    }
}

async fn write_row(
    conn: &mut SqliteConnection,
    r: &HistoryRow,
    exists: bool,
) -> Result<i64, StorageError> {
    let sql = if exists {
        "UPDATE history SET plate_key=?2, entry_event_id=?3, exit_event_id=?4, event_id=?5, source_central=?6,
            edge_id=?7, plate_id=?8, plate_view=?9, entry_ms=?10, entry_time=?11, entry_camera_id=?12,
            entry_camera_name=?13, entry_confidence=?14, entry_source=?15, exit_ms=?16, exit_time=?17,
            exit_camera_id=?18, exit_camera_name=?19, exit_confidence=?20, exit_source=?21, duration=?22, fee=?23,
            status=?24, sync_status=?25, exception=?26, exempt=?27, is_anomaly=?28, deleted=?29,
            last_location=?30, last_location_ms=?31, last_location_time=?32, created_at=?33, updated_at=?34
         WHERE session_id = ?1 RETURNING id"
    } else {
        "INSERT INTO history (session_id, plate_key, entry_event_id, exit_event_id, event_id, source_central,
            edge_id, plate_id, plate_view, entry_ms, entry_time, entry_camera_id, entry_camera_name,
            entry_confidence, entry_source, exit_ms, exit_time, exit_camera_id, exit_camera_name, exit_confidence,
            exit_source, duration, fee, status, sync_status, exception, exempt, is_anomaly, deleted,
            last_location, last_location_ms, last_location_time, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,
                 ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34)
         RETURNING id"
    };
    let id: i64 = sqlx::query_scalar(sql)
        .bind(&r.session_id)
        .bind(&r.plate_key)
        .bind(&r.entry_event_id)
        .bind(&r.exit_event_id)
        .bind(&r.event_id)
        .bind(&r.source_central)
        .bind(&r.edge_id)
        .bind(&r.plate_id)
        .bind(&r.plate_view)
        .bind(r.entry_ms)
        .bind(&r.entry_time)
        .bind(r.entry_camera_id)
        .bind(&r.entry_camera_name)
        .bind(r.entry_confidence)
        .bind(&r.entry_source)
        .bind(r.exit_ms)
        .bind(&r.exit_time)
        .bind(r.exit_camera_id)
        .bind(&r.exit_camera_name)
        .bind(r.exit_confidence)
        .bind(&r.exit_source)
        .bind(&r.duration)
        .bind(r.fee)
        .bind(&r.status)
        .bind(&r.sync_status)
        .bind(r.exception)
        .bind(&r.exempt)
        .bind(r.is_anomaly)
        .bind(r.deleted)
        .bind(&r.last_location)
        .bind(r.last_location_ms)
        .bind(&r.last_location_time)
        .bind(&r.created_at)
        .bind(&r.updated_at)
        .fetch_one(&mut *conn)
        .await?;
    Ok(id)
}

/// The open (IN, not deleted, not an anomaly) session of a plate, if any.
pub(crate) async fn open_session(
    conn: &mut SqliteConnection,
    plate: &str,
) -> Result<Option<HistoryRow>, StorageError> {
    let row = sqlx::query(
        "SELECT * FROM history WHERE plate_key = ? AND status = 'IN' AND deleted = 0 AND is_anomaly = 0
         ORDER BY entry_ms DESC LIMIT 1",
    )
    .bind(plate)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(history_row).transpose()
}

/// The session an event opened or closed, if any.
pub(crate) async fn session_of_event(
    conn: &mut SqliteConnection,
    id_text: &str,
) -> Result<Option<HistoryRow>, StorageError> {
    let row =
        sqlx::query("SELECT * FROM history WHERE session_id = ?1 OR exit_event_id = ?1 LIMIT 1")
            .bind(id_text)
            .fetch_optional(&mut *conn)
            .await?;
    row.as_ref().map(history_row).transpose()
}

/// The replicated fee table in force, or the seed default (0.5 h free, 25 000 VND per hour).
pub(crate) async fn tariff(conn: &mut SqliteConnection) -> Result<Tariff, StorageError> {
    let v: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = 'fees'")
        .fetch_optional(&mut *conn)
        .await?;
    Ok(match v {
        Some(v) => serde_json::from_str(&v)?,
        None => Tariff::default(),
    })
}

/// The replicated subscription list (empty when never set).
pub(crate) async fn subscriptions(
    conn: &mut SqliteConnection,
) -> Result<Vec<Subscription>, StorageError> {
    let v: Option<String> =
        sqlx::query_scalar("SELECT value FROM settings WHERE key = 'subscriptions'")
            .fetch_optional(&mut *conn)
            .await?;
    Ok(match v {
        Some(v) => serde_json::from_str::<SubscriptionsPayload>(&v)?.subscriptions,
        None => Vec::new(),
    })
}
