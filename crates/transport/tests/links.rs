//! Two real sockets on loopback: frames both ways, a round-trip probe, the size limit, the path
//! check, and close reasons.

use std::time::Duration;

use parkmesh_transport::tls::Tls;
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
    let port = listener.local_addr().unwrap().port();
    let (acc_tx, mut acc_rx) = mpsc::channel(4);
    listen(listener, cfg.clone(), None, acc_tx);

    let (ev_tx, mut ev_rx) = mpsc::channel(64);
    let client = spawn_link(
        dial("127.0.0.1", port, &cfg, None).await.unwrap(),
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
    listen(listener, cfg, None, acc_tx);
    let res = tokio_tungstenite::connect_async(format!("ws://{addr}/ws/p2p")).await;
    assert!(res.is_err(), "only /p2p/v2 is served");
}

fn certs() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/tls-test")
}

fn tls(ca: &str) -> Tls {
    let d = certs();
    Tls::load(
        &d.join("central-test.pem"),
        &d.join("central-test.key"),
        &d.join(ca),
    )
    .unwrap()
}

#[tokio::test]
async fn tls_links_carry_frames_and_refuse_strangers_and_plain_clients() {
    let cfg = LinkConfig::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (acc_tx, mut acc_rx) = mpsc::channel(4);
    let server_tls = tls("ca.pem");
    listen(
        listener,
        cfg.clone(),
        Some(server_tls.server.clone()),
        acc_tx,
    );

    // A client that trusts the cluster CA gets through, by IP address and by DNS name.
    let (ev_tx, mut ev_rx) = mpsc::channel(64);
    let mut open = Vec::new();
    for host in ["127.0.0.1", "localhost"] {
        let ws = dial(host, port, &cfg, Some(&server_tls.client))
            .await
            .unwrap();
        let link = spawn_link(ws, 1, host.into(), ev_tx.clone(), &cfg);
        let accepted = acc_rx.recv().await.unwrap();
        let server = spawn_link(
            accepted.ws,
            2,
            accepted.remote.to_string(),
            ev_tx.clone(),
            &cfg,
        );
        assert!(link.try_send(LinkCmd::Send(format!("over TLS via {host}"))));
        open.push((link, server));
        match next(&mut ev_rx).await {
            LinkEvent::Text { conn, text } => {
                assert_eq!((conn, text), (2, format!("over TLS via {host}")));
            }
            other => panic!("{other:?}"),
        }
    }

    // A client that trusts another CA refuses the server's certificate.
    let stranger = tls("stranger-ca.pem");
    let err = dial("127.0.0.1", port, &cfg, Some(&stranger.client))
        .await
        .err()
        .expect("a certificate from an unknown CA is refused");
    assert!(err.to_string().contains("TLS handshake failed"), "{err}");

    // A name the certificate does not cover is refused.
    let err = dial("127.0.0.2", port, &cfg, Some(&server_tls.client)).await;
    assert!(err.is_err(), "127.0.0.2 is not in the certificate");

    // A plain WebSocket client gets nowhere, and the server accepts nothing from it.
    assert!(dial("127.0.0.1", port, &cfg, None).await.is_err());
    assert!(
        tokio::time::timeout(Duration::from_millis(300), acc_rx.recv())
            .await
            .is_err(),
        "nothing was accepted"
    );
}

#[test]
fn tls_files_that_cannot_be_used_are_named() {
    let d = certs();
    let missing = Tls::load(
        &d.join("nope.pem"),
        &d.join("central-test.key"),
        &d.join("ca.pem"),
    );
    let err = missing.expect_err("a missing file is an error").to_string();
    assert!(err.contains("nope.pem"), "{err}");
    // A key file that holds a certificate instead of a key.
    let wrong = Tls::load(
        &d.join("central-test.pem"),
        &d.join("ca.pem"),
        &d.join("ca.pem"),
    );
    let err = wrong.expect_err("a certificate is not a key").to_string();
    assert!(err.contains("ca.pem"), "{err}");
    // A CA file with no certificate in it.
    let empty = Tls::load(
        &d.join("central-test.pem"),
        &d.join("central-test.key"),
        &d.join("gen.sh"),
    );
    let err = empty.expect_err("no certificate").to_string();
    assert!(
        err.contains("gen.sh") && err.contains("no PEM certificate"),
        "{err}"
    );
}
