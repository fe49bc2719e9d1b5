//! `/api/p2p/*`: the seed's P2P management endpoints over the mesh manager (§2.5).

use serde_json::{Value, json};

use crate::AppState;
use crate::reply::{ApiError, JsonReply, ok, parse_object};

/// `GET /api/p2p/status`: one entry per configured peer with real liveness.
pub(crate) fn status(state: &AppState) -> JsonReply {
    let s = state.manager.status();
    let peers: Vec<Value> = s
        .peers
        .iter()
        .map(|p| {
            json!({
                "peer_id": p.peer_id,
                "peer_ip": p.peer_ip,
                "peer_port": p.peer_port,
                "connected": p.connected,
                "status": p.status,
                "last_ping_time": p.last_ping_ms.map(|ms| parkmesh_parking::time::format_local(ms, &state.settings.tz)),
                "rtt_ms": p.rtt_ms,
                "lag_events": p.lag_events,
            })
        })
        .collect();
    ok(json!({
        "success": true,
        "this_central": s.this_central,
        "running": s.running,
        "standalone_mode": s.standalone,
        "total_peers": peers.len(),
        "connected_peers": s.peers.iter().filter(|p| p.connected).count(),
        "messages_sent": s.messages_sent,
        "messages_received": s.messages_received,
        "peers": peers,
    }))
}

/// `GET /api/p2p/config`: the configuration in the seed's shape, without secrets.
pub(crate) fn get_config(state: &AppState) -> JsonReply {
    ok(json!({ "success": true, "config": state.manager.config().public_json() }))
}

/// `GET /api/p2p/info`: this central's identity (used by add-peer).
pub(crate) fn info(state: &AppState) -> JsonReply {
    let c = state.manager.config();
    ok(json!({
        "success": true,
        "info": {
            "id": c.this_central().id.to_string(),
            "ip": c.this_central().ip.to_string(),
            "api_port": c.this_central().api_port,
            "p2p_port": c.this_central().p2p_port,
        }
    }))
}

/// `PUT /api/p2p/config` (admin): validates the body as a whole configuration (secrets and
/// settings not in the body are kept), saves it atomically and applies it live. A bad body gets
/// a 400 naming the field and leaves the file untouched.
pub(crate) async fn put_config(state: AppState, body: bytes::Bytes) -> Result<JsonReply, ApiError> {
    let map = parse_object(&body)?;
    let current = state.manager.config();
    let new = current
        .apply_update(&Value::Object(map), parkmesh_config::process_env)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?
        .config;
    state
        .manager
        .update_config(new)
        .await
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(ok(json!({
        "success": true,
        "message": "Configuration saved and applied",
        "registration_results": [],
    })))
}
