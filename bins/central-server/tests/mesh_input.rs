//! Bad input on the mesh port: garbage, binary and oversize frames, strangers, wrong proofs and
//! a flood of half-open connections. Each gets a close with a reason; the central stays up and
//! accepts no event from anyone who did not prove the cluster secret.

mod common;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use parkmesh_protocol::{AuthProof, CentralId, Frame, Hello, Nonce, PROTO_MAX, PROTO_MIN};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use common::SECRET;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects, retrying for a while: after a flood the listener sheds connections until the
/// half-open ones time out.
async fn connect(port: u16) -> Ws {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/p2p/v2")).await {
            Ok((ws, _)) => return ws,
            Err(e) if tokio::time::Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("mesh port unreachable: {e}"),
        }
    }
}

/// Reads until the socket ends; returns the text frames seen (the peer's `Close` frame among
/// them, when it sent one).
async fn until_closed(ws: &mut Ws) -> Vec<String> {
    let mut texts = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("the central closes bad connections")
        {
            Some(Ok(Message::Text(t))) => texts.push(t.as_str().to_owned()),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return texts,
            Some(Ok(_)) => {}
        }
    }
}

fn hello(id: &str) -> String {
    Frame::Hello(Hello {
        node_id: CentralId::new(id).unwrap(),
        incarnation: 1,
        proto_min: PROTO_MIN,
        proto_max: PROTO_MAX,
        caps: Vec::new(),
        nonce: Nonce([7; 16]),
        version: None,
    })
    .encode()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mesh_port_refuses_bad_input_and_strangers() {
    let m = common::plan(&["central-a", "central-b"]);
    let a = common::start_member(&m, 0, &[1], SECRET, json!({}));
    let port = a.p2p_port;

    // Garbage text, binary, oversize.
    for msg in [
        Message::text("{not a frame"),
        Message::text(r#"{"v":2,"type":"teleport","to":"mars"}"#),
        Message::text(r#"{"v":99,"type":"hello","central_id":"central-b"}"#),
        Message::text(r#"{"v":2,"type":"live","events":[{"id":"central-b:1:1"}]}"#),
        Message::binary(vec![0u8, 159, 146, 150]),
        Message::text("x".repeat(5 << 20)),
    ] {
        let mut ws = connect(port).await;
        let _ = ws.send(msg).await;
        until_closed(&mut ws).await;
    }
    // A stranger: an id that is not configured.
    let mut ws = connect(port).await;
    ws.send(Message::text(hello("central-x"))).await.unwrap();
    let texts = until_closed(&mut ws).await;
    assert!(
        texts.iter().any(|t| t.contains("unknown_peer")),
        "{texts:?}"
    );
    // A configured id without the secret: a wrong proof.
    let mut ws = connect(port).await;
    ws.send(Message::text(hello("central-b"))).await.unwrap();
    ws.send(Message::text(
        Frame::Auth {
            proof: AuthProof([9; 32]),
        }
        .encode(),
    ))
    .await
    .unwrap();
    // Then try to push an event anyway.
    let _ = ws
        .send(Message::text(r#"{"v":2,"type":"live","events":[]}"#))
        .await;
    let texts = until_closed(&mut ws).await;
    assert!(texts.iter().any(|t| t.contains("bad_auth")), "{texts:?}");
    // A flood of connections that never finish a handshake.
    let mut idle = Vec::new();
    for _ in 0..200 {
        if let Ok(s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            idle.push(s);
        }
    }
    // The central still serves its API during the flood, and its mesh once the flood ends.
    let (status, _) = common::json(a.api_port, "GET", "/api/p2p/status", None);
    assert_eq!(status, 200);
    drop(idle);
    let mut ws = connect(port).await;
    ws.send(Message::text(hello("central-x"))).await.unwrap();
    until_closed(&mut ws).await;
    let (_, h) = common::json(a.api_port, "GET", "/api/parking/history", None);
    assert_eq!(
        h["count"], 0,
        "nothing was accepted from unauthenticated connections"
    );
    assert_eq!(common::panics(&a), Vec::<String>::new(), "no task panicked");
}
