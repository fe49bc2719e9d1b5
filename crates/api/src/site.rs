//! Site configuration as data: `GET/POST
//! /api/config`, `POST /api/edge/sync-config` and `GET /api/parking/occupancy`.
//!
//! The original system pasted request values into its Python source (a remote code
//! execution hole). Here every value is validated and stored as a replicated event: fees as
//! `fees.set`, edge cameras as `config.cameras`, in-lot zones (PARKING_LOT cameras) as
//! `zone.config`. Nothing is executed and no file is rewritten.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;

use parkmesh_parking::payload::{Payload, ZoneConfigPayload};
use parkmesh_protocol::EventKind;
use parkmesh_storage::Intent;
use serde_json::{Map, Value, json};
use warp::Filter;
use warp::filters::BoxedFilter;

use crate::client::Target;
use crate::fields::{opt_i64, opt_str, req_obj};
use crate::filters::{admin, body, with_state};
use crate::reply::{ApiError, JsonReply, finish, ok, ok_serialized, parse_object};
use crate::state::AppState;

/// Most cameras one site may configure.
const MAX_CAMERAS: usize = 256;

/// The site routes.
pub(crate) fn routes(state: AppState) -> BoxedFilter<(Result<JsonReply, Infallible>,)> {
    let st = || with_state(state.clone());
    let get_config = warp::path!("api" / "config")
        .and(warp::get())
        .and(st())
        .then(|s| async move { finish(get_config(s).await) });
    let post_config = warp::path!("api" / "config")
        .and(warp::post())
        .and(admin(state.clone()))
        .and(st())
        .and(body())
        .then(|s, b| async move { finish(post_config(s, b).await) });
    let sync = warp::path!("api" / "edge" / "sync-config")
        .and(warp::post())
        .and(st())
        .and(body())
        .then(|s, b| async move { finish(sync_config(s, b).await) });
    let occupancy = warp::path!("api" / "parking" / "occupancy")
        .and(warp::get())
        .and(st())
        .then(|s| async move { finish(occupancy(s).await) });
    get_config
        .or(post_config)
        .unify()
        .or(sync)
        .unify()
        .or(occupancy)
        .unify()
        .boxed()
}

/// One validated edge camera.
#[derive(Debug, Clone)]
struct Camera {
    name: String,
    ip: String,
    camera_type: String,
    capacity: i64,
}

impl Camera {
    fn to_json(&self) -> Value {
        json!({ "name": self.name, "ip": self.ip, "camera_type": self.camera_type, "parking_lot_capacity": self.capacity })
    }
}

fn parse_cameras(map: &Map<String, Value>, path: &str) -> Result<BTreeMap<i64, Camera>, ApiError> {
    if map.len() > MAX_CAMERAS {
        return Err(ApiError::BadRequest(format!(
            "{path} has {} cameras, at most {MAX_CAMERAS}",
            map.len()
        )));
    }
    let mut out = BTreeMap::new();
    for (key, value) in map {
        let id: i64 = key.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
            ApiError::BadRequest(format!("{path} key {key:?} must be a positive camera id"))
        })?;
        let at = format!("{path}.{key}");
        let Value::Object(cam) = value else {
            return Err(ApiError::BadRequest(format!("{at} must be an object")));
        };
        let camera_type = opt_str(cam, &at, "camera_type")?
            .unwrap_or_else(|| "ENTRY".into())
            .to_uppercase();
        if !matches!(camera_type.as_str(), "ENTRY" | "EXIT" | "PARKING_LOT") {
            return Err(ApiError::BadRequest(format!(
                "{at}.camera_type must be ENTRY, EXIT or PARKING_LOT, got {camera_type:?}"
            )));
        }
        let ip = opt_str(cam, &at, "ip")?.unwrap_or_default();
        let (host, _) = crate::cameras::edge_addr(&ip);
        if !ip.is_empty() && host.parse::<std::net::IpAddr>().is_err() && !is_hostname(&host) {
            return Err(ApiError::BadRequest(format!(
                "{at}.ip {ip:?} is not an IP address or host name (optionally with :port)"
            )));
        }
        let capacity = opt_i64(cam, &at, "parking_lot_capacity")?.unwrap_or(0);
        if !(0..=1_000_000).contains(&capacity) {
            return Err(ApiError::BadRequest(format!(
                "{at}.parking_lot_capacity must be from 0 to 1000000"
            )));
        }
        let name = opt_str(cam, &at, "name")?.unwrap_or_else(|| format!("camera-{id}"));
        if name.trim().is_empty() || name.chars().count() > 64 {
            return Err(ApiError::BadRequest(format!(
                "{at}.name must be 1 to 64 characters"
            )));
        }
        out.insert(
            id,
            Camera {
                name,
                ip,
                camera_type,
                capacity,
            },
        );
    }
    Ok(out)
}

fn is_hostname(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

async fn stored_cameras(state: &AppState) -> Result<Map<String, Value>, ApiError> {
    Ok(state
        .storage()
        .setting("edge_cameras")
        .await?
        .and_then(|(v, _)| v.get("cameras").and_then(Value::as_object).cloned())
        .unwrap_or_default())
}

/// Stores the merged camera list and a zone for every PARKING_LOT camera among `cams`.
async fn store_cameras(state: &AppState, cams: &BTreeMap<i64, Camera>) -> Result<(), ApiError> {
    let mut all = stored_cameras(state).await?;
    for (id, cam) in cams {
        all.insert(id.to_string(), cam.to_json());
    }
    let payload = json!({ "cameras": all });
    state
        .append(Intent::Event {
            kind: EventKind::CamerasConfig,
            payload,
        })
        .await?;
    for (id, cam) in cams.iter().filter(|(_, c)| c.camera_type == "PARKING_LOT") {
        let zone = ZoneConfigPayload {
            location_name: cam.name.clone(),
            capacity: cam.capacity,
            camera_id: Some(*id),
            camera_type: Some(cam.camera_type.clone()),
            edge_id: Some(cam.ip.clone()),
        };
        state
            .append(Intent::Event {
                kind: ZoneConfigPayload::KIND,
                payload: zone.to_value(),
            })
            .await?;
    }
    Ok(())
}

/// `GET /api/config`: the seed's sections with `backend_type: "central"`; no secrets.
async fn get_config(state: AppState) -> Result<JsonReply, ApiError> {
    let cfg = state.manager.config();
    let tariff = crate::tariff::in_force(&state).await?;
    Ok(ok(json!({
        "success": true,
        "config": {
            "backend_type": "central",
            "server": { "host": cfg.bind().to_string(), "port": cfg.this_central().api_port },
            "database": { "db_file": cfg.db_path().display().to_string() },
            "camera": { "heartbeat_timeout": crate::cameras::CAMERA_TIMEOUT_MS / 1000 },
            "parking": { "fee_base": tariff.fee_base, "fee_per_hour": tariff.fee_per_hour, "api_url": "" },
            "staff": { "api_url": "" },
            "subscriptions": { "api_url": "" },
            "report": { "api_url": "" },
            "central_server": { "ip": cfg.this_central().ip.to_string() },
            "central_sync": { "servers": [] },
            "edge_cameras": stored_cameras(&state).await?,
        }
    })))
}

/// `POST /api/config` (admin): stores fees and edge cameras as data and pushes each camera's
/// configuration to its edge (`sync_results`); other sections of the seed's document are
/// accepted and ignored (they are this build's fixed behaviour).
async fn post_config(state: AppState, body: bytes::Bytes) -> Result<JsonReply, ApiError> {
    let map = parse_object(&body)?;
    let mut changed = Vec::new();
    if let Some(Value::Object(parking)) = map.get("parking") {
        let current = crate::tariff::in_force(&state).await?;
        let tariff = crate::tariff::merge(&current, parking, "parking")?;
        if tariff != current {
            crate::tariff::set(&state, &tariff).await?;
            changed.push("parking");
        }
    }
    let mut sync_results = Vec::new();
    if map.contains_key("edge_cameras") {
        let cams = parse_cameras(req_obj(&map, "", "edge_cameras")?, "edge_cameras")?;
        store_cameras(&state, &cams).await?;
        changed.push("edge_cameras");
        let pushes = cams.iter().map(|(id, cam)| push_to_edge(&state, *id, cam));
        sync_results = futures_util::future::join_all(pushes).await;
    }
    Ok(ok(json!({
        "success": true,
        "message": if changed.is_empty() { "No changes needed".to_owned() } else { format!("Saved: {}", changed.join(", ")) },
        "sync_results": sync_results,
    })))
}

/// Pushes a camera's configuration to its edge and points the edge's sync at this central, as
/// the original central did (`POST {edge}/api/config`, then `POST {edge}/api/edge/init-sync`).
async fn push_to_edge(state: &AppState, id: i64, cam: &Camera) -> Value {
    if cam.ip.is_empty() {
        return json!({ "camera_id": id, "success": false, "error": "no address configured for this camera" });
    }
    let (host, port) = crate::cameras::edge_addr(&cam.ip);
    let config = state.manager.config();
    let (me, scheme) = (config.this_central(), state.api_scheme());
    let steps = [
        (
            "/api/config",
            json!({ "camera": { "type": cam.camera_type, "name": cam.name } }),
        ),
        (
            "/api/edge/init-sync",
            json!({ "central_url": format!("{scheme}://{}", me.ip.with_port(me.api_port)), "camera_id": id }),
        ),
    ];
    for (path, body) in steps {
        match crate::client::call(Target::plain(&host, port), "POST", path, Some(&body)).await {
            Ok((status, _)) if status < 300 => {}
            Ok((status, answer)) => {
                return json!({ "camera_id": id, "success": false, "error": format!("edge answered {status} to {path}: {answer}") });
            }
            Err(e) => return json!({ "camera_id": id, "success": false, "error": e }),
        }
    }
    json!({ "camera_id": id, "success": true, "message": "configuration pushed and sync enabled" })
}

/// `POST /api/edge/sync-config` `{edge_cameras: {"<id>": {...}}}` from an edge: merges its
/// cameras by their real id (other cameras are left alone) and creates zones for PARKING_LOT.
async fn sync_config(state: AppState, body: bytes::Bytes) -> Result<JsonReply, ApiError> {
    let map = parse_object(&body)?;
    let cams = parse_cameras(req_obj(&map, "", "edge_cameras")?, "edge_cameras")?;
    store_cameras(&state, &cams).await?;
    Ok(ok(
        json!({ "success": true, "message": format!("{} camera(s) synced", cams.len()) }),
    ))
}

/// One car in a lot, as `GET /api/parking/occupancy` lists it (keys in the order `serde_json`'s
/// map writes them: the answer is written straight out, thousands of cars at a big site).
#[derive(serde::Serialize, Clone, Copy)]
struct LotCar<'a> {
    entry_time: &'a Option<String>,
    is_anomaly: bool,
    location_time: &'a Option<String>,
    plate_id: &'a str,
    plate_view: &'a str,
}

#[derive(serde::Serialize)]
struct LotCamera<'a> {
    id: Option<i64>,
    name: &'a str,
    r#type: &'static str,
}

#[derive(serde::Serialize)]
struct LotOccupancy<'a> {
    available: i64,
    occupied: i64,
    total_capacity: i64,
    vehicles: Vec<LotCar<'a>>,
}

#[derive(serde::Serialize)]
struct Lot<'a> {
    camera: LotCamera<'a>,
    occupancy: LotOccupancy<'a>,
}

#[derive(serde::Serialize)]
struct Occupancy<'a> {
    parking_lots: Vec<Lot<'a>>,
    success: bool,
}

/// `GET /api/parking/occupancy`: per in-lot zone, capacity and the open sessions last seen there
/// (newest entry first). Reads only the cars seen at a place, and nothing when no zone exists.
async fn occupancy(state: AppState) -> Result<JsonReply, ApiError> {
    let zones = state.storage().zones().await?;
    let located = if zones.is_empty() {
        Default::default()
    } else {
        state.storage().located().await?
    };
    let mut by_zone: HashMap<&str, Vec<LotCar<'_>>> = HashMap::new();
    for r in located.iter() {
        by_zone
            .entry(r.location.as_str())
            .or_default()
            .push(LotCar {
                entry_time: &r.entry_time,
                is_anomaly: r.is_anomaly,
                location_time: &r.location_time,
                plate_id: &r.plate_id,
                plate_view: &r.plate_view,
            });
    }
    let parking_lots = zones
        .iter()
        .map(|z| {
            // Two zones of one name share its cars (each lists them all).
            let vehicles: Vec<LotCar<'_>> = by_zone
                .get(z.location_name.as_str())
                .map(|cars| cars.to_vec())
                .unwrap_or_default();
            let occupied = vehicles.len() as i64;
            Lot {
                camera: LotCamera {
                    id: z.camera_id,
                    name: &z.location_name,
                    r#type: "PARKING_LOT",
                },
                occupancy: LotOccupancy {
                    available: (z.capacity - occupied).max(0),
                    occupied,
                    total_capacity: z.capacity,
                    vehicles,
                },
            }
        })
        .collect();
    Ok(ok_serialized(&Occupancy {
        parking_lots,
        success: true,
    }))
}
