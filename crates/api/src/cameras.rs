//! Edge cameras as the frontend sees them: the list behind
//! `/api/cameras`, `/api/status` and `/ws/cameras`, composed from heartbeats and the stored camera
//! configuration, and the WebRTC offer proxy to an edge.
//!
//! A configured camera (with an address) gets the seed's `stream_proxy` and `control_proxy`
//! descriptors, including the edge's barrier URLs that the original central left out; a camera
//! known only from configuration is listed offline with `config_only`.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;

use serde_json::{Map, Value, json};
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;

use crate::client::Target;
use crate::filters::{body, with_state};
use crate::reply::{ApiError, JsonReply, finish, json_reply, parse_object};
use crate::state::AppState;

/// A camera with no heartbeat for this long is offline (seed: 60 s).
pub(crate) const CAMERA_TIMEOUT_MS: i64 = 60_000;

/// Port of the edge's own HTTP API (seed edges listen on 5000).
const EDGE_PORT: u16 = 5000;

/// Host and port of an edge's API from a configured address: `host` (port 5000, as the seed's
/// edges) or `host:port`.
pub(crate) fn edge_addr(ip: &str) -> (String, u16) {
    match ip.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(p) => (host.to_owned(), p),
            Err(_) => (ip.to_owned(), EDGE_PORT),
        },
        _ => (
            ip.trim_start_matches('[').trim_end_matches(']').to_owned(),
            EDGE_PORT,
        ),
    }
}

/// The camera list object (`total`, `online`, `offline`, `cameras`).
pub(crate) async fn list(state: &AppState) -> Result<Value, ApiError> {
    let rows = state.storage().cameras().await?;
    let configured = configured(state).await?;
    let now = parkmesh_clock::now_ms();
    let tz = state.settings().tz;
    let local = |ms: i64| parkmesh_parking::time::format_local(ms, &tz);
    let mut cams: BTreeMap<i64, Value> = BTreeMap::new();
    for c in &rows {
        let online = c
            .last_heartbeat_ms
            .is_some_and(|t| now - t <= CAMERA_TIMEOUT_MS);
        let mut v = json!({
            "id": c.id, "name": c.name, "type": c.camera_type,
            "status": if online { "online" } else { "offline" },
            "last_heartbeat": c.last_heartbeat_ms.map(local),
            "events_sent": c.events_sent, "events_failed": c.events_failed,
            "created_at": local(c.created_at_ms), "updated_at": local(c.updated_at_ms),
        });
        decorate(&mut v, configured.get(&c.id));
        cams.insert(c.id, v);
    }
    for (id, cfg) in &configured {
        cams.entry(*id).or_insert_with(|| {
            let mut v = json!({
                "id": id, "name": cfg["name"], "type": cfg["camera_type"], "status": "offline",
                "last_heartbeat": null, "events_sent": 0, "events_failed": 0, "config_only": true, "location": null,
            });
            decorate(&mut v, Some(cfg));
            v
        });
    }
    let cameras: Vec<Value> = cams.into_values().collect();
    let online = cameras.iter().filter(|c| c["status"] == "online").count();
    Ok(
        json!({ "total": cameras.len(), "online": online, "offline": cameras.len() - online, "cameras": cameras }),
    )
}

/// Camera configurations by id (from `POST /api/config` and `POST /api/edge/sync-config`).
async fn configured(state: &AppState) -> Result<BTreeMap<i64, Value>, ApiError> {
    let stored: Map<String, Value> = state
        .storage()
        .setting("edge_cameras")
        .await?
        .and_then(|(v, _)| v.get("cameras").and_then(Value::as_object).cloned())
        .unwrap_or_default();
    Ok(stored
        .into_iter()
        .filter_map(|(k, v)| k.parse().ok().map(|id| (id, v)))
        .collect())
}

fn decorate(v: &mut Value, cfg: Option<&Value>) {
    let ip = cfg
        .and_then(|c| c["ip"].as_str())
        .filter(|ip| !ip.is_empty());
    match (cfg, ip) {
        (Some(cfg), Some(ip)) => {
            let (host, port) = edge_addr(ip);
            let base = format!("http://{host}:{port}");
            v["name"] = cfg["name"].clone();
            v["type"] = cfg["camera_type"].clone();
            v["stream_proxy"] =
                json!({ "available": true, "default_mode": "raw", "supports_annotated": true });
            v["control_proxy"] = json!({
                "available": true, "base_url": base, "info_url": format!("{base}/api/camera/info"),
                "ws_url": format!("ws://{host}:{port}/ws/detections"),
                "open_barrier_url": format!("{base}/api/open-barrier"), "barrier_status_url": format!("{base}/api/barrier/status"),
            });
        }
        (cfg, _) => {
            let reason = if cfg.is_some() {
                "camera has no address configured"
            } else {
                "camera is not configured on this central"
            };
            v["stream_proxy"] = json!({ "available": false, "reason": reason });
            v["control_proxy"] = json!({ "available": false, "reason": reason });
            if cfg.is_none() {
                v["config_missing"] = json!(true);
            }
        }
    }
}

/// The offer-proxy routes: `POST /api/cameras/{id}/offer[?annotated=bool]` and
/// `POST /api/cameras/{id}/offer-annotated`.
pub(crate) fn routes(state: AppState) -> BoxedFilter<(Result<JsonReply, Infallible>,)> {
    let st = || with_state(state.clone());
    let plain = warp::path!("api" / "cameras" / i64 / "offer")
        .and(warp::post())
        .and(st())
        .and(warp::query::<HashMap<String, String>>())
        .and(body())
        .then(|id, s, q: HashMap<String, String>, b| async move {
            let annotated = q.get("annotated").is_some_and(|v| v == "true" || v == "1");
            finish(offer(s, id, annotated, b).await)
        });
    let annotated = warp::path!("api" / "cameras" / i64 / "offer-annotated")
        .and(warp::post())
        .and(st())
        .and(body())
        .then(|id, s, b| async move { finish(offer(s, id, true, b).await) });
    plain.or(annotated).unify().boxed()
}

/// `GET /api/stream/{raw|annotated}?camera_id=N`: the edge's MJPEG stream, relayed chunk by
/// chunk with the edge's status and content type (`multipart/x-mixed-replace`), as the original
/// central did. Seed errors: 404 for an unknown mode or camera; 502 when the edge cannot be
/// reached or does not answer within 30 s.
pub(crate) fn stream_route(state: AppState) -> BoxedFilter<(warp::reply::Response,)> {
    warp::path!("api" / "stream" / String)
        .and(warp::get())
        .and(with_state(state))
        .and(warp::query::<HashMap<String, String>>())
        .then(
            |mode: String, s: AppState, q: HashMap<String, String>| async move {
                use warp::Reply;
                match stream(&s, &mode, &q).await {
                    Ok(r) => r,
                    Err(e) => e.reply().into_response(),
                }
            },
        )
        .boxed()
}

async fn stream(
    state: &AppState,
    mode: &str,
    q: &HashMap<String, String>,
) -> Result<warp::reply::Response, ApiError> {
    use warp::Reply;
    if mode != "raw" && mode != "annotated" {
        return Err(ApiError::NotFound(format!(
            "no stream mode {mode:?}; use raw or annotated"
        )));
    }
    let id: i64 = q
        .get("camera_id")
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| {
            ApiError::BadRequest("query parameter camera_id must be a camera id".into())
        })?;
    let cfg = configured(state).await?;
    let ip = cfg
        .get(&id)
        .and_then(|c| c["ip"].as_str())
        .filter(|ip| !ip.is_empty())
        .ok_or_else(|| ApiError::NotFound("edge_camera_not_configured".into()))?;
    let (host, port) = edge_addr(ip);
    let path = format!("/api/stream/{mode}");
    let relay = match crate::client::relay(Target::plain(&host, port), &path).await {
        Ok(r) => r,
        Err(message) => {
            return Ok(json_reply(
                StatusCode::BAD_GATEWAY,
                &json!({ "success": false, "error": "edge_unreachable", "message": message,
                         "endpoint": format!("http://{host}:{port}{path}") }),
            )
            .into_response());
        }
    };
    let mut response = warp::reply::stream(relay.chunks).into_response();
    *response.status_mut() = StatusCode::from_u16(relay.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let headers = response.headers_mut();
    if let Some(ct) = relay
        .content_type
        .and_then(|ct| warp::http::HeaderValue::from_str(&ct).ok())
    {
        headers.insert("content-type", ct);
    }
    headers.insert(
        "cache-control",
        warp::http::HeaderValue::from_static("no-cache, no-store"),
    );
    Ok(response)
}

/// Forwards a WebRTC offer to the edge and relays its answer (seed error codes: 404 when the
/// camera is not configured, 502 when the edge cannot be reached or answers nonsense).
async fn offer(
    state: AppState,
    id: i64,
    annotated: bool,
    body: bytes::Bytes,
) -> Result<JsonReply, ApiError> {
    let sdp = parse_object(&body)?;
    let cfg = configured(&state).await?;
    let Some(ip) = cfg
        .get(&id)
        .and_then(|c| c["ip"].as_str())
        .filter(|ip| !ip.is_empty())
        .map(str::to_owned)
    else {
        return Ok(json_reply(
            StatusCode::NOT_FOUND,
            &json!({ "success": false, "error": "edge_camera_not_configured" }),
        ));
    };
    let path = if annotated {
        "/offer-annotated"
    } else {
        "/offer"
    };
    let (host, port) = edge_addr(&ip);
    let endpoint = format!("http://{host}:{port}{path}");
    match crate::client::call(
        Target::plain(&host, port),
        "POST",
        path,
        Some(&Value::Object(sdp)),
    )
    .await
    {
        Ok((status, answer)) if status < 400 => Ok(json_reply(StatusCode::OK, &answer)),
        Ok((status, answer)) => Ok(json_reply(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
            &answer,
        )),
        Err(message) => Ok(json_reply(
            StatusCode::BAD_GATEWAY,
            &json!({ "success": false, "error": "edge_unreachable", "message": message, "endpoint": endpoint }),
        )),
    }
}
