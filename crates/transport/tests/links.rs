//! Two real sockets on loopback: frames both ways, a round-trip probe, the size limit, the path
//! check, and close reasons.

use std::time::Duration;

use parkmesh_transport::{LinkCmd, LinkConfig, LinkEvent, dial, listen, spawn_link};
use tokio::sync::{mpsc, oneshot};

async fn next(rx: &mut mpsc::Receiver<LinkEvent>) -> LinkEvent {
    tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("event in time")
        .expect("channel open")
}

#[tokio::test]
async fn frames_probe_limit_and_close() {
    let cfg = LinkConfig {
        max_frame: 1024,
        ..LinkConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (acc_tx, mut acc_rx) = mpsc::channel(4);
    listen(listener, cfg.clone(), acc_tx);

    let (ev_tx, mut ev_rx) = mpsc::channel(64);
    let client = spawn_link(
        dial(&addr, &cfg).await.unwrap(),
        1,
        addr.clone(),
        ev_tx.clone(),
        &cfg,
    );
    let accepted = acc_rx.recv().await.unwrap();
    let server = spawn_link(accepted.ws, 2, accepted.remote.to_string(), ev_tx, &cfg);

    assert!(client.try_send(LinkCmd::Send("hello".into())));
    match next(&mut ev_rx).await {
        LinkEvent::Text { conn, text } => assert_eq!((conn, text.as_str()), (2, "hello")),
        other => panic!("{other:?}"),
    }
    let (tx, rx) = oneshot::channel();
    assert!(server.try_send(LinkCmd::Probe(tx)));
    let rtt = tokio::time::timeout(Duration::from_secs(30), rx)
        .await
        .unwrap()
        .unwrap();
    assert!(rtt < Duration::from_secs(30));

    // A frame over the limit ends the connection on the receiving side.
    assert!(client.try_send(LinkCmd::Send("x".repeat(4096))));
    let mut closed = Vec::new();
    while closed.len() < 2 {
        if let LinkEvent::Closed { conn, reason } = next(&mut ev_rx).await {
            closed.push((conn, reason));
        }
    }
    assert!(closed.iter().any(|(c, _)| *c == 2), "{closed:?}");
}

#[tokio::test]
async fn wrong_path_is_refused() {
    let cfg = LinkConfig::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (acc_tx, _acc_rx) = mpsc::channel(4);
    listen(listener, cfg, acc_tx);
    let res = tokio_tungstenite::connect_async(format!("ws://{addr}/ws/p2p")).await;
    assert!(res.is_err(), "only /p2p/v2 is served");
}
