//! The `settings` and `zones` projections: "newest wins" by event order key, written when an
//! event of their kind is stored (`append`) and read by the writer (fee table, subscriptions)
//! and the import.

use parkmesh_parking::payload::{SubscriptionsPayload, Tariff};
use parkmesh_parking::subscription::Subscription;
use parkmesh_protocol::Event;
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::StorageError;

/// Sortable text form of an event's order key, for "newest wins" projections.
fn order_key(e: &Event) -> String {
    format!(
        "{:016x}{:08x}{}\u{1}{:016x}{:016x}",
        e.hlc.wall_ms, e.hlc.counter, e.id.origin, e.id.incarnation, e.id.seq
    )
}

pub(crate) fn str_field<'a>(e: &'a Event, key: &str) -> Option<&'a str> {
    e.payload.get(key).and_then(|v| v.as_str())
}

pub(crate) fn set_setting(conn: &Connection, key: &str, event: &Event) -> Result<(), StorageError> {
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

pub(crate) fn set_zone(conn: &Connection, event: &Event) -> Result<(), StorageError> {
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
