//! Edge-facing endpoints: `POST /api/edge/event`, `POST /api/edge/heartbeat` and the `/ws/edge`
//! socket, accepting the seed edge's envelope unchanged (seed-system.md §3.10).
//!
//! Differences from the seed that existing edges cannot notice: the edge's `timestamp` is
//! honoured (clamped and flagged when it is further than the configured skew from the server
//! clock); the idempotency key is the pair (type, event_id), so an automatic EXIT that carries its
//! entry's `event_id` closes that session instead of being dropped as a duplicate; an EXIT
//! without an entry is stored as an exception session; each event sent over the socket gets an
//! `event_result` frame with the stored answer.

use parkmesh_parking::payload::{
    EntryPayload, ExitPayload, HistoryDeletePayload, HistoryEditPayload, LocationPayload, Payload,
};
use parkmesh_storage::{Ingested, Intent};
use serde_json::{Map, Value, json};

use crate::fields::{opt_f64, opt_i64, opt_str, req_i64, req_obj, req_str};
use crate::reply::{ApiError, JsonReply, ok};
use crate::{AppState, render};

/// The kinds of edge event this central processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EdgeType {
    Entry,
    Exit,
    Location,
}

impl EdgeType {
    fn parse(s: &str) -> Result<Self, ApiError> {
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

/// A validated edge event, ready for storage.
pub(crate) struct EdgeEvent {
    pub(crate) edge_type: EdgeType,
    pub(crate) camera: CameraInfo,
    pub(crate) edge_event_id: Option<String>,
    pub(crate) intent: Intent,
}

/// Validates the seed envelope and turns it into a storage intent.
pub(crate) fn parse_event(
    state: &AppState,
    map: &Map<String, Value>,
    now_ms: i64,
) -> Result<EdgeEvent, ApiError> {
    let edge_type = EdgeType::parse(&req_str(map, "", "type")?)?;
    let camera_id = req_i64(map, "", "camera_id")?;
    let camera = CameraInfo {
        id: camera_id,
        name: opt_str(map, "", "camera_name")?.unwrap_or_else(|| format!("camera-{camera_id}")),
        camera_type: opt_str(map, "", "camera_type")?
            .unwrap_or_else(|| edge_type.as_str().to_owned()),
    };
    let edge_event_id = opt_str(map, "", "event_id")?.filter(|s| !s.is_empty());
    let (at_ms, time_clamped) = match opt_f64(map, "", "timestamp")? {
        None => (now_ms, false),
        Some(secs) => {
            let ms = (secs * 1000.0).round();
            // Compared in f64: an absurd timestamp must not overflow the subtraction.
            if ms.is_finite() && (ms - now_ms as f64).abs() <= state.settings.max_skew_ms as f64 {
                (ms as i64, false)
            } else {
                tracing::warn!(
                    camera_id,
                    timestamp = secs,
                    "edge timestamp outside the allowed skew; using server time"
                );
                (now_ms, true)
            }
        }
    };
    let data = req_obj(map, "", "data")?;
    let raw_plate = match opt_str(data, "data", "plate_text")? {
        Some(p) => p,
        None => req_str(data, "data", "plate_id")
            .map_err(|_| ApiError::BadRequest("missing field data.plate_text".into()))?,
    };
    let plate = parkmesh_parking::plate::normalize(&raw_plate, state.settings.plate_policy)
        .map_err(|e| ApiError::BadRequest(format!("data.plate_text: {e}")))?;
    let confidence = opt_f64(data, "data", "confidence")?.unwrap_or(0.0);
    if !(0.0..=1.0).contains(&confidence) && !(0.0..=100.0).contains(&confidence) {
        return Err(ApiError::BadRequest(format!(
            "field data.confidence must be between 0 and 1, got {confidence}"
        )));
    }
    let source = opt_str(data, "data", "source")?.unwrap_or_else(|| "auto".to_owned());
    let request_key = edge_event_id
        .as_ref()
        .map(|id| format!("{}:{id}", edge_type.as_str()));
    let gate = EntryPayload {
        plate_id: plate.id.clone(),
        plate_view: plate.view.clone(),
        at_ms,
        time_clamped,
        camera_id: Some(camera_id),
        camera_name: camera.name.clone(),
        camera_type: camera.camera_type.clone(),
        confidence,
        source,
        edge_event_id: edge_event_id.clone(),
        edge_id: Some(camera_id.to_string()),
    };
    let intent = match edge_type {
        EdgeType::Entry => Intent::Entry {
            payload: gate,
            request_key,
        },
        EdgeType::Exit => {
            // The seed's edge puts the entry's id on automatic exits (as event_id) and may send
            // data.entry_id; either names the session to close.
            let entry_ref = opt_str(data, "data", "entry_id")?
                .filter(|s| !s.is_empty())
                .or_else(|| edge_event_id.clone());
            Intent::Exit {
                payload: ExitPayload::at_gate(gate, entry_ref),
                request_key,
            }
        }
        EdgeType::Location => {
            let location =
                opt_str(data, "data", "location")?.unwrap_or_else(|| camera.name.clone());
            Intent::Location {
                payload: LocationPayload {
                    plate_id: plate.id,
                    plate_view: plate.view,
                    location,
                    at_ms,
                    camera_id: Some(camera_id),
                    camera_name: camera.name.clone(),
                    edge_event_id: edge_event_id.clone(),
                },
                request_key,
            }
        }
    };
    Ok(EdgeEvent {
        edge_type,
        camera,
        edge_event_id,
        intent,
    })
}

/// An operator change made in an edge's own UI (`UPDATE` / `DELETE` frames). The edge's
/// `history_id` is its own row number and means nothing here (seed defect C1), so the session is
/// found by the entry's `event_id`, and the change becomes a replicated `history.edit` /
/// `history.delete` event like one made on the central.
async fn edge_admin(
    state: &AppState,
    map: &Map<String, Value>,
    delete: bool,
) -> Result<Value, ApiError> {
    let data = req_obj(map, "", "data").ok();
    let event_id = opt_str(map, "", "event_id")?
        .or(match data {
            Some(d) => opt_str(d, "data", "event_id")?,
            None => None,
        })
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ApiError::BadRequest(
                "missing field event_id: an edge change must name the entry's event_id".into(),
            )
        })?;
    let Some(row) = state.storage().session_by_edge_event_id(&event_id).await? else {
        return Err(ApiError::NotFound(format!(
            "no session with event_id {event_id:?}"
        )));
    };
    let changed_by = format!("edge-{}", opt_i64(map, "", "camera_id")?.unwrap_or(0));
    let (kind, payload) = if delete {
        let p = HistoryDeletePayload {
            session: row.session_id.clone(),
            changed_by,
        };
        (HistoryDeletePayload::KIND, p.to_value())
    } else {
        let data = data.ok_or_else(|| ApiError::BadRequest("missing field data".into()))?;
        let raw = match opt_str(data, "data", "plate_view")? {
            Some(v) => v,
            None => req_str(data, "data", "plate_text")?,
        };
        let plate = parkmesh_parking::plate::normalize(&raw, state.settings.plate_policy)
            .map_err(|e| ApiError::BadRequest(format!("data.plate_view: {e}")))?;
        let p = HistoryEditPayload {
            session: row.session_id.clone(),
            plate_id: plate.id,
            plate_view: plate.view,
            changed_by,
        };
        (HistoryEditPayload::KIND, p.to_value())
    };
    state
        .storage()
        .ingest(Intent::Event { kind, payload }, None)
        .await?;
    Ok(
        json!({ "success": true, "action": if delete { "DELETE" } else { "UPDATE" }, "history_id": row.id, "event_id": event_id }),
    )
}

/// Processes one edge event and returns the seed's answer object (and whether it succeeded).
pub(crate) async fn process(state: &AppState, map: &Map<String, Value>) -> Result<Value, ApiError> {
    match map.get("type").and_then(Value::as_str) {
        Some("UPDATE") => return edge_admin(state, map, false).await,
        Some("DELETE") => return edge_admin(state, map, true).await,
        _ => {}
    }
    let started = std::time::Instant::now();
    let now = parkmesh_storage::now_ms();
    let ev = parse_event(state, map, now)?;
    let (edge_type, camera, edge_event_id) =
        (ev.edge_type, ev.camera.clone(), ev.edge_event_id.clone());
    let renderer: parkmesh_storage::Renderer = {
        let (camera, edge_event_id) = (camera.clone(), edge_event_id.clone());
        Box::new(move |outcome: &Ingested| {
            render::edge_answer(edge_type, &camera, edge_event_id.as_deref(), outcome).to_string()
        })
    };
    let outcome = state.storage().ingest(ev.intent, Some(renderer)).await?;
    state.metrics.observe_ingest(started);
    Ok(match &outcome {
        Ingested::Duplicate { answer } => {
            let mut v: Value =
                serde_json::from_str(answer).unwrap_or_else(|_| json!({ "success": true }));
            if let Value::Object(m) = &mut v {
                m.insert("deduped".into(), Value::Bool(true));
            }
            v
        }
        other => render::edge_answer(edge_type, &camera, edge_event_id.as_deref(), other),
    })
}

/// `POST /api/edge/event`.
pub(crate) async fn post_event(state: AppState, body: bytes::Bytes) -> Result<JsonReply, ApiError> {
    let map = crate::reply::parse_object(&body)?;
    process(&state, &map).await.map(ok)
}

/// `POST /api/edge/heartbeat`.
pub(crate) async fn heartbeat(state: AppState, body: bytes::Bytes) -> Result<JsonReply, ApiError> {
    let map = crate::reply::parse_object(&body)?;
    let camera_id = req_i64(&map, "", "camera_id")?;
    let intent = Intent::Heartbeat {
        camera_id,
        name: opt_str(&map, "", "camera_name")?.unwrap_or_else(|| format!("camera-{camera_id}")),
        camera_type: opt_str(&map, "", "camera_type")?.unwrap_or_else(|| "ENTRY".to_owned()),
        events_sent: opt_i64(&map, "", "events_sent")?.unwrap_or(0).max(0),
        events_failed: opt_i64(&map, "", "events_failed")?.unwrap_or(0).max(0),
    };
    state.storage().ingest(intent, None).await?;
    state.hubs.cameras_changed();
    Ok(ok(json!({ "success": true })))
}
