//! First step of the write path: a command's events become rows of the log. Stores one event
//! (ignoring one already held), applies the projections that follow the event itself
//! (`settings`, `zones`, the `history_changes` audit) and notes in the command's working set
//! which raw plates the fold (`refold`) must visit and which seqs the stream heads (`heads`)
//! must move over.

use parkmesh_protocol::{Event, EventKind};
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::StorageError;
use crate::settings::{set_setting, set_zone, str_field};
use crate::work::WorkingSet;

/// Stores one event (ignoring it when already held) and applies the settings, zone and audit
/// projections; the event goes to `dirty.new_events`, its seq to the stream heads to advance
/// (`heads::advance_heads`) and vehicle plates are noted for the fold (`refold`).
/// `fresh`: the event was just made by this central's writer, so no other event can name it
/// yet (its id was never sent anywhere), and the caller moves this central's stream head
/// itself (once per batch, or the import's own update).
pub(crate) fn insert_event(
    conn: &Connection,
    event: Event,
    fresh: bool,
    dirty: &mut WorkingSet,
) -> Result<(), StorageError> {
    let (plate_key, session_ref) = match event.kind {
        EventKind::VehicleEntry | EventKind::VehicleExit | EventKind::VehicleLocation => {
            (str_field(&event, "plate_id").map(str::to_owned), None)
        }
        EventKind::HistoryEdit | EventKind::HistoryDelete | EventKind::ExitUnmatch => {
            (None, str_field(&event, "session").map(str::to_owned))
        }
        _ => (None, None),
    };
    let id_text = event.id.to_string();
    let inserted = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO events (origin, incarnation, seq, hlc_ms, hlc_counter, kind, schema,
                                           payload, plate_key, group_key, session_ref)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, ?9, ?10)",
        )?
        .execute(params![
            event.id.origin.as_str(),
            event.id.incarnation as i64,
            event.id.seq as i64,
            event.hlc.wall_ms as i64,
            i64::from(event.hlc.counter),
            crate::codec::kind_value(&event.kind),
            i64::from(event.schema),
            crate::codec::encode(&event.payload),
            plate_key,
            session_ref,
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
        // incremental fold takes only operator events aimed at events after the settled point).
        if !fresh && crate::group::is_aimed(conn, &id_text)? {
            if crate::group::is_edited(conn, &id_text)? {
                crate::group::note_edit(conn, &plate)?;
            }
            dirty.full_plates.insert(plate.clone());
        }
        dirty.plates.insert(plate);
    }
    match &event.kind {
        EventKind::HistoryEdit | EventKind::HistoryDelete | EventKind::ExitUnmatch => {
            if let Some(target) = &session_ref {
                if event.kind != EventKind::ExitUnmatch {
                    audit(conn, event, target)?;
                }
                if let Some(Some(plate)) = crate::events::plate_of(conn, target)? {
                    if parkmesh_parking::moves_events(&event.kind) {
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
        EventKind::WatchlistSet => {
            if let Some(plate) = str_field(event, "plate_id") {
                let key = format!("{}{plate}", parkmesh_parking::WATCH_PREFIX);
                set_setting(conn, &key, event)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn push<T>(v: &mut Vec<T>, x: T) -> &mut T {
    v.push(x);
    let last = v.len() - 1;
    &mut v[last]
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
