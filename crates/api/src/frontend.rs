//! Frontend-facing read endpoints and the fee table, in the original system's shapes.

use std::collections::HashMap;

use parkmesh_parking::payload::Tariff;
use parkmesh_storage::HistoryQuery;
use serde_json::{Value, json};

use crate::render;
use crate::reply::{ApiError, JsonReply, ok, ok_serialized, parse_object};
use crate::state::AppState;

/// Largest `limit` accepted by `/api/parking/history`.
pub(crate) const MAX_HISTORY_LIMIT: i64 = 1000;

fn today(state: &AppState) -> (i64, i64) {
    parkmesh_parking::time::local_day_range(parkmesh_clock::now_ms(), &state.settings().tz)
}

/// `GET /`.
pub(crate) fn root() -> JsonReply {
    ok(
        json!({ "service": "parkmesh central", "version": env!("CARGO_PKG_VERSION"), "status": "running" }),
    )
}

/// `GET /api/stats`.
pub(crate) async fn stats(state: AppState) -> Result<JsonReply, ApiError> {
    let s = state.storage().stats(today(&state)).await?;
    let mut v = render::stats(&s);
    v["success"] = json!(true);
    Ok(ok(v))
}

/// `GET /api/status`.
pub(crate) async fn status(state: AppState) -> Result<JsonReply, ApiError> {
    let s = state.storage().stats(today(&state)).await?;
    let cameras = crate::cameras::list(&state).await?;
    Ok(ok(
        json!({ "success": true, "cameras": cameras, "parking": render::stats(&s) }),
    ))
}

/// `GET /api/cameras`.
pub(crate) async fn cameras(state: AppState) -> Result<JsonReply, ApiError> {
    let mut v = crate::cameras::list(&state).await?;
    v["success"] = json!(true);
    Ok(ok(v))
}

/// The answer of `GET /api/parking/state`, written straight out (thousands of rows at a big
/// site); the keys in the order `serde_json`'s map writes them.
#[derive(serde::Serialize)]
struct ParkingState<'a> {
    overstays: usize,
    stats: Value,
    success: bool,
    vehicles_in_parking: Vec<render::HistoryJson<'a>>,
}

/// `GET /api/parking/state`.
pub(crate) async fn parking_state(state: AppState) -> Result<JsonReply, ApiError> {
    let rows = state.storage().inside().await?;
    let s = state.storage().stats(today(&state)).await?;
    // Overstays (`max_stay_hours`): flagged on each row, counted beside the stats.
    let cutoff = overstay_cutoff(&state);
    let vehicles: Vec<render::HistoryJson<'_>> = rows
        .iter()
        .map(|r| {
            let over = cutoff.is_some_and(|c| r.entry_ms.is_some_and(|at| at < c));
            render::HistoryJson(r, Some(over))
        })
        .collect();
    let overstays = vehicles.iter().filter(|v| v.1 == Some(true)).count();
    Ok(ok_serialized(&ParkingState {
        overstays,
        stats: render::stats(&s),
        success: true,
        vehicles_in_parking: vehicles,
    }))
}

/// The entry instant before which a car still inside is an overstay, when `max_stay_hours` is
/// set.
pub(crate) fn overstay_cutoff(state: &AppState) -> Option<i64> {
    state
        .settings()
        .max_stay_ms
        .map(|max| parkmesh_clock::now_ms().saturating_sub(max))
}

fn flag(q: &HashMap<String, String>, key: &str) -> Result<bool, ApiError> {
    match q.get(key).map(|s| s.to_ascii_lowercase()) {
        None => Ok(false),
        Some(v) if matches!(v.as_str(), "true" | "1" | "yes") => Ok(true),
        Some(v) if matches!(v.as_str(), "false" | "0" | "no" | "") => Ok(false),
        Some(v) => Err(ApiError::BadRequest(format!(
            "query parameter {key} must be true or false, got {v:?}"
        ))),
    }
}

fn int(q: &HashMap<String, String>, key: &str, default: i64, max: i64) -> Result<i64, ApiError> {
    match q.get(key) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if (0..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::BadRequest(format!(
                "query parameter {key} must be an integer from 0 to {max}, got {v:?}"
            ))),
        },
    }
}

/// The answer of `GET /api/parking/history`, written straight out; the keys in the order
/// `serde_json`'s map writes them.
#[derive(serde::Serialize)]
struct HistoryPage<'a> {
    count: usize,
    history: Vec<render::HistoryJson<'a>>,
    stats: Value,
    success: bool,
}

/// `GET /api/parking/history` with the seed's filters; `limit` is bounded, "today" is the site's
/// local day and rows are ordered by entry time (newest first).
pub(crate) async fn history(
    state: AppState,
    q: HashMap<String, String>,
) -> Result<JsonReply, ApiError> {
    let status = match q.get("status").map(|s| s.to_ascii_uppercase()) {
        None => None,
        Some(s) if s.is_empty() || s == "ALL" => None,
        Some(s) if s == "IN" || s == "OUT" => Some(s),
        Some(s) => {
            return Err(ApiError::BadRequest(format!(
                "query parameter status must be IN or OUT, got {s:?}"
            )));
        }
    };
    let search = q
        .get("search")
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    if search.as_ref().is_some_and(|s| s.chars().count() > 64) {
        return Err(ApiError::BadRequest(
            "query parameter search is too long (at most 64 characters)".into(),
        ));
    }
    let query = HistoryQuery {
        limit: int(&q, "limit", 100, MAX_HISTORY_LIMIT)?,
        offset: int(&q, "offset", 0, i64::from(i32::MAX))?,
        day: if flag(&q, "today_only")? {
            Some(today(&state))
        } else {
            None
        },
        status,
        search,
        // `entries_only` is accepted for compatibility: every session is an entry.
        in_parking_only: flag(&q, "in_parking_only")? && !flag(&q, "entries_only").unwrap_or(false),
    };
    let rows = state.storage().history(&query).await?;
    let s = state.storage().stats(today(&state)).await?;
    Ok(ok_serialized(&HistoryPage {
        count: rows.len(),
        history: rows.iter().map(render::HistoryJson::of).collect(),
        stats: render::stats(&s),
        success: true,
    }))
}

/// `GET /api/parking/fees`.
pub(crate) async fn get_fees(state: AppState) -> Result<JsonReply, ApiError> {
    let (tariff, source) = match crate::tariff::stored(&state).await? {
        Some(tariff) => (tariff, "database"),
        None => (Tariff::default(), "default"),
    };
    Ok(ok(json!({
        "success": true,
        "fees": { "fee_base": tariff.fee_base, "fee_per_hour": tariff.fee_per_hour },
        "source": source,
    })))
}

/// `PUT /api/parking/fees` with `{"fees": {"fee_base": h, "fee_per_hour": vnd}}` (admin).
/// Stored as a replicated `fees.set` event: every central charges by the same table.
pub(crate) async fn put_fees(state: AppState, body: bytes::Bytes) -> Result<JsonReply, ApiError> {
    let map = parse_object(&body)?;
    let fees = crate::fields::req_obj(&map, "", "fees")?;
    let current = crate::tariff::in_force(&state).await?;
    let tariff = crate::tariff::merge(&current, fees, "fees")?;
    crate::tariff::set(&state, &tariff).await?;
    Ok(ok(json!({ "success": true, "message": "Fees updated" })))
}
