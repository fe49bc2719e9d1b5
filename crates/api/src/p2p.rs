//! `/api/p2p/*`: the seed's P2P management endpoints over the mesh manager, plus
//! `sync-state` per stream and `conflicts`.
//!
//! Membership calls between centrals (`register-peer`, `unregister-peer`) carry a proof of the
//! cluster secret: an HMAC over the caller's id, the target's id, a purpose tag and a timestamp
//! (accepted within five minutes), so no one without the secret can add or remove a peer.

use std::collections::HashMap;
use std::convert::Infallible;

use parkmesh_protocol::{AuthProof, CentralId, membership_proof, verify_membership_proof};
use serde_json::{Value, json};
use warp::Filter;
use warp::filters::BoxedFilter;

use crate::client::Target;
use crate::fields::{opt_i64, req_i64, req_str};
use crate::filters::{admin, body, with_state};
use crate::reply::{ApiError, JsonReply, finish, ok, parse_object};
use crate::state::AppState;

/// How far a membership proof's timestamp may be from this central's clock.
const PROOF_WINDOW_MS: i64 = 5 * 60 * 1000;

fn done(r: JsonReply) -> Result<JsonReply, Infallible> {
    Ok(r)
}

/// The `/api/p2p/*` routes.
pub(crate) fn routes(state: AppState) -> BoxedFilter<(Result<JsonReply, Infallible>,)> {
    let st = || with_state(state.clone());
    let p2p = warp::path("api").and(warp::path("p2p"));
    let get = |name: &'static str| {
        p2p.and(warp::path(name))
            .and(warp::path::end())
            .and(warp::get())
    };
    let post = |name: &'static str| {
        p2p.and(warp::path(name))
            .and(warp::path::end())
            .and(warp::post())
    };
    let query = || warp::query::<HashMap<String, String>>();

    let status = get("status").and(st()).map(|s: AppState| done(status(&s)));
    let get_config = get("config").and(st()).map(|s: AppState| {
        done(ok(
            json!({ "success": true, "config": s.manager.config().public_json() }),
        ))
    });
    let info = get("info").and(st()).map(|s: AppState| done(info(&s)));
    let conflicts = get("conflicts")
        .and(st())
        .then(|s| async move { finish(conflicts(s).await) });
    let sync_state = get("sync-state")
        .and(st())
        .map(|s: AppState| done(sync_state(&s)));
    let put_config = p2p
        .and(warp::path("config"))
        .and(warp::path::end())
        .and(warp::put())
        .and(admin(state.clone()))
        .and(st())
        .and(body())
        .then(|s, b| async move { finish(put_config(s, b).await) });
    let test = post("test-connection")
        .and(st())
        .and(query())
        .then(|s, q| async move { finish(test_connection(s, q).await) });
    let add = post("add-peer")
        .and(admin(state.clone()))
        .and(st())
        .and(body())
        .then(|s, b| async move { finish(add_peer(s, b).await) });
    let register = post("register-peer")
        .and(st())
        .and(body())
        .then(|s, b| async move { finish(register_peer(s, b).await) });
    let unregister = post("unregister-peer")
        .and(st())
        .and(query())
        .and(body())
        .then(|s, q, b| async move { finish(unregister_peer(s, q, b).await) });
    status
        .or(get_config)
        .unify()
        .or(info)
        .unify()
        .or(conflicts)
        .unify()
        .or(sync_state)
        .unify()
        .or(put_config)
        .unify()
        .or(test)
        .unify()
        .or(add)
        .unify()
        .or(register)
        .unify()
        .or(unregister)
        .unify()
        .boxed()
}

fn local_time(state: &AppState, ms: i64) -> String {
    parkmesh_parking::time::format_local(ms, &state.settings().tz)
}

/// `GET /api/p2p/status`: one entry per configured peer with real liveness.
fn status(state: &AppState) -> JsonReply {
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
                "last_ping_time": p.last_ping_ms.map(|ms| local_time(state, ms)),
                "rtt_ms": p.rtt_ms,
                "lag_events": p.lag_events,
                "catching_up": p.catching_up,
                "log_read_failures": p.read_failures,
                "log_read_error": p.read_error,
                "version": p.version,
                "resent_events": p.resent_events,
                "window_events": p.window_events,
            })
        })
        .collect();
    ok(json!({
        "success": true,
        "this_central": s.this_central,
        "version": parkmesh_protocol::build_info().announced(),
        "running": s.running,
        "standalone_mode": s.standalone,
        "total_peers": peers.len(),
        "connected_peers": s.peers.iter().filter(|p| p.connected).count(),
        "messages_sent": s.messages_sent,
        "messages_received": s.messages_received,
        "handshake_refusals": s
            .handshake_refusals
            .iter()
            .map(|(reason, n)| (reason.clone(), json!(n)))
            .collect::<serde_json::Map<String, Value>>(),
        "peers": peers,
    }))
}

/// `GET /api/p2p/info`: this central's identity (used by add-peer).
fn info(state: &AppState) -> JsonReply {
    let c = state.manager.config();
    let me = c.this_central();
    ok(
        json!({ "success": true, "info": { "id": me.id.to_string(), "ip": me.ip.to_string(), "api_port": me.api_port, "p2p_port": me.p2p_port } }),
    )
}

/// `GET /api/p2p/sync-state`: per peer, what it acknowledged of each stream and what it lacks.
fn sync_state(state: &AppState) -> JsonReply {
    let s = state.manager.status();
    let rows: Vec<Value> = s
        .peers
        .iter()
        .map(|p| {
            json!({
                "peer_central_id": p.peer_id,
                "connected": p.connected,
                "last_sync_timestamp": p.last_ping_ms,
                "last_sync_time": p.last_ping_ms.map(|ms| local_time(state, ms)),
                "updated_at": p.last_ping_ms.map(|ms| local_time(state, ms)),
                "acked": p.acked.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
                "lag": p.lag_by_stream.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
                "lag_events": p.lag_events,
            })
        })
        .collect();
    let local: serde_json::Map<String, Value> = s
        .local
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    ok(json!({ "success": true, "local_vector": local, "sync_state": rows }))
}

/// `GET /api/p2p/conflicts`: conflicts found by the fold, newest first.
async fn conflicts(state: AppState) -> Result<JsonReply, ApiError> {
    let rows = state.storage().conflicts().await?;
    let list: Vec<Value> = rows
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "plate_id": c.plate_key,
                "kind": c.kind,
                "winner": c.winner,
                "losers": c.losers,
                "at": local_time(&state, c.at_ms),
            })
        })
        .collect();
    Ok(ok(
        json!({ "success": true, "count": list.len(), "conflicts": list }),
    ))
}

/// Keys read once at start: a change is saved but takes effect at the next start. The listeners
/// are bound (`bind`, `this_central`'s ports) and the database opened (`data_dir`) at start, TLS
/// is set up at start, and the stored history texts are rendered in the `timezone` the database
/// was opened with. Every other key is read from the configuration in force on each request or
/// applied to the mesh at once.
const RESTART_KEYS: &[&str] = &["bind", "data_dir", "tls", "timezone", "mesh", "storage"];

/// Splits the changed keys into those applied now and those that need a restart.
fn split_changes(
    current: &parkmesh_config::Config,
    new: &parkmesh_config::Config,
) -> (Vec<&'static str>, Vec<&'static str>) {
    let (me, next) = (current.this_central(), new.this_central());
    let ports_changed = (me.api_port, me.p2p_port) != (next.api_port, next.p2p_port);
    current
        .changed_keys(new)
        .into_iter()
        .partition(|key| !(RESTART_KEYS.contains(key) || (*key == "this_central" && ports_changed)))
}

/// `PUT /api/p2p/config` (admin): validates the body against the configuration in force (keys
/// not in the body are kept), saves it atomically and applies it; peers that were removed
/// are told to forget this central. The answer lists the changed keys that are in force now
/// (`applied`) and those that take effect at the next start (`restart_required`). A bad body
/// gets a 400 naming the field and leaves the file untouched.
async fn put_config(state: AppState, body: bytes::Bytes) -> Result<JsonReply, ApiError> {
    let map = parse_object(&body)?;
    let mut warnings = Vec::new();
    for (key, env) in [
        ("admin_token", parkmesh_config::ENV_ADMIN_TOKEN),
        ("cluster_secret", parkmesh_config::ENV_CLUSTER_SECRET),
    ] {
        if map.contains_key(key) && parkmesh_config::process_env(env).is_some() {
            warnings.push(format!(
                "{key} was saved to the file, but {env} is set and overrides it"
            ));
        }
    }
    if !map
        .keys()
        .any(|k| parkmesh_config::TOP_KEYS.contains(&k.as_str()))
    {
        return Err(ApiError::BadRequest(format!(
            "the body has no configuration keys; expected some of: {}",
            parkmesh_config::TOP_KEYS.join(", ")
        )));
    }
    let current = state.manager.config();
    let loaded = current
        .apply_update(&Value::Object(map), parkmesh_config::process_env)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    warnings.extend(loaded.warnings.iter().map(ToString::to_string));
    let new = loaded.config;
    let (applied, restart_required) = split_changes(&current, &new);
    let removed: Vec<_> = current
        .peer_centrals()
        .iter()
        .filter(|p| new.peer(&p.id).is_none())
        .cloned()
        .collect();
    let added: Vec<_> = new
        .peer_centrals()
        .iter()
        .filter(|p| current.peer(&p.id).is_none())
        .cloned()
        .collect();
    state
        .manager
        .update_config(new)
        .await
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let mut results = Vec::new();
    for p in &added {
        let r = membership_call(&state, p, "register-peer").await;
        results.push(json!({ "peer_id": p.id.to_string(), "success": r.is_ok(), "message": r.unwrap_or_else(|e| e) }));
    }
    for p in &removed {
        let r = membership_call(&state, p, "unregister-peer").await;
        results.push(json!({ "peer_id": p.id.to_string(), "success": r.is_ok(), "message": r.unwrap_or_else(|e| e), "removed": true }));
    }
    let message = if restart_required.is_empty() {
        "Configuration saved and applied".to_owned()
    } else {
        format!(
            "Configuration saved; applied except {}, which take effect at the next start",
            restart_required.join(", ")
        )
    };
    Ok(ok(json!({
        "success": true,
        "message": message,
        "applied": applied,
        "restart_required": restart_required,
        "registration_results": results,
        "warnings": warnings,
    })))
}

/// `POST /api/p2p/test-connection?peer_id=X`: a real round trip (WebSocket ping) to the peer.
async fn test_connection(
    state: AppState,
    q: HashMap<String, String>,
) -> Result<JsonReply, ApiError> {
    let peer = q
        .get("peer_id")
        .ok_or_else(|| ApiError::BadRequest("missing query parameter peer_id".into()))?;
    match state.manager.test_connection(peer).await {
        Ok(rtt) => Ok(ok(json!({
            "success": true,
            "message": format!("Peer {peer} answered in {:.2} ms", rtt.as_secs_f64() * 1000.0),
            "rtt_ms": rtt.as_secs_f64() * 1000.0,
        }))),
        Err(parkmesh_manager::ManagerError::UnknownPeer(p)) => {
            Err(ApiError::NotFound(format!("unknown peer {p:?}")))
        }
        Err(e) => Err(ApiError::BadRequest(e.to_string())),
    }
}

/// Checks a membership call's proof; the caller must know the cluster secret.
fn verify_membership(
    state: &AppState,
    map: &serde_json::Map<String, Value>,
    caller: &CentralId,
    purpose: &str,
) -> Result<(), ApiError> {
    let config = state.manager.config();
    let Some(secret) = config.cluster_secret() else {
        return Err(ApiError::Forbidden(
            "this central has no cluster_secret, so peers cannot register or unregister".into(),
        ));
    };
    let ts = req_i64(map, "", "ts")?;
    if ts.saturating_sub(parkmesh_clock::now_ms()).saturating_abs() > PROOF_WINDOW_MS {
        return Err(ApiError::Forbidden(
            "proof timestamp too far from this central's clock".into(),
        ));
    }
    let proof: AuthProof = serde_json::from_value(map.get("proof").cloned().unwrap_or(Value::Null))
        .map_err(|_| {
            ApiError::Unauthorized(
                "missing or malformed proof: 64 hex digits of HMAC with the cluster secret".into(),
            )
        })?;
    if verify_membership_proof(
        secret.as_bytes(),
        caller,
        &config.this_central().id,
        purpose,
        ts,
        &proof,
    ) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "wrong proof: the caller does not know this cluster's secret".into(),
        ))
    }
}

/// Calls a peer's `register-peer` or `unregister-peer` with this central's identity and proof.
async fn membership_call(
    state: &AppState,
    peer: &parkmesh_config::Central,
    purpose: &str,
) -> Result<String, String> {
    let config = state.manager.config();
    let secret = config
        .cluster_secret()
        .ok_or("no cluster_secret configured")?;
    let me = config.this_central();
    let ts = parkmesh_clock::now_ms();
    let proof = membership_proof(secret.as_bytes(), &me.id, &peer.id, purpose, ts);
    let body = json!({
        "id": me.id.to_string(), "ip": me.ip.to_string(), "api_port": me.api_port, "p2p_port": me.p2p_port,
        "ts": ts, "proof": proof,
    });
    let path = if purpose == "unregister-peer" {
        format!("/api/p2p/unregister-peer?peer_id={}", me.id)
    } else {
        "/api/p2p/register-peer".to_owned()
    };
    let host = peer.ip.to_string();
    let target = Target {
        host: &host,
        port: peer.api_port,
        tls: state.tls_client(),
    };
    let (status, answer) = crate::client::call(target, "POST", &path, Some(&body)).await?;
    if status == 200 {
        Ok(answer["message"].as_str().unwrap_or("ok").to_owned())
    } else {
        Err(format!(
            "peer answered {status}: {}",
            answer["error"].as_str().unwrap_or("")
        ))
    }
}

fn peer_json(p: &parkmesh_config::Central) -> Value {
    json!({ "id": p.id.to_string(), "ip": p.ip.to_string(), "p2p_port": p.p2p_port, "api_port": p.api_port })
}

/// Replaces the peer list (validated against the configuration in force), saves it and applies
/// it live.
async fn set_peers(
    state: &AppState,
    peers: Vec<Value>,
) -> Result<parkmesh_config::Config, ApiError> {
    let new = state
        .manager
        .config()
        .apply_update(
            &json!({ "peer_centrals": peers }),
            parkmesh_config::process_env,
        )
        .map_err(|e| ApiError::BadRequest(e.to_string()))?
        .config;
    state
        .manager
        .update_config(new.clone())
        .await
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(new)
}

/// `POST /api/p2p/register-peer` (cluster-secret proof): adds or updates the caller as a peer.
async fn register_peer(state: AppState, body: bytes::Bytes) -> Result<JsonReply, ApiError> {
    let map = parse_object(&body)?;
    let id = CentralId::new(req_str(&map, "", "id")?)
        .map_err(|e| ApiError::BadRequest(format!("id: {e}")))?;
    verify_membership(&state, &map, &id, "register-peer")?;
    let ip = req_str(&map, "", "ip")?;
    let api_port = opt_i64(&map, "", "api_port")?.unwrap_or(8000);
    let p2p_port = opt_i64(&map, "", "p2p_port")?.unwrap_or(9000);
    let current = state.manager.config();
    let existed = current.peer(&id).is_some();
    let mut peers: Vec<Value> = current
        .peer_centrals()
        .iter()
        .filter(|p| p.id != id)
        .map(peer_json)
        .collect();
    peers.push(
        json!({ "id": id.to_string(), "ip": ip, "p2p_port": p2p_port, "api_port": api_port }),
    );
    set_peers(&state, peers).await?;
    let action = if existed { "updated" } else { "added" };
    tracing::info!(peer = %id, action, "peer registered itself");
    Ok(ok(
        json!({ "success": true, "message": format!("Peer {id} {action}"), "action": action }),
    ))
}

/// `POST /api/p2p/unregister-peer?peer_id=X` (cluster-secret proof by X): removes the peer.
async fn unregister_peer(
    state: AppState,
    q: HashMap<String, String>,
    body: bytes::Bytes,
) -> Result<JsonReply, ApiError> {
    let peer = q
        .get("peer_id")
        .ok_or_else(|| ApiError::BadRequest("missing query parameter peer_id".into()))?;
    let id =
        CentralId::new(peer.as_str()).map_err(|e| ApiError::BadRequest(format!("peer_id: {e}")))?;
    let map = parse_object(&body)?;
    verify_membership(&state, &map, &id, "unregister-peer")?;
    let current = state.manager.config();
    if current.peer(&id).is_none() {
        return Err(ApiError::NotFound(format!("unknown peer {peer:?}")));
    }
    let peers: Vec<Value> = current
        .peer_centrals()
        .iter()
        .filter(|p| p.id != id)
        .map(peer_json)
        .collect();
    set_peers(&state, peers).await?;
    Ok(ok(
        json!({ "success": true, "message": format!("Peer {id} removed") }),
    ))
}

/// `POST /api/p2p/add-peer {ip, api_port}` (admin): asks the peer who it is, adds it live, and
/// registers this central with it (both sides then dial or accept).
async fn add_peer(state: AppState, body: bytes::Bytes) -> Result<JsonReply, ApiError> {
    let map = parse_object(&body)?;
    let ip = req_str(&map, "", "ip")?;
    let api_port = u16::try_from(opt_i64(&map, "", "api_port")?.unwrap_or(8000))
        .map_err(|_| ApiError::BadRequest("field api_port must be a port number".into()))?;
    let target = Target {
        host: &ip,
        port: api_port,
        tls: state.tls_client(),
    };
    let (status, answer) = crate::client::call(target, "GET", "/api/p2p/info", None)
        .await
        .map_err(|e| ApiError::BadRequest(format!("cannot reach the peer: {e}")))?;
    if status != 200 || answer["success"] != true {
        return Err(ApiError::BadRequest(format!(
            "peer at {ip}:{api_port} answered {status} to /api/p2p/info"
        )));
    }
    let info = &answer["info"];
    let id = info["id"]
        .as_str()
        .ok_or_else(|| ApiError::BadRequest("peer's info has no id".into()))?
        .to_owned();
    let p2p_port = info["p2p_port"].as_i64().unwrap_or(9000);
    let current = state.manager.config();
    if current.peer_centrals().iter().any(|p| p.id.as_str() == id) {
        return Err(ApiError::BadRequest(format!("Peer '{id}' already exists")));
    }
    let mut peers: Vec<Value> = current.peer_centrals().iter().map(peer_json).collect();
    peers.push(json!({ "id": id, "ip": ip, "p2p_port": p2p_port, "api_port": api_port }));
    let new = set_peers(&state, peers).await?;
    let registered = match new.peer_centrals().iter().find(|p| p.id.as_str() == id) {
        Some(p) => membership_call(&state, p, "register-peer").await,
        None => Err("peer missing after save".to_owned()),
    };
    Ok(ok(json!({
        "success": true,
        "message": format!("Peer {id} added"),
        "peer": { "id": id, "ip": ip },
        "registration_success": registered.is_ok(),
        "registration_message": registered.unwrap_or_else(|e| e),
    })))
}
