//! Edge-facing endpoints: `POST /api/edge/event`, `POST /api/edge/heartbeat` and the `/ws/edge`
//! socket, accepting the seed edge's envelope unchanged.
//!
//! Differences from the seed that existing edges cannot notice: the edge's `timestamp` is
//! honoured up to `max_clock_skew_secs` in the future and `max_event_age_secs` in the past (an
//! edge replays the events it queued during an outage of the central with their original times,
//! so fees follow the gates' times; such late events are flagged), and is otherwise replaced by
//! server time and flagged; the idempotency key is the pair (type, event_id), so an automatic EXIT that carries its
//! entry's `event_id` closes that session instead of being dropped as a duplicate; an EXIT
//! without an entry is stored as an exception session; each event sent over the socket gets an
//! `event_result` frame with the stored answer. An ENTRY from an in-lot (`PARKING_LOT`) camera
//! is a sighting at that lot, as a `LOCATION_UPDATE` is.

use parkmesh_parking::payload::{
    EntryPayload, ExitPayload, HistoryDeletePayload, HistoryEditPayload, LocationPayload, Payload,
};
use parkmesh_storage::{Ingested, Intent};
use serde_json::{Map, Value, json};

use crate::fields::{opt_f64, opt_i64, opt_str, req_i64, req_obj, req_str};
use crate::render::{self, CameraInfo, EdgeType};
use crate::reply::{ApiError, JsonReply, ok};
use crate::state::AppState;

/// The business time of an edge event and how it was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GateTime {
    /// The time the event is filed under (ms).
    pub(crate) at_ms: i64,
    /// The edge's timestamp was out of the honoured window and replaced by `now`.
    pub(crate) clamped: bool,
    /// The event arrived more than the allowed skew after its gate time.
    pub(crate) late: bool,
}

/// Decides an edge event's business time from its `timestamp` (seconds, may be absent) and the
/// server clock: a time up to `max_skew_ms` in the future or up to `max_age_ms` in the past is
/// honoured (one more than `max_skew_ms` in the past is flagged `late`: an edge replaying its
/// queue after an outage); anything else (further off, or not a finite number) is replaced by
/// `now_ms` and flagged `clamped` (and `late` when it was in the past).
pub(crate) fn gate_time(
    timestamp: Option<f64>,
    now_ms: i64,
    max_skew_ms: i64,
    max_age_ms: i64,
) -> GateTime {
    let Some(secs) = timestamp else {
        return GateTime {
            at_ms: now_ms,
            clamped: false,
            late: false,
        };
    };
    // Compared in f64: an absurd timestamp must not overflow the subtraction.
    let ms = (secs * 1000.0).round();
    let ahead = ms - now_ms as f64;
    let clamp = |late| GateTime {
        at_ms: now_ms,
        clamped: true,
        late,
    };
    if !ms.is_finite() || ahead > max_skew_ms as f64 {
        clamp(false)
    } else if -ahead > max_age_ms as f64 {
        clamp(true)
    } else {
        GateTime {
            at_ms: ms as i64,
            clamped: false,
            late: -ahead > max_skew_ms as f64,
        }
    }
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
    let mut edge_type = EdgeType::parse(&req_str(map, "", "type")?)?;
    let camera_id = req_i64(map, "", "camera_id")?;
    let camera = CameraInfo {
        id: camera_id,
        name: opt_str(map, "", "camera_name")?.unwrap_or_else(|| format!("camera-{camera_id}")),
        camera_type: opt_str(map, "", "camera_type")?
            .unwrap_or_else(|| edge_type.as_str().to_owned()),
    };
    // An in-lot camera reports a car it does not know as inside with an ENTRY. That car was seen
    // at the lot, not at a gate: a sighting there, which opens an anomaly session placed at the
    // lot (so occupancy counts it) when the car never entered, or moves the car's open session.
    if edge_type == EdgeType::Entry && camera.camera_type.eq_ignore_ascii_case("PARKING_LOT") {
        edge_type = EdgeType::Location;
    }
    let edge_event_id = opt_str(map, "", "event_id")?.filter(|s| !s.is_empty());
    let settings = state.settings();
    let timestamp = opt_f64(map, "", "timestamp")?;
    let time = gate_time(timestamp, now_ms, settings.max_skew_ms, settings.max_age_ms);
    if time.clamped {
        tracing::warn!(
            camera_id,
            timestamp,
            max_clock_skew_ms = settings.max_skew_ms,
            max_event_age_ms = settings.max_age_ms,
            "edge timestamp outside the honoured window; using server time"
        );
    } else if time.late {
        tracing::info!(
            camera_id,
            timestamp,
            late_ms = now_ms.saturating_sub(time.at_ms),
            "late edge event (replayed queue?); its gate time is kept"
        );
    }
    let data = req_obj(map, "", "data")?;
    let raw_plate = match opt_str(data, "data", "plate_text")? {
        Some(p) => p,
        None => req_str(data, "data", "plate_id")
            .map_err(|_| ApiError::BadRequest("missing field data.plate_text".into()))?,
    };
    let plate = parkmesh_parking::plate::normalize(&raw_plate, settings.plate_policy)
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
    let at_ms = time.at_ms;
    let gate = EntryPayload {
        plate_id: plate.id.clone(),
        plate_view: plate.view.clone(),
        at_ms,
        time_clamped: time.clamped,
        late: time.late,
        operator: None,
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
                matching: settings.exit_match,
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
/// `history_id` is its own row number and means nothing here (edge and central number rows independently), so the session is
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
        let plate = parkmesh_parking::plate::normalize(&raw, state.settings().plate_policy)
            .map_err(|e| ApiError::BadRequest(format!("data.plate_view: {e}")))?;
        let p = HistoryEditPayload {
            session: row.session_id.clone(),
            plate_id: plate.id,
            plate_view: plate.view,
            changed_by,
        };
        (HistoryEditPayload::KIND, p.to_value())
    };
    state.append(Intent::Event { kind, payload }).await?;
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
    let now = parkmesh_clock::now_ms();
    let ev = parse_event(state, map, now)?;
    let (edge_type, camera, edge_event_id) =
        (ev.edge_type, ev.camera.clone(), ev.edge_event_id.clone());
    let outcome = state.append(ev.intent).await?;
    state.metrics.observe_ingest(started);
    let (event, session, deduped) = match &outcome {
        Ingested::Stored { event, session } => (event, session.as_deref(), false),
        Ingested::Duplicate { event, session } => (event, session.as_deref(), true),
        Ingested::Done => return Ok(json!({ "success": true })),
    };
    let mut answer =
        render::edge_answer(edge_type, &camera, edge_event_id.as_deref(), event, session);
    if let (true, Value::Object(m)) = (deduped, &mut answer) {
        m.insert("deduped".into(), Value::Bool(true));
    }
    Ok(answer)
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
    state.append(intent).await?;
    state.hubs.cameras_changed();
    Ok(ok(json!({ "success": true })))
}

#[cfg(test)]
mod tests {
    use super::{GateTime, gate_time};

    const NOW: i64 = 1_767_225_600_000;
    const SKEW: i64 = 300_000;
    const AGE: i64 = 86_400_000;

    fn at(offset_ms: i64) -> GateTime {
        gate_time(Some((NOW + offset_ms) as f64 / 1000.0), NOW, SKEW, AGE)
    }

    #[test]
    fn honoured_window_and_flags() {
        let kept = |offset, late| GateTime {
            at_ms: NOW + offset,
            clamped: false,
            late,
        };
        let clamped = |late| GateTime {
            at_ms: NOW,
            clamped: true,
            late,
        };
        assert_eq!(gate_time(None, NOW, SKEW, AGE), kept(0, false));
        assert_eq!(at(0), kept(0, false));
        assert_eq!(at(SKEW), kept(SKEW, false), "at the future bound");
        assert_eq!(at(SKEW + 1000), clamped(false), "beyond the future bound");
        assert_eq!(at(-SKEW), kept(-SKEW, false), "within the skew: not late");
        assert_eq!(
            at(-20 * 60_000),
            kept(-20 * 60_000, true),
            "a 20-minute-old replay"
        );
        assert_eq!(at(-2 * 3_600_000), kept(-2 * 3_600_000, true));
        assert_eq!(at(-AGE), kept(-AGE, true), "at the age bound");
        assert_eq!(at(-AGE - 1000), clamped(true), "older than the age bound");
        for absurd in [f64::NAN, f64::INFINITY, -f64::INFINITY, 1e300, -1e300] {
            let t = gate_time(Some(absurd), NOW, SKEW, AGE);
            assert!(t.clamped && t.at_ms == NOW, "{absurd}: {t:?}");
        }
    }
}
