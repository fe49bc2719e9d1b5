//! The binary as a newcomer runs it: standalone central on loopback, config endpoints, and
//! start-up failures that name the file and field.

mod common;

use std::process::Command;

use serde_json::json;

#[test]
fn standalone_central_serves_status_and_config() {
    let c = common::start("central-1", json!({}));
    let (status, v) = common::json(c.api_port, "GET", "/api/p2p/status", None);
    assert_eq!(status, 200);
    assert_eq!(v["standalone_mode"], true);
    assert_eq!(v["this_central"], "central-1");
    assert_eq!(v["total_peers"], 0);
    assert_eq!(v["peers"], json!([]));

    let (status, v) = common::json(c.api_port, "GET", "/", None);
    assert_eq!(status, 200);
    assert_eq!(v["status"], "running");

    let (_, v) = common::json(c.api_port, "GET", "/api/p2p/info", None);
    assert_eq!(v["info"]["id"], "central-1");
    assert_eq!(v["info"]["api_port"], c.api_port);

    let (_, v) = common::json(c.api_port, "GET", "/api/p2p/config", None);
    assert_eq!(v["config"]["this_central"]["id"], "central-1");

    let (status, v) = common::json(c.api_port, "GET", "/api/status", None);
    assert_eq!(status, 200);
    assert_eq!(v["parking"]["vehicles_in_parking"], 0);
    assert_eq!(v["cameras"]["total"], 0);
}

#[test]
fn put_config_validates_and_saves_atomically() {
    let c = common::start("central-1", json!({}));
    let before = std::fs::read(&c.config_path).unwrap();
    let bad = json!({
        "this_central": { "id": "central-1", "ip": "127.0.0.1", "p2p_port": c.p2p_port, "api_port": c.api_port },
        "peer_centrals": [
            { "id": "central-2", "ip": "127.0.0.1", "p2p_port": 9002 },
            { "id": "central-2", "ip": "127.0.0.1", "p2p_port": 9003 }
        ]
    });
    let (status, v) = common::json(c.api_port, "PUT", "/api/p2p/config", Some(&bad));
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("peer_centrals"),
        "{v}"
    );
    assert_eq!(
        std::fs::read(&c.config_path).unwrap(),
        before,
        "a rejected config must leave the file untouched"
    );

    let (status, v) = common::request(
        c.api_port,
        "PUT",
        "/api/p2p/config",
        Some(b"{not json"),
        &[],
    )
    .unwrap();
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&v));

    let good = json!({
        "this_central": { "id": "central-1", "ip": "127.0.0.1", "p2p_port": c.p2p_port, "api_port": c.api_port },
        "peer_centrals": [ { "id": "central-2", "ip": "127.0.0.1", "p2p_port": 9002, "api_port": 8002 } ]
    });
    let (status, v) = common::json(c.api_port, "PUT", "/api/p2p/config", Some(&good));
    assert_eq!(status, 200, "{v}");
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&c.config_path).unwrap()).unwrap();
    assert_eq!(saved["peer_centrals"][0]["id"], "central-2");
    let (_, v) = common::json(c.api_port, "GET", "/api/p2p/status", None);
    assert_eq!(v["standalone_mode"], false);
    assert_eq!(v["peers"][0]["peer_id"], "central-2");
}

#[test]
fn duplicate_peer_id_exits_naming_peer_centrals() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::write_config(
        dir.path(),
        "central-1",
        common::free_port(),
        common::free_port(),
        json!({ "peer_centrals": [
            { "id": "central-2", "ip": "127.0.0.1", "p2p_port": 9002 },
            { "id": "central-2", "ip": "127.0.0.1", "p2p_port": 9003 }
        ]}),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_central-server"))
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("peer_centrals"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn missing_config_exits_naming_the_file() {
    let out = Command::new(env!("CARGO_BIN_EXE_central-server"))
        .args(["--config", "/nonexistent/p2p_config.json"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/p2p_config.json"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
