//! Two centrals with the `tls` section (certificates from `config/tls-test`): the API answers
//! HTTPS and nothing in plain HTTP, the mesh replicates over TLS, and the status shows the peer
//! connected. A client trusting another CA is refused by the API; garbage on the TLS ports is
//! dropped without harm. With `"api": false` only the mesh runs TLS.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};

const SECRET: &str = "tls-test-cluster-secret-0123456789";

fn certs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config/tls-test")
}

fn tls_section() -> Value {
    let d = certs();
    let p = |f: &str| d.join(f).to_string_lossy().into_owned();
    json!({ "cert_path": p("central-test.pem"), "key_path": p("central-test.key"), "ca_path": p("ca.pem") })
}

fn client_config(ca: &str) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(certs().join(ca)).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// One HTTPS request trusting `ca`; returns (status, JSON body).
fn https(
    port: u16,
    ca: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> std::io::Result<(u16, Value)> {
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let conn =
        rustls::ClientConnection::new(client_config(ca), name).map_err(std::io::Error::other)?;
    let sock = TcpStream::connect(("127.0.0.1", port))?;
    sock.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    let payload = body.map(Value::to_string).unwrap_or_default();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    if body.is_some() {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            payload.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(&payload);
    tls.write_all(req.as_bytes())?;
    let mut buf = Vec::new();
    if let Err(e) = tls.read_to_end(&mut buf) {
        // A server may close without close_notify after a complete answer.
        if buf.is_empty() || e.kind() != std::io::ErrorKind::UnexpectedEof {
            return Err(e);
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no HTTP head"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status"))?;
    Ok((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

fn wait_https(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if https(port, "ca.pem", "GET", "/", None).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("central on port {port} did not answer HTTPS");
}

fn start(members: &[common::Member], idx: usize, peer: usize, tls: Value) -> common::Central {
    let api_tls = tls["api"] != false;
    let mut c = common::spawn_member(members, idx, &[peer], SECRET, json!({ "tls": tls }));
    if api_tls {
        wait_https(c.api_port);
    } else {
        common::wait_child_ready(&mut c.child, c.api_port);
    }
    c
}

#[test]
fn api_and_mesh_run_over_tls() {
    let members = common::plan(&["central-a", "central-b"]);
    let a = start(&members, 0, 1, tls_section());
    let b = start(&members, 1, 0, tls_section());

    // Plain HTTP gets no answer from a TLS port; a client trusting another CA is refused.
    assert!(
        common::request(a.api_port, "GET", "/api/p2p/status", None, &[]).is_err(),
        "plain HTTP must not be served"
    );
    assert!(https(a.api_port, "stranger-ca.pem", "GET", "/", None).is_err());
    // Garbage instead of a TLS hello, on both TLS ports, is dropped; the central stays up.
    for port in [a.api_port, a.p2p_port] {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let _ = s.write_all(b"\x16\x03\x01\x00\x05garbage that is not a TLS record\r\n\r\n");
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        assert!(
            !String::from_utf8_lossy(&buf).contains("HTTP/1.1 200"),
            "{buf:?}"
        );
    }
    assert_eq!(
        https(a.api_port, "ca.pem", "GET", "/", None).unwrap().0,
        200
    );

    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let entry = json!({ "type": "ENTRY", "camera_id": 1, "camera_name": "Gate", "timestamp": ts,
                        "data": { "plate_text": "51A77777", "confidence": 0.9 } });
    let (status, v) = https(
        a.api_port,
        "ca.pem",
        "POST",
        "/api/edge/event",
        Some(&entry),
    )
    .unwrap();
    assert_eq!(status, 200, "{v}");

    // The entry reaches B over the TLS mesh.
    let row = common::eventually("the entry replicates to B over TLS", || {
        let (_, h) = https(
            b.api_port,
            "ca.pem",
            "GET",
            "/api/parking/history?search=51A77777",
            None,
        )
        .ok()?;
        h["history"].as_array()?.first().cloned()
    });
    assert_eq!(row["status"], "IN", "{row}");
    assert_eq!(row["source_central"], "central-a", "{row}");

    let (_, st) = https(a.api_port, "ca.pem", "GET", "/api/p2p/status", None).unwrap();
    let peers = st["peers"].as_array().cloned().unwrap_or_default();
    assert!(
        peers
            .iter()
            .any(|p| p["peer_id"] == "central-b" && p["status"] == "connected"),
        "{st}"
    );
}

#[test]
fn mesh_only_tls_keeps_the_api_on_plain_http() {
    let members = common::plan(&["central-a", "central-b"]);
    let mut tls = tls_section();
    tls["api"] = json!(false);
    let a = start(&members, 0, 1, tls.clone());
    let b = start(&members, 1, 0, tls);
    // The API answers plain HTTP (edges on the site LAN keep working) and no TLS.
    assert!(https(a.api_port, "ca.pem", "GET", "/", None).is_err());
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let entry = json!({ "type": "ENTRY", "camera_id": 1, "camera_name": "Gate", "timestamp": ts,
                        "data": { "plate_text": "51A88888", "confidence": 0.9 } });
    let (status, v) = common::json(a.api_port, "POST", "/api/edge/event", Some(&entry));
    assert_eq!(status, 200, "{v}");
    // The mesh port speaks TLS only, and the entry crosses it.
    let mut s = TcpStream::connect(("127.0.0.1", a.p2p_port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(b"GET /p2p/v2 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(
        !String::from_utf8_lossy(&buf).contains("101"),
        "plain WebSocket upgrade refused"
    );
    common::eventually("the entry replicates to B over the TLS mesh", || {
        let (_, h) = common::json(
            b.api_port,
            "GET",
            "/api/parking/history?search=51A88888",
            None,
        );
        h["history"].as_array()?.first().cloned()
    });
    assert_eq!(common::panics(&a), Vec::<String>::new());
}
