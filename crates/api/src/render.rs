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
/// `exit_plate`, `exit_plate_view`, `plate_match` and `match_candidates`).
pub(crate) fn history_row(r: &HistoryRow) -> Value {
    json!({
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
        "exit_plate": r.exit_plate,
        "exit_plate_view": r.exit_plate_view,
        "plate_match": r.plate_match,
        "match_candidates": r
            .match_candidates
            .as_deref()
            .map_or_else(Vec::new, |c| c.split(',').collect::<Vec<_>>()),
    })
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
