//! Rows of an original ParkAI central database turned into importable sessions (pure).
//!
//! The original keeps one `history` row per session, updated in place: an exit fills the exit
//! columns, a plate correction overwrites the plate, a delete removes the row. Its audit table
//! `history_changes` remembers each correction (old and new plate) and each delete (with the whole
//! old row as JSON) by the *local* row id. [`plan`] rebuilds each session from both:
//!
//! - the entry, under the plate the camera read (the old plate of the row's first correction,
//!   else the row's plate), at the original entry time read in the site's time zone;
//! - the exit when the row is OUT, with the original exit time and the fee the original
//!   recorded;
//! - each correction as a plate edit and a delete as a tombstone, in audit order; a deleted
//!   row is rebuilt from its audit record's old row.
//!
//! Every vehicle event of a session carries the session's import key ([`crate::import`]); a row
//! that cannot become valid events is rejected with the table, row id and reason, and the rest
//! are still planned.

use std::collections::BTreeMap;

use jiff::tz::TimeZone;

use crate::import::{change_key, session_key};
use crate::payload::{EntryPayload, ExitPayload, MAX_ID, MAX_TEXT, Payload, ZoneConfigPayload};
use crate::plate::MAX_PLATE_INPUT;
use crate::time::parse_local;

/// One `history` row of an original database (missing or unreadable values are `None`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OriginalSession {
    /// Local row id.
    pub id: i64,
    /// The entry's global id (`edge-1_1765535827086_11A11113`).
    pub event_id: Option<String>,
    /// Central that created the row; `None` for rows made at this site.
    pub source_central: Option<String>,
    /// Edge (camera) id.
    pub edge_id: Option<String>,
    /// Normalised plate.
    pub plate_id: Option<String>,
    /// Plate as shown.
    pub plate_view: Option<String>,
    /// Site-local entry time text.
    pub entry_time: Option<String>,
    /// Entry camera id.
    pub entry_camera_id: Option<i64>,
    /// Entry camera name.
    pub entry_camera_name: Option<String>,
    /// Entry OCR confidence.
    pub entry_confidence: Option<f64>,
    /// Entry source (`auto`, `manual`, `p2p_sync`, ...).
    pub entry_source: Option<String>,
    /// Site-local exit time text.
    pub exit_time: Option<String>,
    /// Exit camera id.
    pub exit_camera_id: Option<i64>,
    /// Exit camera name.
    pub exit_camera_name: Option<String>,
    /// Exit OCR confidence.
    pub exit_confidence: Option<f64>,
    /// Exit source.
    pub exit_source: Option<String>,
    /// Fee the original recorded (VND).
    pub fee: Option<i64>,
    /// `IN` or `OUT`.
    pub status: Option<String>,
}

/// One `history_changes` row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OriginalChange {
    /// Audit row id.
    pub id: i64,
    /// Local `history` row id it changed.
    pub history_id: Option<i64>,
    /// `UPDATE` or `DELETE`.
    pub change_type: Option<String>,
    /// Plate before.
    pub old_plate_id: Option<String>,
    /// Plate view before.
    pub old_plate_view: Option<String>,
    /// Plate after (UPDATE).
    pub new_plate_id: Option<String>,
    /// Plate view after (UPDATE).
    pub new_plate_view: Option<String>,
    /// The whole old row as JSON.
    pub old_data: Option<String>,
    /// UTC time text of the change.
    pub changed_at: Option<String>,
    /// Who changed it (always `system` in the original).
    pub changed_by: Option<String>,
}

/// One `parking_lots` row: an in-lot zone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OriginalLot {
    /// Row id.
    pub id: i64,
    /// Zone name (the in-lot camera's name).
    pub location_name: Option<String>,
    /// Capacity.
    pub capacity: Option<i64>,
    /// Camera id.
    pub camera_id: Option<i64>,
    /// Camera type.
    pub camera_type: Option<String>,
    /// Edge address.
    pub edge_id: Option<String>,
}

/// One `cameras` row: an edge camera known to the original central.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OriginalCamera {
    /// Camera id (the edge's `CAMERA_ID`).
    pub id: i64,
    /// Name.
    pub name: String,
    /// `ENTRY`, `EXIT` or `PARKING_LOT`.
    pub camera_type: String,
}

/// The zone settings of `lots`, and the rows that cannot become one.
pub fn plan_lots(lots: &[OriginalLot]) -> (Vec<ZoneConfigPayload>, Vec<Rejected>) {
    let mut zones = Vec::new();
    let mut rejected = Vec::new();
    for lot in lots {
        let zone = ZoneConfigPayload {
            location_name: text(lot.location_name.as_deref(), MAX_TEXT),
            capacity: lot.capacity.unwrap_or(0),
            camera_id: lot.camera_id,
            camera_type: lot.camera_type.as_deref().map(|t| text(Some(t), MAX_TEXT)),
            edge_id: lot.edge_id.as_deref().map(|t| text(Some(t), MAX_TEXT)),
        };
        match zone.validate() {
            Ok(()) => zones.push(zone),
            Err(e) => rejected.push(Rejected {
                table: "parking_lots",
                row_id: lot.id,
                reason: format!("{e}; {FIX}"),
            }),
        }
    }
    (zones, rejected)
}

/// What an operator change does.
#[derive(Debug, Clone, PartialEq)]
pub enum ChangeKind {
    /// Plate correction.
    Edit {
        /// New plate id.
        plate_id: String,
        /// New plate view.
        plate_view: String,
        /// Plate id before, as the original recorded it.
        old_plate_id: Option<String>,
        /// Plate view before.
        old_plate_view: Option<String>,
    },
    /// Tombstone.
    Delete,
}

/// An operator change of a planned session.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedChange {
    /// `history_changes` row id.
    pub change_id: i64,
    /// Import key of the change.
    pub key: String,
    /// When it was made (ms), if the original time parses.
    pub at_ms: Option<i64>,
    /// Operator.
    pub changed_by: String,
    /// Edit or delete.
    pub kind: ChangeKind,
}

/// A session ready to be written as events.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedSession {
    /// `history` row id (of the deleted row, for a session rebuilt from its audit record).
    pub row_id: i64,
    /// Import key (shared by every copy of the session in the original mesh).
    pub key: String,
    /// Central that created the original row.
    pub source: String,
    /// Entry (plate as read at the gate).
    pub entry: EntryPayload,
    /// Exit, for an OUT row, and the fee the original recorded.
    pub exit: Option<(ExitPayload, i64)>,
    /// Corrections and delete, in audit order.
    pub changes: Vec<PlannedChange>,
}

/// A row that cannot be imported.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    /// Table.
    pub table: &'static str,
    /// Row id.
    pub row_id: i64,
    /// What is wrong and what to do.
    pub reason: String,
}

/// Everything planned from one original database.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Sessions, in `history` row order (rebuilt deleted rows after them).
    pub sessions: Vec<PlannedSession>,
    /// Rows that cannot be imported.
    pub rejected: Vec<Rejected>,
}

const FIX: &str = "correct or delete the row in the original database and import again";

/// Normalises a plate as the original central did (uppercase, only A-Z and 0-9).
fn plate(raw: Option<&str>) -> Option<(String, String)> {
    let view: String = raw?.trim().to_uppercase();
    let id: String = view
        .chars()
        .filter(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        .collect();
    if id.is_empty() || id.len() > MAX_PLATE_INPUT {
        return None;
    }
    let view: String = view.chars().take(MAX_PLATE_INPUT).collect();
    Some((id, view))
}

fn text(v: Option<&str>, max: usize) -> String {
    v.unwrap_or_default().trim().chars().take(max).collect()
}

fn confidence(v: Option<f64>) -> f64 {
    v.filter(|c| c.is_finite() && (0.0..=100.0).contains(c))
        .unwrap_or(0.0)
}

fn quoted(v: Option<&str>) -> String {
    match v {
        Some(t) => format!("{:?}", t.chars().take(40).collect::<String>()),
        None => "empty".to_owned(),
    }
}

/// Builds the session of one row; `Err` is the reason it cannot be imported.
fn session(
    row: &OriginalSession,
    changes: &[&OriginalChange],
    importer: &str,
    tz: &TimeZone,
) -> Result<PlannedSession, String> {
    let (plate_id, plate_view) = plate(row.plate_id.as_deref()).ok_or_else(|| {
        format!(
            "plate_id {} has no letters or digits, or more than {MAX_PLATE_INPUT}; {FIX}",
            quoted(row.plate_id.as_deref())
        )
    })?;
    let plate_view = plate(row.plate_view.as_deref()).map_or(plate_view, |(_, v)| v);
    // The plate the camera read: the old plate of the first correction, when it is usable.
    let (plate_id, plate_view) = changes
        .iter()
        .find(|c| c.change_type.as_deref() == Some("UPDATE"))
        .and_then(|c| plate(c.old_plate_id.as_deref()))
        .map_or((plate_id, plate_view), |(id, _)| {
            let view = changes
                .iter()
                .find(|c| c.change_type.as_deref() == Some("UPDATE"))
                .and_then(|c| plate(c.old_plate_view.as_deref()))
                .map_or_else(|| id.clone(), |(_, v)| v);
            (id, view)
        });
    let entry_ms = row
        .entry_time
        .as_deref()
        .and_then(|t| parse_local(t, tz))
        .ok_or_else(|| {
            format!(
                "entry_time {} is not a time YYYY-MM-DD HH:MM:SS; {FIX}",
                quoted(row.entry_time.as_deref())
            )
        })?;
    let source = row
        .source_central
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(importer)
        .to_owned();
    let event_id = row
        .event_id
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty());
    let key = session_key(event_id, importer, row.id);
    let entry = EntryPayload {
        plate_id: plate_id.clone(),
        plate_view: plate_view.clone(),
        at_ms: entry_ms,
        time_clamped: false,
        late: false,
        operator: None,
        camera_id: row.entry_camera_id,
        camera_name: text(row.entry_camera_name.as_deref(), MAX_TEXT),
        camera_type: "ENTRY".to_owned(),
        confidence: confidence(row.entry_confidence),
        source: text(row.entry_source.as_deref().or(Some("auto")), MAX_TEXT),
        edge_event_id: event_id
            .filter(|e| e.chars().count() <= MAX_ID)
            .map(str::to_owned),
        edge_id: row
            .edge_id
            .as_deref()
            .map(|e| text(Some(e), MAX_TEXT))
            .filter(|e| !e.is_empty()),
    };
    let exit = match row.status.as_deref().map(str::trim) {
        Some("IN") => None,
        Some("OUT") => {
            let at_ms = row
                .exit_time
                .as_deref()
                .and_then(|t| parse_local(t, tz))
                .ok_or_else(|| {
                    format!(
                        "status is OUT but exit_time {} is not a time YYYY-MM-DD HH:MM:SS; {FIX}",
                        quoted(row.exit_time.as_deref())
                    )
                })?;
            let mut exit = ExitPayload::at_gate(entry.clone(), None);
            exit.gate.at_ms = at_ms;
            exit.gate.camera_id = row.exit_camera_id;
            exit.gate.camera_name = text(row.exit_camera_name.as_deref(), MAX_TEXT);
            exit.gate.camera_type = "EXIT".to_owned();
            exit.gate.confidence = confidence(row.exit_confidence);
            exit.gate.source = text(row.exit_source.as_deref().or(Some("auto")), MAX_TEXT);
            exit.gate.edge_event_id = None;
            Some((exit, row.fee.unwrap_or(0).max(0)))
        }
        other => {
            return Err(format!(
                "status {} is neither IN nor OUT; {FIX}",
                quoted(other)
            ));
        }
    };
    entry.validate().map_err(|e| format!("{e}; {FIX}"))?;
    if let Some((x, _)) = &exit {
        x.validate().map_err(|e| format!("{e}; {FIX}"))?;
    }
    Ok(PlannedSession {
        row_id: row.id,
        key,
        source,
        entry,
        exit,
        changes: Vec::new(),
    })
}

/// The planned change of an audit row; `Err` is why it is rejected.
fn change(c: &OriginalChange, importer: &str) -> Result<PlannedChange, String> {
    let kind = match c.change_type.as_deref().map(str::trim) {
        Some("UPDATE") => {
            let (plate_id, plate_view) = plate(c.new_plate_id.as_deref()).ok_or_else(|| {
                format!(
                    "new_plate_id {} has no letters or digits, or more than {MAX_PLATE_INPUT}; \
                     the correction is left out (the session keeps its plate)",
                    quoted(c.new_plate_id.as_deref())
                )
            })?;
            let plate_view = plate(c.new_plate_view.as_deref()).map_or(plate_view, |(_, v)| v);
            ChangeKind::Edit {
                plate_id,
                plate_view,
                old_plate_id: c.old_plate_id.clone(),
                old_plate_view: c.old_plate_view.clone(),
            }
        }
        Some("DELETE") => ChangeKind::Delete,
        other => {
            return Err(format!(
                "change_type {} is neither UPDATE nor DELETE; the change is left out",
                quoted(other)
            ));
        }
    };
    Ok(PlannedChange {
        change_id: c.id,
        key: change_key(importer, c.id),
        at_ms: c
            .changed_at
            .as_deref()
            .and_then(|t| parse_local(t, &TimeZone::UTC)),
        changed_by: text(c.changed_by.as_deref().or(Some("system")), MAX_TEXT),
        kind,
    })
}

/// The row a DELETE's `old_data` held, if it decodes as a JSON object of history columns.
fn from_old_data(c: &OriginalChange) -> Option<OriginalSession> {
    let v: serde_json::Value = serde_json::from_str(c.old_data.as_deref()?).ok()?;
    let o = v.as_object()?;
    let s = |k: &str| match o.get(k)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let i = |k: &str| match o.get(k)? {
        serde_json::Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    let f = |k: &str| match o.get(k)? {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    Some(OriginalSession {
        id: i("id").or(c.history_id)?,
        event_id: s("event_id"),
        source_central: s("source_central"),
        edge_id: s("edge_id"),
        plate_id: s("plate_id"),
        plate_view: s("plate_view"),
        entry_time: s("entry_time"),
        entry_camera_id: i("entry_camera_id"),
        entry_camera_name: s("entry_camera_name"),
        entry_confidence: f("entry_confidence"),
        entry_source: s("entry_source"),
        exit_time: s("exit_time"),
        exit_camera_id: i("exit_camera_id"),
        exit_camera_name: s("exit_camera_name"),
        exit_confidence: f("exit_confidence"),
        exit_source: s("exit_source"),
        fee: i("fee"),
        status: s("status"),
    })
}

/// Plans the import of `sessions` and `changes` (an original database's `history` and
/// `history_changes`) at central `importer`, reading site-local times in `tz`.
pub fn plan(
    sessions: &[OriginalSession],
    changes: &[OriginalChange],
    importer: &str,
    tz: &TimeZone,
) -> Plan {
    let mut out = Plan::default();
    let mut by_row: BTreeMap<i64, Vec<&OriginalChange>> = BTreeMap::new();
    for c in changes {
        match c.history_id {
            Some(h) => by_row.entry(h).or_default().push(c),
            None => out.rejected.push(Rejected {
                table: "history_changes",
                row_id: c.id,
                reason: "history_id is empty, so the change names no session; it is left out"
                    .to_owned(),
            }),
        }
    }
    for list in by_row.values_mut() {
        list.sort_by_key(|c| c.id);
    }
    let add = |out: &mut Plan, row: &OriginalSession, list: &[&OriginalChange]| match session(
        row, list, importer, tz,
    ) {
        Ok(mut s) => {
            for c in list {
                match change(c, importer) {
                    Ok(p) => s.changes.push(p),
                    Err(reason) => out.rejected.push(Rejected {
                        table: "history_changes",
                        row_id: c.id,
                        reason,
                    }),
                }
            }
            out.sessions.push(s);
        }
        Err(reason) => {
            out.rejected.push(Rejected {
                table: "history",
                row_id: row.id,
                reason,
            });
            for c in list {
                out.rejected.push(Rejected {
                    table: "history_changes",
                    row_id: c.id,
                    reason: format!(
                        "changes history row {}, which is rejected; it is left out",
                        row.id
                    ),
                });
            }
        }
    };
    for row in sessions {
        let list = by_row.remove(&row.id).unwrap_or_default();
        add(&mut out, row, &list);
    }
    // Rows no longer in `history`: deleted ones are rebuilt from their DELETE's old row.
    for (history_id, list) in by_row {
        let rebuilt = list
            .iter()
            .rev()
            .filter(|c| c.change_type.as_deref().map(str::trim) == Some("DELETE"))
            .find_map(|c| from_old_data(c));
        match rebuilt {
            Some(mut row) => {
                row.id = history_id;
                add(&mut out, &row, &list);
            }
            None => {
                for c in list {
                    out.rejected.push(Rejected {
                        table: "history_changes",
                        row_id: c.id,
                        reason: format!(
                            "history row {history_id} is gone and no DELETE record holds its old \
                             row as JSON (old_data), so the session cannot be rebuilt; it is left out"
                        ),
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
#[path = "parkai_tests.rs"]
mod tests;
