//! Operator endpoints against a real central: plate corrections and deletions with their audit
//! trail, subscriptions applied at exit, staff, site configuration as data, zones and occupancy,
//! admin authentication and CORS — in the seed's shapes.

mod common;

use serde_json::{Value, json};

use common::now_secs;

const TOKEN: &str = "operator-test-token-123456";

fn event(kind: &str, plate: &str, ts: f64) -> Value {
    json!({ "type": kind, "camera_id": 1, "camera_name": "Gate", "timestamp": ts, "data": { "plate_text": plate, "confidence": 0.9 } })
}

fn admin(port: u16, method: &str, path: &str, body: &Value) -> (u16, Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    let auth = format!("Bearer {TOKEN}");
    let (status, b) = common::request(
        port,
        method,
        path,
        Some(&bytes),
        &[("Authorization", &auth), ("X-Operator", "alice")],
    )
    .unwrap();
    (status, serde_json::from_slice(&b).unwrap())
}

fn start() -> common::Central {
    common::start(
        "central-1",
        // Token only: loopback is not an admin network here, so the token rule is what is tested.
        json!({ "admin_token": TOKEN, "admin_networks": [], "max_clock_skew_secs": 86400 }),
    )
}

#[test]
fn plate_correction_and_delete_are_audited() {
    let c = start();
    let (_, e) = common::json(
        c.api_port,
        "POST",
        "/api/edge/event",
        Some(&event("ENTRY", "30A1234", now_secs())),
    );
    let id = e["history_id"].as_i64().unwrap();

    // Admin endpoints need the token.
    let (status, v) = common::json(
        c.api_port,
        "PUT",
        &format!("/api/parking/history/{id}"),
        Some(&json!({"plate_id": "30A12345", "plate_view": "30A-123.45"})),
    );
    assert_eq!(status, 401, "{v}");
    let bytes = serde_json::to_vec(&json!({"plate_view": "30A-123.45"})).unwrap();
    let (status, _) = common::request(
        c.api_port,
        "PUT",
        &format!("/api/parking/history/{id}"),
        Some(&bytes),
        &[("Authorization", "Bearer wrong")],
    )
    .unwrap();
    assert_eq!(status, 403);

    let (status, v) = admin(
        c.api_port,
        "PUT",
        &format!("/api/parking/history/{id}"),
        &json!({"plate_id": "30A12345", "plate_view": "30A-123.45"}),
    );
    assert_eq!(status, 200, "{v}");
    let (_, h) = common::json(c.api_port, "GET", "/api/parking/history", None);
    assert_eq!(h["history"][0]["plate_view"], "30A-123.45");
    assert_eq!(h["history"][0]["id"], id, "the row keeps its id");
    let (_, ch) = common::json(
        c.api_port,
        "GET",
        &format!("/api/parking/history/changes?history_id={id}"),
        None,
    );
    assert_eq!(ch["count"], 1);
    let row = &ch["changes"][0];
    for key in [
        "id",
        "history_id",
        "change_type",
        "old_plate_id",
        "old_plate_view",
        "new_plate_id",
        "new_plate_view",
        "old_data",
        "new_data",
        "changed_at",
        "changed_by",
    ] {
        assert!(row.get(key).is_some(), "changes row lacks {key}: {row}");
    }
    assert_eq!(
        (
            row["change_type"].as_str(),
            row["old_plate_id"].as_str(),
            row["new_plate_id"].as_str()
        ),
        (Some("UPDATE"), Some("30A1234"), Some("30A12345"))
    );
    assert_eq!(row["changed_by"], "alice");

    // Validation names the field; unknown ids are 404.
    let (status, v) = admin(
        c.api_port,
        "PUT",
        &format!("/api/parking/history/{id}"),
        &json!({"plate_view": "!"}),
    );
    assert_eq!(status, 400);
    assert!(v["error"].as_str().unwrap().contains("plate_view"), "{v}");
    let (status, _) = admin(
        c.api_port,
        "PUT",
        "/api/parking/history/999999",
        &json!({"plate_view": "30A12345"}),
    );
    assert_eq!(status, 404);

    let (status, v) = admin(
        c.api_port,
        "DELETE",
        &format!("/api/parking/history/{id}"),
        &json!({}),
    );
    assert_eq!(status, 200, "{v}");
    let (_, h) = common::json(c.api_port, "GET", "/api/parking/history", None);
    assert_eq!(h["count"], 0, "a deleted session is hidden");
    let (_, ch) = common::json(c.api_port, "GET", "/api/parking/history/changes", None);
    assert_eq!(ch["changes"][0]["change_type"], "DELETE");
    // The plate may enter again: the tombstoned session does not block it.
    let (status, _) = common::json(
        c.api_port,
        "POST",
        "/api/edge/event",
        Some(&event("ENTRY", "30A1234", now_secs())),
    );
    assert_eq!(status, 200);
}

#[test]
fn deleting_a_finished_session_leaves_no_row_behind() {
    let c = start();
    let t = now_secs();
    let (status, e) = common::json(
        c.api_port,
        "POST",
        "/api/edge/event",
        Some(&event("ENTRY", "30A7777", t - 120.0)),
    );
    assert_eq!(status, 200, "{e}");
    let (status, x) = common::json(
        c.api_port,
        "POST",
        "/api/edge/event",
        Some(&event("EXIT", "30A7777", t - 60.0)),
    );
    assert_eq!(status, 200, "{x}");
    let id = e["history_id"].as_i64().unwrap();
    assert_eq!(x["history_id"].as_i64(), Some(id), "{x}");
    let (status, v) = admin(
        c.api_port,
        "DELETE",
        &format!("/api/parking/history/{id}"),
        &json!({}),
    );
    assert_eq!(status, 200, "{v}");
    // The exit stays in the deleted session instead of coming back as an exception row.
    let (_, h) = common::json(c.api_port, "GET", "/api/parking/history", None);
    assert_eq!(h["count"], 0, "{h}");
}

#[test]
fn subscriptions_staff_and_fees_are_replicated_settings() {
    let c = start();
    let subs = json!({ "subscriptions": [
        { "id": 1, "plate_number": "51F-999.99", "owner_name": "ACME", "type": "company", "status": "active", "start_date": "2020-01-01", "phone": "", "note": "" }
    ]});
    let (status, v) = admin(c.api_port, "PUT", "/api/subscriptions", &subs);
    assert_eq!(status, 200, "{v}");
    let (_, v) = common::json(c.api_port, "GET", "/api/subscriptions", None);
    assert_eq!(v["subscriptions"][0]["plate_number"], "51F-999.99");
    assert_eq!(v["source"], "database");
    let bad =
        json!({ "subscriptions": [{ "plate_number": "X", "type": "weekly", "status": "active" }] });
    let (status, v) = admin(c.api_port, "PUT", "/api/subscriptions", &bad);
    assert_eq!(status, 400);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("subscriptions[0].type"),
        "{v}"
    );

    // A pass holder leaves free.
    let t0 = now_secs() - 3.0 * 3600.0;
    common::json(
        c.api_port,
        "POST",
        "/api/edge/event",
        Some(&event("ENTRY", "51F99999", t0)),
    );
    let (_, x) = common::json(
        c.api_port,
        "POST",
        "/api/edge/event",
        Some(&event("EXIT", "51F99999", t0 + 7200.0)),
    );
    assert_eq!(
        (x["fee"].as_i64(), x["exempt"].as_str()),
        (Some(0), Some("company")),
        "{x}"
    );

    let (status, _) = admin(
        c.api_port,
        "PUT",
        "/api/staff",
        &json!({ "staff": [{ "id": 1, "name": "Lan", "shift": "Ca ngày", "status": "active" }] }),
    );
    assert_eq!(status, 200);
    let (_, v) = common::json(c.api_port, "GET", "/api/staff", None);
    assert_eq!(v["staff"][0]["name"], "Lan");
    let (status, _) = admin(
        c.api_port,
        "PUT",
        "/api/staff",
        &json!({ "staff": "everyone" }),
    );
    assert_eq!(status, 400);

    let (status, _) = admin(
        c.api_port,
        "PUT",
        "/api/parking/fees",
        &json!({ "fees": { "fee_base": 1.0, "fee_per_hour": 30000 } }),
    );
    assert_eq!(status, 200);
    let (_, f) = common::json(c.api_port, "GET", "/api/parking/fees", None);
    assert_eq!(
        (
            f["fees"]["fee_base"].as_f64(),
            f["fees"]["fee_per_hour"].as_i64()
        ),
        (Some(1.0), Some(30000))
    );
    let (status, v) = admin(
        c.api_port,
        "PUT",
        "/api/parking/fees",
        &json!({ "fees": { "fee_per_hour": -1 } }),
    );
    assert_eq!(status, 400);
    assert!(v["error"].as_str().unwrap().contains("fee_per_hour"));
}

#[test]
fn site_config_zones_and_occupancy() {
    let c = start();
    let (_, v) = common::json(c.api_port, "GET", "/api/config", None);
    assert_eq!(v["config"]["backend_type"], "central");
    for section in [
        "server",
        "database",
        "camera",
        "parking",
        "staff",
        "subscriptions",
        "report",
        "central_server",
        "central_sync",
        "edge_cameras",
    ] {
        assert!(v["config"].get(section).is_some(), "config lacks {section}");
    }
    assert!(!v.to_string().contains(TOKEN), "secrets never appear");

    let body = json!({ "parking": { "fee_base": 0.5, "fee_per_hour": 20000 },
                       "edge_cameras": { "7": { "name": "Zone B", "ip": "127.0.0.1", "camera_type": "PARKING_LOT", "parking_lot_capacity": 2 } } });
    let (status, v) = admin(c.api_port, "POST", "/api/config", &body);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["sync_results"][0]["camera_id"], 7);
    let (_, f) = common::json(c.api_port, "GET", "/api/parking/fees", None);
    assert_eq!(f["fees"]["fee_per_hour"], 20000);
    let (status, v) = admin(
        c.api_port,
        "POST",
        "/api/config",
        &json!({ "edge_cameras": { "x": {} } }),
    );
    assert_eq!(status, 400, "{v}");
    let (status, v) = admin(
        c.api_port,
        "POST",
        "/api/config",
        &json!({ "edge_cameras": { "8": { "camera_type": "ROOF", "name": "\"); import os; os.system(\"x" } } }),
    );
    assert_eq!(status, 400, "{v}");

    // An edge registers its in-lot camera; a car inside is seen there.
    let sync = json!({ "edge_cameras": { "9": { "name": "Zone C", "ip": "127.0.0.2", "camera_type": "PARKING_LOT", "parking_lot_capacity": 5 } } });
    assert_eq!(
        common::json(c.api_port, "POST", "/api/edge/sync-config", Some(&sync)).0,
        200
    );
    common::json(
        c.api_port,
        "POST",
        "/api/edge/event",
        Some(&event("ENTRY", "30A55555", now_secs())),
    );
    let seen = json!({ "type": "LOCATION_UPDATE", "camera_id": 9, "camera_name": "Zone C", "timestamp": now_secs(),
                       "data": { "plate_text": "30A55555", "location": "Zone C" } });
    assert_eq!(
        common::json(c.api_port, "POST", "/api/edge/event", Some(&seen)).0,
        200
    );
    let (_, occ) = common::json(c.api_port, "GET", "/api/parking/occupancy", None);
    let lots = occ["parking_lots"].as_array().unwrap();
    assert_eq!(lots.len(), 2, "{occ}");
    let c_zone = lots
        .iter()
        .find(|l| l["camera"]["name"] == "Zone C")
        .unwrap();
    assert_eq!(c_zone["camera"]["type"], "PARKING_LOT");
    assert_eq!(
        (
            c_zone["occupancy"]["total_capacity"].as_i64(),
            c_zone["occupancy"]["occupied"].as_i64(),
            c_zone["occupancy"]["available"].as_i64()
        ),
        (Some(5), Some(1), Some(4))
    );
    assert_eq!(c_zone["occupancy"]["vehicles"][0]["is_anomaly"], false);
    let (_, cfg) = common::json(c.api_port, "GET", "/api/config", None);
    assert_eq!(cfg["config"]["edge_cameras"]["9"]["name"], "Zone C");
    assert_eq!(
        cfg["config"]["edge_cameras"]["7"]["name"], "Zone B",
        "syncing one camera leaves the others alone"
    );
}

#[test]
fn cors_allows_a_browser_frontend_on_another_origin() {
    let c = start();
    let (status, _) = common::request(
        c.api_port,
        "OPTIONS",
        "/api/parking/history",
        None,
        &[
            ("Origin", "http://frontend.local:5173"),
            ("Access-Control-Request-Method", "GET"),
        ],
    )
    .unwrap();
    assert_eq!(status, 200);
}

/// A fake edge: answers every request with `{"success": true}` and records the request lines.
fn fake_edge() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (line, body) = common::read_request(&stream);
            log.lock()
                .unwrap()
                .push(format!("{} {}", line, String::from_utf8_lossy(&body)));
            let mut s = stream;
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 16\r\nConnection: close\r\n\r\n{\"success\":true}");
        }
    });
    (port, seen)
}

#[test]
fn post_config_pushes_camera_config_to_the_edge() {
    let c = start();
    let (edge_port, seen) = fake_edge();
    let body = json!({ "edge_cameras": { "3": { "name": "Exit 3", "ip": format!("127.0.0.1:{edge_port}"), "camera_type": "EXIT" } } });
    let (status, v) = admin(c.api_port, "POST", "/api/config", &body);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["sync_results"][0]["camera_id"], 3);
    assert_eq!(v["sync_results"][0]["success"], true, "{v}");
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|r| r.starts_with("POST /api/config") && r.contains("Exit 3")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|r| r.starts_with("POST /api/edge/init-sync")
                && r.contains("camera_id")
                && r.contains(&format!(
                    "\"central_url\":\"http://127.0.0.1:{}\"",
                    c.api_port
                ))),
        "{seen:?}"
    );
}
