//! WebSocket endpoints: `/ws/history`, `/ws/cameras` and `/ws/edge`, with the original system's frames.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::broadcast;
use warp::ws::{Message, WebSocket};

use crate::state::AppState;

/// Largest frame accepted from a WebSocket client.
pub(crate) const MAX_WS_FRAME: usize = 256 * 1024;

/// Seconds of client silence after which `/ws/cameras` sends the text `ping` (seed behaviour).
const CAMERAS_KEEPALIVE: Duration = Duration::from_secs(30);

/// `/ws/history`: pushes `{"type":"history_update","data":{...}}` on every session change;
/// anything the client sends is ignored.
pub(crate) async fn history(socket: WebSocket, state: AppState) {
    let _client = state.metrics.ws_client("history");
    let (mut tx, mut rx) = socket.split();
    let mut updates = state.hubs.history.subscribe();
    loop {
        tokio::select! {
            msg = rx.next() => match msg {
                Some(Ok(m)) if m.is_close() => break,
                Some(Ok(_)) => {}
                _ => break,
            },
            upd = updates.recv() => match upd {
                Ok(text) => {
                    if tx.send(Message::text(text.to_string())).await.is_err() {
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::debug!(skipped = n, "history socket lagged");
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
        }
    }
}

async fn cameras_frame(state: &AppState) -> Option<String> {
    let data = crate::cameras::list(state).await.ok()?;
    Some(json!({ "type": "cameras_update", "data": data }).to_string())
}

/// `/ws/cameras`: the camera list on connect and on every change; text `ping` → `pong`; the
/// server sends `ping` after 30 s of client silence.
pub(crate) async fn cameras(socket: WebSocket, state: AppState) {
    let _client = state.metrics.ws_client("cameras");
    let (mut tx, mut rx) = socket.split();
    let mut changes = state.hubs.cameras.subscribe();
    if let Some(frame) = cameras_frame(&state).await
        && tx.send(Message::text(frame)).await.is_err()
    {
        return;
    }
    loop {
        tokio::select! {
            msg = tokio::time::timeout(CAMERAS_KEEPALIVE, rx.next()) => match msg {
                Err(_) => {
                    if tx.send(Message::text("ping")).await.is_err() {
                        break;
                    }
                }
                Ok(Some(Ok(m))) if m.is_close() => break,
                Ok(Some(Ok(m))) => {
                    if m.to_str() == Ok("ping") && tx.send(Message::text("pong")).await.is_err() {
                        break;
                    }
                }
                Ok(_) => break,
            },
            ch = changes.recv() => match ch {
                Ok(()) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    if let Some(frame) = cameras_frame(&state).await
                        && tx.send(Message::text(frame)).await.is_err()
                    {
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
        }
    }
}

/// `/ws/edge`: the first frame must be `{"edge_id": N}` (else close 1008); reply `connected`;
/// `{"type":"ping"}` → `{"type":"pong"}`; events are processed like `POST /api/edge/event` and
/// answered with an `event_result` frame; pushes from the central flow the other way.
pub(crate) async fn edge(socket: WebSocket, state: AppState) {
    let _client = state.metrics.ws_client("edge");
    let (mut tx, mut rx) = socket.split();
    let first = tokio::time::timeout(Duration::from_secs(30), rx.next()).await;
    let edge_id = match first {
        Ok(Some(Ok(m))) => m
            .to_str()
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(t).ok())
            .and_then(|v| match v.get("edge_id") {
                Some(Value::Number(n)) => Some(n.to_string()),
                Some(Value::String(s)) if !s.is_empty() && s.len() <= 64 => Some(s.clone()),
                _ => None,
            }),
        _ => None,
    };
    let Some(edge_id) = edge_id else {
        let _ = tx
            .send(Message::close_with(1008u16, "No edge_id provided"))
            .await;
        return;
    };
    let (generation, mut pushes) = state.hubs.register_edge(&edge_id);
    tracing::info!(edge_id = %edge_id, "edge connected");
    let hello = json!({ "type": "connected", "message": format!("Edge '{edge_id}' registered successfully") });
    if tx.send(Message::text(hello.to_string())).await.is_ok() {
        loop {
            tokio::select! {
                msg = rx.next() => {
                    let Some(Ok(m)) = msg else { break };
                    if m.is_close() {
                        break;
                    }
                    let Ok(text) = m.to_str() else { continue };
                    let reply = edge_frame(&state, &edge_id, text).await;
                    if let Some(reply) = reply
                        && tx.send(Message::text(reply.to_string())).await.is_err()
                    {
                        break;
                    }
                }
                push = pushes.recv() => {
                    let Some(push) = push else { break };
                    // Every push already queued goes out with this one, in one write: with
                    // many edges connected, each entry is pushed to all of them.
                    let mut sent = tx.feed(Message::text(push)).await;
                    while sent.is_ok()
                        && let Ok(more) = pushes.try_recv()
                    {
                        sent = tx.feed(Message::text(more)).await;
                    }
                    if sent.is_err() || tx.flush().await.is_err() {
                        break;
                    }
                }
            }
        }
    }
    state.hubs.unregister_edge(&edge_id, generation);
    tracing::info!(edge_id = %edge_id, "edge disconnected");
}

/// Handles one text frame from an edge; returns the frame to answer with, if any.
async fn edge_frame(state: &AppState, edge_id: &str, text: &str) -> Option<Value> {
    let map = match crate::reply::parse_object(text.as_bytes()) {
        Ok(m) => m,
        Err(e) => return Some(json!({ "type": "error", "error": e.to_string() })),
    };
    match map.get("type").and_then(Value::as_str) {
        Some("ping") => Some(json!({ "type": "pong" })),
        Some("pong") => None,
        _ => {
            let event_id = map.get("event_id").cloned().unwrap_or(Value::Null);
            let result = match crate::edge::process(state, &map).await {
                Ok(answer) => answer,
                Err(e) => {
                    tracing::warn!(edge_id = %edge_id, error = %e, "edge event refused");
                    e.body()
                }
            };
            Some(json!({ "type": "event_result", "event_id": event_id, "result": result }))
        }
    }
}
