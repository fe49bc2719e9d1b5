//! The seed's JSON shapes, built by hand from storage rows (only this crate knows them), and the
//! edge facts an answer speaks of (the event type and the camera).

use parkmesh_protocol::Event;
use parkmesh_storage::{HistoryRow, Stats};
use serde_json::{Value, json};

use crate::reply::ApiError;

/// The kinds of edge event this central processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EdgeType {
    Entry,
    Exit,
    Location,
}

impl EdgeType {
    /// The type named by an envelope's `type` field.
    pub(crate) fn parse(s: &str) -> Result<Self, ApiError> {
        match s.to_ascii_uppercase().as_str() {
            "ENTRY" | "DETECTION" => Ok(Self::Entry),
            "EXIT" => Ok(Self::Exit),
            "LOCATION_UPDATE" => Ok(Self::Location),
            other => Err(ApiError::BadRequest(format!(
                "unknown event type {other:?}; expected ENTRY, EXIT, DETECTION, LOCATION_UPDATE, UPDATE or DELETE"
            ))),
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Entry => "ENTRY",
            Self::Exit => "EXIT",
            Self::Location => "LOCATION_UPDATE",
        }
    }
}

/// Camera facts of an envelope, echoed in answers and pushes.
#[derive(Debug, Clone)]
pub(crate) struct CameraInfo {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) camera_type: String,
}

/// A history row with the seed's field names (plus parkmesh's `session_id`, `exception`,
/// `exempt`, the late-arrival flags `entry_late`, `exit_late`, `time_clamped`, and
/// `entry_operator` / `exit_operator` of manual entries and exits, and the exit matching's
/// `exit_plate`, `exit_plate_view`, `plate_match` and `match_candidates` where they are set).
pub(crate) fn history_row(r: &HistoryRow) -> Value {
    let mut v = json!({
        "id": r.id,
        "event_id": r.event_id,
        "session_id": r.session_id,
        "source_central": r.source_central,
        "edge_id": r.edge_id,
        "plate_id": r.plate_id,
        "plate_view": r.plate_view,
        "entry_time": r.entry_time,
        "entry_camera_id": r.entry_camera_id,
        "entry_camera_name": r.entry_camera_name,
        "entry_confidence": r.entry_confidence,
        "entry_source": r.entry_source,
        "exit_time": r.exit_time,
        "exit_camera_id": r.exit_camera_id,
        "exit_camera_name": r.exit_camera_name,
        "exit_confidence": r.exit_confidence,
        "exit_source": r.exit_source,
        "duration": r.duration,
        "fee": r.fee,
        "status": r.status,
        "sync_status": r.sync_status,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
        "last_location": r.last_location,
        "last_location_time": r.last_location_time,
        "is_anomaly": i64::from(r.is_anomaly),
        "exception": r.exception,
        "exempt": r.exempt,
        "entry_late": r.entry_late,
        "exit_late": r.exit_late,
        "time_clamped": r.time_clamped,
        "entry_operator": r.entry_operator,
        "exit_operator": r.exit_operator,
    });
    // The exit matching's fields only where it matched or found candidates: every other row
    // keeps the original's shape.
    if let Some(m) = v.as_object_mut() {
        for (key, value) in matching_fields(r) {
            m.insert(key.to_owned(), value);
        }
    }
    v
}

/// The exit matching's fields of `r` that are set (`exit_plate`, `exit_plate_view`,
/// `plate_match`, and `match_candidates` when there are any).
fn matching_fields(r: &HistoryRow) -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    if let Some(p) = &r.exit_plate {
        out.push(("exit_plate", json!(p)));
    }
    if let Some(p) = &r.exit_plate_view {
        out.push(("exit_plate_view", json!(p)));
    }
    let candidates = candidates(r);
    if !candidates.is_empty() {
        out.push(("match_candidates", json!(candidates)));
    }
    if let Some(p) = &r.plate_match {
        out.push(("plate_match", json!(p)));
    }
    out
}

/// The plates an ambiguous exit could have closed (stored comma-separated).
fn candidates(r: &HistoryRow) -> Vec<&str> {
    r.match_candidates
        .as_deref()
        .map_or_else(Vec::new, |c| c.split(',').collect())
}

/// [`history_row`] written straight out, for lists of thousands of rows (the vehicles in the
/// lot at a big site): the same keys, values and order (sorted, as `serde_json`'s map writes
/// them) without building a map per row.
pub(crate) struct HistoryJson<'a>(pub(crate) &'a HistoryRow, pub(crate) Option<bool>);

impl<'a> HistoryJson<'a> {
    /// A history list's row.
    pub(crate) fn of(r: &'a HistoryRow) -> Self {
        Self(r, None)
    }
}

impl serde::Serialize for HistoryJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let r = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("created_at", &r.created_at)?;
        m.serialize_entry("duration", &r.duration)?;
        m.serialize_entry("edge_id", &r.edge_id)?;
        m.serialize_entry("entry_camera_id", &r.entry_camera_id)?;
        m.serialize_entry("entry_camera_name", &r.entry_camera_name)?;
        m.serialize_entry("entry_confidence", &r.entry_confidence)?;
        m.serialize_entry("entry_late", &r.entry_late)?;
        m.serialize_entry("entry_operator", &r.entry_operator)?;
        m.serialize_entry("entry_source", &r.entry_source)?;
        m.serialize_entry("entry_time", &r.entry_time)?;
        m.serialize_entry("event_id", &r.event_id)?;
        m.serialize_entry("exception", &r.exception)?;
        m.serialize_entry("exempt", &r.exempt)?;
        m.serialize_entry("exit_camera_id", &r.exit_camera_id)?;
        m.serialize_entry("exit_camera_name", &r.exit_camera_name)?;
        m.serialize_entry("exit_confidence", &r.exit_confidence)?;
        m.serialize_entry("exit_late", &r.exit_late)?;
        m.serialize_entry("exit_operator", &r.exit_operator)?;
        if let Some(p) = &r.exit_plate {
            m.serialize_entry("exit_plate", p)?;
        }
        if let Some(p) = &r.exit_plate_view {
            m.serialize_entry("exit_plate_view", p)?;
        }
        m.serialize_entry("exit_source", &r.exit_source)?;
        m.serialize_entry("exit_time", &r.exit_time)?;
        m.serialize_entry("fee", &r.fee)?;
        m.serialize_entry("id", &r.id)?;
        m.serialize_entry("is_anomaly", &i64::from(r.is_anomaly))?;
        m.serialize_entry("last_location", &r.last_location)?;
        m.serialize_entry("last_location_time", &r.last_location_time)?;
        let candidates = candidates(r);
        if !candidates.is_empty() {
            m.serialize_entry("match_candidates", &candidates)?;
        }
        if let Some(over) = self.1 {
            m.serialize_entry("overstay", &over)?;
        }
        m.serialize_entry("plate_id", &r.plate_id)?;
        if let Some(p) = &r.plate_match {
            m.serialize_entry("plate_match", p)?;
        }
        m.serialize_entry("plate_view", &r.plate_view)?;
        m.serialize_entry("session_id", &r.session_id)?;
        m.serialize_entry("source_central", &r.source_central)?;
        m.serialize_entry("status", &r.status)?;
        m.serialize_entry("sync_status", &r.sync_status)?;
        m.serialize_entry("time_clamped", &r.time_clamped)?;
        m.serialize_entry("updated_at", &r.updated_at)?;
        m.end()
    }
}

/// The dashboard counters.
pub(crate) fn stats(s: &Stats) -> Value {
    json!({
        "vehicles_in_parking": s.vehicles_in_parking,
        "entries_today": s.entries_today,
        "exits_today": s.exits_today,
        "revenue_today": s.revenue_today,
    })
}

/// The answer to an edge event (seed `process_edge_event` result shape), from the event it
/// stored and the session as it was then; a repeat of the request renders the same outcome.
pub(crate) fn edge_answer(
    edge_type: EdgeType,
    camera: &CameraInfo,
    edge_event_id: Option<&str>,
    event: &Event,
    session: Option<&HistoryRow>,
) -> Value {
    let mut v = json!({
        "success": true,
        "action": edge_type.as_str(),
        "camera_id": camera.id,
        "camera_name": camera.name,
        "camera_type": camera.camera_type,
        "event_id": edge_event_id.map(str::to_owned).unwrap_or_else(|| event.id.to_string()),
        "central_event_id": event.id.to_string(),
    });
    let Some(s) = session else {
        return v;
    };
    let message = match edge_type {
        EdgeType::Entry => format!("Vehicle {} entered", s.plate_view),
        EdgeType::Exit if s.exception => format!(
            "Vehicle {} exited without a recorded entry (exception)",
            s.plate_view
        ),
        EdgeType::Exit => format!("Vehicle {} exited, fee {} VND", s.plate_view, s.fee),
        EdgeType::Location => format!(
            "Vehicle {} seen at {}",
            s.plate_view,
            s.last_location.as_deref().unwrap_or("")
        ),
    };
    if let Value::Object(m) = &mut v {
        m.insert("message".into(), json!(message));
        m.insert("plate_id".into(), json!(s.plate_id));
        m.insert("plate_view".into(), json!(s.plate_view));
        m.insert("history_id".into(), json!(s.id));
        m.insert("entry_time".into(), json!(s.entry_time));
        if edge_type == EdgeType::Exit {
            m.insert("exit_time".into(), json!(s.exit_time));
            m.insert("duration".into(), json!(s.duration));
            m.insert("fee".into(), json!(s.fee));
            m.insert("exception".into(), json!(s.exception));
            m.insert("exempt".into(), json!(s.exempt));
        }
        if edge_type == EdgeType::Location {
            m.insert("location".into(), json!(s.last_location));
            m.insert("is_anomaly".into(), json!(s.is_anomaly));
        }
    }
    v
}

/// The `/ws/history` payload for a changed session.
pub(crate) fn history_update(r: &HistoryRow, own_origin: &str) -> Value {
    let remote = r.source_central.as_deref().is_some_and(|s| s != own_origin);
    let event_type = if r.status == "OUT" {
        "EXIT"
    } else if r.last_location.is_some() && r.is_anomaly {
        "LOCATION_UPDATE"
    } else {
        "ENTRY"
    };
    let mut data = history_row(r);
    if let Value::Object(m) = &mut data {
        m.insert("event_type".into(), json!(event_type));
        m.insert("history_id".into(), json!(r.id));
        m.insert("success".into(), json!(true));
        if r.deleted {
            m.insert("type".into(), json!("deleted"));
        } else if remote {
            let t = if event_type == "EXIT" {
                "p2p_exit_synced"
            } else {
                "p2p_entry_synced"
            };
            m.insert("type".into(), json!(t));
        }
    }
    json!({ "type": "history_update", "data": data })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{HistoryJson, history_row};

    /// The history lists write rows straight out: byte for byte what the map of [`history_row`]
    /// writes, for a row with every field set and for one with every optional field empty.
    #[test]
    fn a_row_written_straight_out_is_the_rows_map() {
        let full = json!({
            "id": 7, "session_id": "central-a:1:3", "plate_key": "51A12345",
            "entry_event_id": "central-a:1:3", "exit_event_id": "central-b:2:9", "event_id": "e-1",
            "source_central": "central-a", "edge_id": "1", "plate_id": "51A12345",
            "plate_view": "51A-123.45", "entry_ms": 1, "entry_time": "2026-01-01 07:00:00",
            "entry_camera_id": 1, "entry_camera_name": "Cổng vào", "entry_confidence": 0.91,
            "entry_source": "auto", "exit_ms": 2, "exit_time": "2026-01-01 09:30:00",
            "exit_camera_id": 2, "exit_camera_name": "Exit \"B\"", "exit_confidence": 0.5,
            "exit_source": "manual", "duration": "2 giờ 30 phút", "fee": 75000, "status": "OUT",
            "sync_status": "SYNCED", "exception": true, "exempt": "monthly", "is_anomaly": true,
            "deleted": false, "last_location": "Lot A", "last_location_ms": 3,
            "last_location_time": "2026-01-01 08:00:00", "entry_late": true, "exit_late": false,
            "time_clamped": true, "entry_operator": "op", "exit_operator": "op2",
            "created_at": "2026-01-01 07:00:01", "updated_at": "2026-01-01 09:30:01",
            "exit_plate": "51A1234S", "exit_plate_view": "51A-123.4S", "plate_match": "confusable",
            "match_candidates": "51A12345,51A1Z345",
        });
        let empty = json!({
            "id": 1, "session_id": "s", "plate_key": "A1", "plate_id": "A1", "plate_view": "A1",
            "fee": 0, "status": "IN", "sync_status": "LOCAL", "exception": false,
            "is_anomaly": false, "deleted": false, "entry_late": false, "exit_late": false,
            "time_clamped": false, "created_at": "", "updated_at": "",
        });
        for row in [full, empty] {
            let row: parkmesh_storage::HistoryRow = serde_json::from_value(row).unwrap();
            assert_eq!(
                serde_json::to_string(&HistoryJson::of(&row)).unwrap(),
                history_row(&row).to_string()
            );
        }
    }
}
