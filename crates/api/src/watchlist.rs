//! The network's watch list and an edge's detection preview.
//!
//! `GET /api/watchlist`, `POST /api/watchlist {plate, reason, action}` and
//! `DELETE /api/watchlist/{plate}` (both admin) read and change the list; a change is a
//! replicated `watchlist.set` event (newest per plate wins), so every central lists the same
//! plates. `POST /api/edge/detection` is the original's read-only preview for an edge — is this
//! plate inside, what would it pay now, may it pass — in the original's shape
//! (`{success, allowed, vehicle_info}`); a plate listed with `action: "deny"` (or a plate
//! confusable with it) gets `allowed: false` and the reason. The preview records nothing: the
//! gate's own ENTRY or EXIT, when the car passes anyway, is recorded as always.

use std::convert::Infallible;

use parkmesh_parking::payload::{
    Payload, SubscriptionsPayload, WATCH_ACTIONS, WATCH_REMOVE, WatchPayload,
};
use parkmesh_parking::plate::{confusable, normalize};
use parkmesh_storage::{Intent, WatchEntry};
use serde_json::{Value, json};
use warp::Filter;
use warp::filters::BoxedFilter;

use crate::fields::{opt_f64, opt_str, req_str};
use crate::filters::{admin_as, body, operator_name, with_state};
use crate::reply::{ApiError, JsonReply, finish, ok, parse_object};
use crate::state::AppState;

/// The watch-list routes and the detection preview.
pub(crate) fn routes(state: AppState) -> BoxedFilter<(Result<JsonReply, Infallible>,)> {
    let st = || with_state(state.clone());
    let who = || {
        admin_as(state.clone())
            .and(warp::header::optional::<String>("x-operator"))
            .map(operator_name)
    };
    let list = warp::path!("api" / "watchlist")
        .and(warp::get())
        .and(st())
        .then(|s| async move { finish(list(s).await) });
    let add = warp::path!("api" / "watchlist")
        .and(warp::post())
        .and(who())
        .and(st())
        .and(body())
        .then(|op, s, b| async move { finish(add(s, op, b).await) });
    let remove = warp::path!("api" / "watchlist" / String)
        .and(warp::delete())
        .and(who())
        .and(st())
        .then(|plate, op, s| async move { finish(remove(s, plate, op).await) });
    let detection = warp::path!("api" / "edge" / "detection")
        .and(warp::post())
        .and(st())
        .and(body())
        .then(|s, b| async move { finish(detection(s, b).await) });
    list.or(add)
        .unify()
        .or(remove)
        .unify()
        .or(detection)
        .unify()
        .boxed()
}

fn entry_json(w: &WatchEntry) -> Value {
    json!({
        "plate_id": w.entry.plate_id,
        "plate_view": w.entry.plate_view,
        "reason": w.entry.reason,
        "action": w.entry.action,
        "changed_by": w.entry.changed_by,
        "event_id": w.event_id,
    })
}

/// `GET /api/watchlist`.
async fn list(state: AppState) -> Result<JsonReply, ApiError> {
    let items: Vec<Value> = state
        .storage()
        .watchlist()
        .await?
        .iter()
        .map(entry_json)
        .collect();
    Ok(ok(
        json!({ "success": true, "count": items.len(), "watchlist": items }),
    ))
}

/// Appends a validated `watchlist.set`.
async fn put(state: &AppState, payload: WatchPayload) -> Result<(), ApiError> {
    payload
        .validate()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    state
        .append(Intent::Event {
            kind: WatchPayload::KIND,
            payload: payload.to_value(),
        })
        .await?;
    Ok(())
}

/// `POST /api/watchlist {plate, reason, action}` (admin).
async fn add(state: AppState, op: String, body: bytes::Bytes) -> Result<JsonReply, ApiError> {
    let map = parse_object(&body)?;
    let raw = req_str(&map, "", "plate")?;
    let plate = normalize(&raw, state.settings().plate_policy)
        .map_err(|e| ApiError::BadRequest(format!("plate: {e}")))?;
    let action = req_str(&map, "", "action")?;
    if !WATCH_ACTIONS.contains(&action.as_str()) {
        return Err(ApiError::BadRequest(format!(
            "action must be \"alert\" or \"deny\", not {action:?}"
        )));
    }
    let payload = WatchPayload {
        plate_id: plate.id,
        plate_view: plate.view,
        reason: opt_str(&map, "", "reason")?.unwrap_or_default(),
        action,
        changed_by: op,
    };
    let answer = json!({
        "success": true,
        "message": format!("{} is on the watch list", payload.plate_view),
        "plate_id": payload.plate_id,
        "action": payload.action,
    });
    put(&state, payload).await?;
    Ok(ok(answer))
}

/// `DELETE /api/watchlist/{plate}` (admin); 404 when the plate is not listed.
async fn remove(state: AppState, raw: String, op: String) -> Result<JsonReply, ApiError> {
    let raw = percent_decoded(&raw);
    let plate = normalize(&raw, parkmesh_parking::plate::PlatePolicy::Lenient)
        .map_err(|e| ApiError::BadRequest(format!("plate: {e}")))?;
    let listed = state.storage().watchlist().await?;
    let Some(w) = listed.iter().find(|w| w.entry.plate_id == plate.id) else {
        return Err(ApiError::NotFound(format!(
            "{} is not on the watch list",
            plate.id
        )));
    };
    put(
        &state,
        WatchPayload {
            action: WATCH_REMOVE.to_owned(),
            changed_by: op,
            ..w.entry.clone()
        },
    )
    .await?;
    Ok(ok(json!({
        "success": true,
        "message": format!("{} is off the watch list", plate.id),
    })))
}

/// A path segment with `%XX` escapes decoded (a plate view may hold spaces or dots).
fn percent_decoded(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The watch-list entry that applies to plate `id`: its own, else one of a confusable plate
/// (a `deny` before an `alert`).
pub(crate) fn watched<'a>(list: &'a [WatchEntry], id: &str) -> Option<&'a WatchEntry> {
    list.iter().find(|w| w.entry.plate_id == id).or_else(|| {
        let mut near: Vec<&WatchEntry> = list
            .iter()
            .filter(|w| confusable(&w.entry.plate_id, id))
            .collect();
        near.sort_by_key(|w| w.entry.action != "deny");
        near.first().copied()
    })
}

/// `POST /api/edge/detection` (the original's shape): a read-only preview for an edge.
async fn detection(state: AppState, body: bytes::Bytes) -> Result<JsonReply, ApiError> {
    let map = parse_object(&body)?;
    let raw = match opt_str(&map, "", "plate_view")? {
        Some(v) if !v.trim().is_empty() => v,
        _ => req_str(&map, "", "plate_id")?,
    };
    let settings = state.settings();
    let plate = normalize(&raw, settings.plate_policy)
        .map_err(|e| ApiError::BadRequest(format!("plate_id: {e}")))?;
    let direction = opt_str(&map, "", "direction")?
        .unwrap_or_else(|| "ENTRY".to_owned())
        .to_uppercase();
    let camera_type = opt_str(&map, "", "camera_type")?.unwrap_or_else(|| "car".to_owned());
    // The edge's confidence is part of the original's model; a wrong type is refused.
    opt_f64(&map, "", "confidence")?;
    let now = parkmesh_clock::now_ms();
    let mut info = json!({
        "plate_id": plate.id,
        "plate_view": plate.view,
        "direction": direction,
        "camera_type": camera_type,
    });
    let open = state.storage().open_session_of(&plate.id).await?;
    match (&open, direction.as_str()) {
        (Some(s), "EXIT") => {
            let entry_ms = s.entry_ms.unwrap_or(now);
            let subs = state
                .storage()
                .setting("subscriptions")
                .await?
                .and_then(|(v, _)| serde_json::from_value::<SubscriptionsPayload>(v).ok())
                .map(|p| p.subscriptions)
                .unwrap_or_default();
            let exempt =
                parkmesh_parking::subscription::exemption(&subs, &plate.id, now, &settings.tz);
            let fee = match exempt {
                Some(_) => 0,
                None => crate::tariff::in_force(&state).await?.fee(entry_ms, now),
            };
            info["has_entry"] = json!(true);
            info["entry_time"] = json!(s.entry_time);
            info["entry_from"] = json!(s.source_central);
            info["duration"] = json!(parkmesh_parking::fee::duration_text(
                now.saturating_sub(entry_ms)
            ));
            info["fee"] = json!(fee);
        }
        (None, "EXIT") => {
            info["has_entry"] = json!(false);
            info["error"] = json!("no open session for this plate");
        }
        (Some(s), _) => {
            info["already_inside"] = json!(true);
            info["entry_time"] = json!(s.entry_time);
            info["entry_from"] = json!(s.source_central);
        }
        (None, _) => info["already_inside"] = json!(false),
    }
    let list = state.storage().watchlist().await?;
    let mut allowed = true;
    if let Some(w) = watched(&list, &plate.id) {
        allowed = w.entry.action != "deny";
        info["watchlist"] = entry_json(w);
    }
    let mut answer = json!({ "success": true, "allowed": allowed, "vehicle_info": info });
    if let Some(w) = watched(&list, &plate.id).filter(|_| !allowed) {
        answer["reason"] = json!(if w.entry.reason.is_empty() {
            format!("{} is on the watch list (deny)", w.entry.plate_view)
        } else {
            w.entry.reason.clone()
        });
    }
    Ok(ok(answer))
}
