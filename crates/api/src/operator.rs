//! Operator endpoints: plate corrections and deletions of
//! sessions with their audit trail, subscriptions and the staff roster.
//!
//! Every change is an event: `history.edit` / `history.delete` name the session by its global id
//! (never by this central's row id, which means nothing on a peer), deletes are tombstones, and
//! subscriptions and staff are whole-list `subscriptions.set` / `staff.set` events, so every
//! central converges on the same data and applies the same passes at its exits.

use std::collections::HashMap;
use std::convert::Infallible;

use parkmesh_parking::payload::{
    ExitUnmatchPayload, HistoryDeletePayload, HistoryEditPayload, Payload, StaffPayload,
    Subscription, SubscriptionsPayload,
};
use parkmesh_protocol::EventKind;
use parkmesh_storage::Intent;
use serde_json::{Value, json};
use warp::Filter;
use warp::filters::BoxedFilter;

use crate::fields::{opt_str, req_str};
use crate::filters::{admin, admin_as, body, operator_name, with_state};
use crate::reply::{ApiError, JsonReply, finish, ok, parse_object};
use crate::state::AppState;

/// Largest list accepted for subscriptions or staff.
const MAX_LIST: usize = 10_000;

/// The operator routes.
pub(crate) fn routes(state: AppState) -> BoxedFilter<(Result<JsonReply, Infallible>,)> {
    let st = || with_state(state.clone());
    let adm = || admin(state.clone());
    let who = || {
        admin_as(state.clone())
            .and(warp::header::optional::<String>("x-operator"))
            .map(operator_name)
    };
    let edit = warp::path!("api" / "parking" / "history" / i64)
        .and(warp::put())
        .and(who())
        .and(st())
        .and(body())
        .then(|id, op, s, b| async move { finish(edit(s, id, op, b).await) });
    let delete = warp::path!("api" / "parking" / "history" / i64)
        .and(warp::delete())
        .and(who())
        .and(st())
        .then(|id, op, s| async move { finish(delete(s, id, op).await) });
    let unmatch = warp::path!("api" / "parking" / "history" / i64 / "unmatch")
        .and(warp::post())
        .and(who())
        .and(st())
        .then(|id, op, s| async move { finish(unmatch(s, id, op).await) });
    let changes = warp::path!("api" / "parking" / "history" / "changes")
        .and(warp::get())
        .and(st())
        .and(warp::query::<HashMap<String, String>>())
        .then(|s, q| async move { finish(changes(s, q).await) });
    let get_subs = warp::path!("api" / "subscriptions")
        .and(warp::get())
        .and(st())
        .then(|s| async move { finish(get_list(s, "subscriptions").await) });
    let put_subs = warp::path!("api" / "subscriptions")
        .and(warp::put())
        .and(adm())
        .and(st())
        .and(body())
        .then(|s, b| async move { finish(put_subscriptions(s, b).await) });
    let get_staff = warp::path!("api" / "staff")
        .and(warp::get())
        .and(st())
        .then(|s| async move { finish(get_list(s, "staff").await) });
    let put_staff = warp::path!("api" / "staff")
        .and(warp::put())
        .and(adm())
        .and(st())
        .and(body())
        .then(|s, b| async move { finish(put_staff(s, b).await) });
    changes
        .or(edit)
        .unify()
        .or(unmatch)
        .unify()
        .or(delete)
        .unify()
        .or(get_subs)
        .unify()
        .or(put_subs)
        .unify()
        .or(get_staff)
        .unify()
        .or(put_staff)
        .unify()
        .boxed()
}

async fn session(state: &AppState, id: i64) -> Result<parkmesh_storage::HistoryRow, ApiError> {
    match state.storage().session(id).await? {
        Some(row) if !row.deleted => Ok(row),
        _ => Err(ApiError::NotFound(format!("history entry {id} not found"))),
    }
}

/// `POST /api/parking/history/{id}/unmatch` (admin): undoes the match of a session's exit to it
/// as a confusable plate (`exit.unmatch`); the session reopens and the exit becomes an
/// exception under the plate it was read as, at every central.
async fn unmatch(state: AppState, id: i64, op: String) -> Result<JsonReply, ApiError> {
    let row = session(&state, id).await?;
    let exit = match (&row.plate_match, &row.exit_event_id) {
        (Some(m), Some(exit)) if m == parkmesh_parking::plate::MATCH_CONFUSABLE => exit.clone(),
        _ => {
            return Err(ApiError::BadRequest(format!(
                "history entry {id} was not closed by a confusable exit match"
            )));
        }
    };
    let payload = ExitUnmatchPayload {
        session: exit,
        changed_by: op,
    };
    state
        .append(Intent::Event {
            kind: ExitUnmatchPayload::KIND,
            payload: payload.to_value(),
        })
        .await?;
    Ok(ok(json!({
        "success": true,
        "message": format!("History entry {id}: exit match undone"),
    })))
}

/// `PUT /api/parking/history/{id}` `{plate_id, plate_view}` (admin): a plate correction.
async fn edit(
    state: AppState,
    id: i64,
    op: String,
    body: bytes::Bytes,
) -> Result<JsonReply, ApiError> {
    let map = parse_object(&body)?;
    let row = session(&state, id).await?;
    let view = match opt_str(&map, "", "plate_view")? {
        Some(v) => v,
        None => req_str(&map, "", "plate_id")?,
    };
    let plate = parkmesh_parking::plate::normalize(&view, state.settings().plate_policy)
        .map_err(|e| ApiError::BadRequest(format!("plate_view: {e}")))?;
    if let Some(given) = opt_str(&map, "", "plate_id")? {
        let given: String = given
            .to_uppercase()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        if given != plate.id {
            return Err(ApiError::BadRequest(format!(
                "plate_id {given:?} does not match plate_view {:?} (normalised {:?})",
                plate.view, plate.id
            )));
        }
    }
    let payload = HistoryEditPayload {
        session: row.session_id,
        plate_id: plate.id,
        plate_view: plate.view,
        changed_by: op,
    };
    state
        .append(Intent::Event {
            kind: HistoryEditPayload::KIND,
            payload: payload.to_value(),
        })
        .await?;
    Ok(ok(
        json!({ "success": true, "message": format!("History entry {id} updated") }),
    ))
}

/// `DELETE /api/parking/history/{id}` (admin): a tombstone; the session disappears from lists on
/// every central and its audit row stays.
async fn delete(state: AppState, id: i64, op: String) -> Result<JsonReply, ApiError> {
    let row = session(&state, id).await?;
    let payload = HistoryDeletePayload {
        session: row.session_id,
        changed_by: op,
    };
    state
        .append(Intent::Event {
            kind: HistoryDeletePayload::KIND,
            payload: payload.to_value(),
        })
        .await?;
    Ok(ok(
        json!({ "success": true, "message": format!("History entry {id} deleted") }),
    ))
}

/// `GET /api/parking/history/changes?limit&offset&history_id`.
async fn changes(state: AppState, q: HashMap<String, String>) -> Result<JsonReply, ApiError> {
    let num = |key: &str, default: i64, max: i64| -> Result<i64, ApiError> {
        match q.get(key) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| (0..=max).contains(n))
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "query parameter {key} must be an integer from 0 to {max}, got {v:?}"
                    ))
                }),
        }
    };
    let limit = num("limit", 100, crate::frontend::MAX_HISTORY_LIMIT)?;
    let offset = num("offset", 0, i64::from(i32::MAX))?;
    let history_id = match q.get("history_id") {
        Some(_) => Some(num("history_id", 0, i64::MAX)?),
        None => None,
    };
    let rows = state.storage().changes(limit, offset, history_id).await?;
    let settings = state.settings();
    let tz = &settings.tz;
    let list: Vec<Value> = rows
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "history_id": c.history_id,
                "session_id": c.session_id,
                "change_type": c.change_type,
                "old_plate_id": c.old_plate_id,
                "old_plate_view": c.old_plate_view,
                "new_plate_id": c.new_plate_id,
                "new_plate_view": c.new_plate_view,
                "old_data": { "plate_id": c.old_plate_id, "plate_view": c.old_plate_view },
                "new_data": if c.change_type == "DELETE" { Value::Null } else { json!({ "plate_id": c.new_plate_id, "plate_view": c.new_plate_view }) },
                "changed_at": parkmesh_parking::time::format_local(c.changed_at_ms, tz),
                "changed_by": c.changed_by,
            })
        })
        .collect();
    Ok(ok(
        json!({ "success": true, "count": list.len(), "changes": list }),
    ))
}

/// `GET /api/subscriptions` and `GET /api/staff`: the newest replicated list.
async fn get_list(state: AppState, key: &str) -> Result<JsonReply, ApiError> {
    let list = state
        .storage()
        .setting(key)
        .await?
        .and_then(|(v, _)| v.get(key).cloned())
        .unwrap_or_else(|| json!([]));
    Ok(ok(
        json!({ "success": true, key: list, "source": "database" }),
    ))
}

fn list_field<'a>(
    map: &'a serde_json::Map<String, Value>,
    key: &str,
) -> Result<&'a Vec<Value>, ApiError> {
    match map.get(key) {
        Some(Value::Array(items)) if items.len() <= MAX_LIST => Ok(items),
        Some(Value::Array(items)) => Err(ApiError::BadRequest(format!(
            "{key} has {} entries, at most {MAX_LIST}",
            items.len()
        ))),
        Some(other) => Err(ApiError::BadRequest(format!(
            "field {key} must be a list, got {}",
            crate::reply::kind_name(other)
        ))),
        None => Err(ApiError::BadRequest(format!("missing field {key}"))),
    }
}

/// `PUT /api/subscriptions` `{subscriptions: [...]}` (admin).
async fn put_subscriptions(state: AppState, body: bytes::Bytes) -> Result<JsonReply, ApiError> {
    let map = parse_object(&body)?;
    let items = list_field(&map, "subscriptions")?;
    let mut subs = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let sub: Subscription = serde_json::from_value(item.clone())
            .map_err(|e| ApiError::BadRequest(format!("subscriptions[{i}]: {e}")))?;
        sub.validate(i)
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        subs.push(sub);
    }
    let n = subs.len();
    let payload = SubscriptionsPayload {
        subscriptions: subs,
    }
    .to_value();
    state
        .append(Intent::Event {
            kind: EventKind::SubscriptionsSet,
            payload,
        })
        .await?;
    Ok(ok(
        json!({ "success": true, "message": format!("{n} subscriptions saved") }),
    ))
}

/// `PUT /api/staff` `{staff: [...]}` (admin): each entry an object with short text fields.
async fn put_staff(state: AppState, body: bytes::Bytes) -> Result<JsonReply, ApiError> {
    let map = parse_object(&body)?;
    let items = list_field(&map, "staff")?;
    for (i, item) in items.iter().enumerate() {
        let Value::Object(fields) = item else {
            return Err(ApiError::BadRequest(format!(
                "staff[{i}] must be an object"
            )));
        };
        for (k, v) in fields {
            if v.as_str()
                .is_some_and(|s| s.chars().count() > crate::fields::MAX_TEXT)
                || v.is_object()
                || v.is_array()
            {
                return Err(ApiError::BadRequest(format!(
                    "staff[{i}].{k} must be a short text, number or boolean"
                )));
            }
        }
    }
    let n = items.len();
    let payload = StaffPayload {
        staff: items.clone(),
    }
    .to_value();
    state
        .append(Intent::Event {
            kind: EventKind::StaffSet,
            payload,
        })
        .await?;
    Ok(ok(
        json!({ "success": true, "message": format!("{n} staff saved") }),
    ))
}
