//! `/ws/edge` as the seed's edge uses it: identify, get `connected`, ping/pong, send events and
//! get their stored results; a second edge receives the pushes (entries and exits with the
//! entry's event id).

mod common;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(port: u16, edge_id: i64) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws/edge"))
        .await
        .unwrap();
    ws.send(Message::text(json!({ "edge_id": edge_id }).to_string()))
        .await
        .unwrap();
    let hello = next_json(&mut ws).await;
    assert_eq!(hello["type"], "connected", "{hello}");
    ws
}

async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("a frame in time")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = msg {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}

async fn next_of_type(ws: &mut Ws, ty: &str) -> Value {
    loop {
        let v = next_json(ws).await;
        if v["type"] == ty {
            return v;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_socket_processes_events_and_pushes_to_sibling_edges() {
    let c = common::start("central-1", json!({}));
    let mut gate_in = connect(c.api_port, 1).await;
    let mut gate_out = connect(c.api_port, 2).await;

    gate_in
        .send(Message::text(r#"{"type":"ping"}"#))
        .await
        .unwrap();
    assert_eq!(next_json(&mut gate_in).await["type"], "pong");

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let entry = json!({"type": "ENTRY", "camera_id": 1, "camera_name": "In", "camera_type": "ENTRY", "timestamp": now,
                       "event_id": "edge-1_1_29A12345", "data": {"plate_text": "29A12345", "confidence": 0.9, "source": "auto"}});
    gate_in
        .send(Message::text(entry.to_string()))
        .await
        .unwrap();
    let result = next_of_type(&mut gate_in, "event_result").await;
    assert_eq!(result["result"]["success"], true, "{result}");
    assert_eq!(result["result"]["action"], "ENTRY");

    let push = next_of_type(&mut gate_out, "ENTRY").await;
    assert_eq!(push["event_id"], "edge-1_1_29A12345");
    assert_eq!(push["data"]["plate_text"], "29A12345");

    let exit = json!({"type": "EXIT", "camera_id": 2, "camera_name": "Out", "camera_type": "EXIT", "timestamp": now + 60.0,
                      "event_id": "edge-1_1_29A12345", "data": {"plate_text": "29A12345", "confidence": 0.9, "source": "auto"}});
    gate_out
        .send(Message::text(exit.to_string()))
        .await
        .unwrap();
    let result = next_of_type(&mut gate_out, "event_result").await;
    assert_eq!(result["result"]["action"], "EXIT", "{result}");
    let push = next_of_type(&mut gate_in, "EXIT").await;
    assert_eq!(
        push["event_id"], "edge-1_1_29A12345",
        "exits are pushed with the entry's id"
    );

    // An operator correction made in the edge's own UI names the entry by its event_id (its
    // history_id is the edge's own row number and is ignored).
    let update = json!({"type": "UPDATE", "camera_id": 2, "event_id": "edge-1_1_29A12345",
                        "data": {"history_id": 999, "plate_text": "29A12345", "plate_view": "29A-123.45"}});
    gate_out
        .send(Message::text(update.to_string()))
        .await
        .unwrap();
    let result = next_of_type(&mut gate_out, "event_result").await;
    assert_eq!(result["result"]["action"], "UPDATE", "{result}");
    let (_, h) = common::json(c.api_port, "GET", "/api/parking/history", None);
    assert_eq!(h["history"][0]["plate_view"], "29A-123.45");
    let (_, ch) = common::json(c.api_port, "GET", "/api/parking/history/changes", None);
    assert_eq!(ch["changes"][0]["changed_by"], "edge-2");

    // Garbage on the socket gets an error frame, and the socket keeps working.
    gate_in.send(Message::text("{nope")).await.unwrap();
    assert_eq!(next_of_type(&mut gate_in, "error").await["type"], "error");
    gate_in
        .send(Message::text(r#"{"type":"ping"}"#))
        .await
        .unwrap();
    assert_eq!(next_of_type(&mut gate_in, "pong").await["type"], "pong");

    let (_, h) = common::json(c.api_port, "GET", "/api/parking/history", None);
    assert_eq!(h["count"], 1);
    assert_eq!(h["history"][0]["status"], "OUT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_socket_without_edge_id_is_closed_with_1008() {
    let c = common::start("central-1", json!({}));
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/ws/edge", c.api_port))
            .await
            .unwrap();
    ws.send(Message::text(r#"{"hello": 1}"#)).await.unwrap();
    let msg = tokio::time::timeout(Duration::from_secs(30), ws.next())
        .await
        .unwrap();
    match msg {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1008),
        other => panic!("expected close 1008, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn camera_socket_sends_the_list_and_answers_ping() {
    let c = common::start("central-1", json!({}));
    let hb = json!({"camera_id": 4, "camera_name": "Gate D", "camera_type": "ENTRY"});
    assert_eq!(
        common::json(c.api_port, "POST", "/api/edge/heartbeat", Some(&hb)).0,
        200
    );
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/ws/cameras", c.api_port))
            .await
            .unwrap();
    let first = next_json(&mut ws).await;
    assert_eq!(first["type"], "cameras_update", "{first}");
    assert_eq!(first["data"]["total"], 1);
    assert_eq!(first["data"]["cameras"][0]["name"], "Gate D");
    ws.send(Message::text("ping")).await.unwrap();
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if msg.to_text().ok() == Some("pong") {
            break;
        }
    }
    // A new heartbeat pushes a fresh list.
    let hb = json!({"camera_id": 5, "camera_name": "Gate E", "camera_type": "EXIT"});
    assert_eq!(
        common::json(c.api_port, "POST", "/api/edge/heartbeat", Some(&hb)).0,
        200
    );
    let update = next_of_type(&mut ws, "cameras_update").await;
    assert_eq!(update["data"]["total"], 2);
}

/// A burst of entries at one gate reaches a sibling edge in full and in order: pushes queued
/// while the sibling's socket is busy go out together, and none is left buffered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_pushes_reaches_a_sibling_edge_in_order() {
    let c = common::start("central-1", json!({}));
    let mut gate_in = connect(c.api_port, 1).await;
    let mut watcher = connect(c.api_port, 2).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    const N: usize = 40;
    // All sent before any answer is read, so the writer and the pushes run behind the socket.
    for i in 0..N {
        let entry = json!({"type": "ENTRY", "camera_id": 1, "camera_name": "In", "camera_type": "ENTRY",
                           "timestamp": now, "event_id": format!("burst-{i}"),
                           "data": {"plate_text": format!("51K{i:05}"), "confidence": 0.9, "source": "auto"}});
        gate_in
            .send(Message::text(entry.to_string()))
            .await
            .unwrap();
    }
    for _ in 0..N {
        let result = next_of_type(&mut gate_in, "event_result").await;
        assert_eq!(result["result"]["success"], true, "{result}");
    }
    for i in 0..N {
        let push = next_of_type(&mut watcher, "ENTRY").await;
        assert_eq!(push["event_id"], format!("burst-{i}"), "{push}");
    }
}
