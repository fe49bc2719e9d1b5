//! `POST /api/parking/manual-entry` `{plate_text, camera_type}`: an operator's entry or exit,
//! for a gate whose camera has no edge address (the original frontend then posts here).
//!
//! `camera_type` is `ENTRY` or `EXIT`, as the frontend sends it; optional `camera_id` and
//! `camera_name` name the gate. The event follows the same rules as a camera's (a plate already
//! inside is refused, an exit without an entry is kept as an exception session, the fee comes
//! from the replicated tariff) and is stored with `source: "manual"`, the server's time and the
//! operator who made it (the `X-Operator` header, else how the caller passed the admin rule), so
//! history shows who let the car in or out. The endpoint is under the admin rule.

use parkmesh_parking::plate::ExitMatch;
use std::convert::Infallible;

use parkmesh_parking::payload::{EntryPayload, ExitPayload};
use parkmesh_storage::{Ingested, Intent};
use serde_json::{Value, json};
use warp::Filter;
use warp::filters::BoxedFilter;

use crate::fields::{opt_i64, opt_str, req_str};
use crate::filters::{admin_as, body, operator_name, with_state};
use crate::render;
use crate::render::{CameraInfo, EdgeType};
use crate::reply::{ApiError, JsonReply, finish, ok, parse_object};
use crate::state::AppState;

/// The route.
pub(crate) fn route(state: AppState) -> BoxedFilter<(Result<JsonReply, Infallible>,)> {
    warp::path!("api" / "parking" / "manual-entry")
        .and(warp::post())
        .and(admin_as(state.clone()))
        .and(warp::header::optional::<String>("x-operator"))
        .map(operator_name)
        .and(with_state(state))
        .and(body())
        .then(|op, s, b| async move { finish(manual_entry(s, op, b).await) })
        .boxed()
}

/// Stores the operator's entry or exit and answers like a camera event (`action`, `message`,
/// `plate_id`, `history_id`, `entry_time`, and for an exit `exit_time`, `duration`, `fee`), plus
/// `source` and `operator`.
async fn manual_entry(
    state: AppState,
    operator: String,
    body: bytes::Bytes,
) -> Result<JsonReply, ApiError> {
    let map = parse_object(&body)?;
    let settings = state.settings();
    let raw_plate = req_str(&map, "", "plate_text")?;
    let plate = parkmesh_parking::plate::normalize(&raw_plate, settings.plate_policy)
        .map_err(|e| ApiError::BadRequest(format!("plate_text: {e}")))?;
    let camera_type = req_str(&map, "", "camera_type")?;
    let edge_type = match camera_type.trim().to_ascii_uppercase().as_str() {
        "ENTRY" => EdgeType::Entry,
        "EXIT" => EdgeType::Exit,
        _ => {
            return Err(ApiError::BadRequest(format!(
                "field camera_type must be ENTRY or EXIT for a manual entry, got {camera_type:?}"
            )));
        }
    };
    let camera_id = opt_i64(&map, "", "camera_id")?;
    let camera = CameraInfo {
        id: camera_id.unwrap_or(0),
        name: opt_str(&map, "", "camera_name")?
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| "Manual".to_owned()),
        camera_type: edge_type.as_str().to_owned(),
    };
    let gate = EntryPayload {
        plate_id: plate.id,
        plate_view: plate.view,
        at_ms: parkmesh_clock::now_ms(),
        time_clamped: false,
        late: false,
        operator: Some(operator.clone()),
        camera_id,
        camera_name: camera.name.clone(),
        camera_type: camera.camera_type.clone(),
        confidence: 1.0,
        source: "manual".to_owned(),
        edge_event_id: None,
        edge_id: None,
    };
    let intent = match edge_type {
        // The operator names the plate: it is matched as typed.
        EdgeType::Exit => Intent::Exit {
            payload: ExitPayload::at_gate(gate, None),
            matching: ExitMatch::Exact,
            request_key: None,
        },
        EdgeType::Entry | EdgeType::Location => Intent::Entry {
            payload: gate,
            request_key: None,
        },
    };
    let Ingested::Stored { event, session } = state.append(intent).await? else {
        return Err(ApiError::Unavailable(
            "the manual event was not stored; try again".into(),
        ));
    };
    tracing::info!(
        operator = %operator,
        action = edge_type.as_str(),
        plate = %raw_plate,
        "manual entry"
    );
    let mut answer = render::edge_answer(edge_type, &camera, None, &event, session.as_deref());
    if let Value::Object(m) = &mut answer {
        m.insert("source".into(), json!("manual"));
        m.insert("operator".into(), json!(operator));
    }
    Ok(ok(answer))
}
