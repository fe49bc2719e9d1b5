//! Plays an edge camera against a real central: entries, exits and fees by edge timestamps,
//! idempotent repeats, the read API, the `/ws/edge` socket, and bad input of every kind.

mod common;

use serde_json::{Value, json};

use common::now_secs;

fn event(kind: &str, plate: &str, ts: f64, event_id: Option<&str>) -> Value {
    json!({
        "type": kind,
        "camera_id": 1,
        "camera_name": "Gate A",
        "camera_type": kind,
        "timestamp": ts,
        "event_id": event_id,
        "data": { "plate_text": plate, "confidence": 0.93, "source": "auto" }
    })
}

fn start() -> common::Central {
    common::start("central-1", json!({ "max_clock_skew_secs": 86400 }))
}

#[test]
fn entry_then_exit_two_hours_later_costs_50000() {
    let c = start();
    let t0 = now_secs() - 2.0 * 3600.0;
    let (status, v) = common::json(
        c.api_port,
        "POST",
        "/api/edge/event",
        Some(&event("ENTRY", "30A-123.45", t0, Some("edge-1_1_30A12345"))),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["success"], true);
    assert_eq!(v["action"], "ENTRY");
    assert_eq!(v["plate_id"], "30A12345");
    assert_eq!(v["plate_view"], "30A-123.45");
    assert_eq!(v["event_id"], "edge-1_1_30A12345");
    let history_id = v["history_id"].as_i64().unwrap();

    let (_, state) = common::json(c.api_port, "GET", "/api/parking/state", None);
    assert_eq!(state["vehicles_in_parking"].as_array().unwrap().len(), 1);
    assert_eq!(state["stats"]["vehicles_in_parking"], 1);

    // A second entry of a car that is inside is refused with the seed's failure shape.
    let (status, v) = common::json(
        c.api_port,
        "POST",
        "/api/edge/event",
        Some(&event(
            "ENTRY",
            "30A12345",
            t0 + 60.0,
            Some("edge-1_2_30A12345"),
        )),
    );
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["success"], false);
    assert_eq!(v["already_inside"], true);

    let (status, v) = common::json(
        c.api_port,
        "POST",
        "/api/edge/event",
        Some(&event("EXIT", "30A12345", t0 + 7200.0, Some("exit-1"))),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["action"], "EXIT");
    assert_eq!(v["fee"], 50_000);
    assert_eq!(v["history_id"], history_id);
    assert_eq!(v["duration"], "2 giờ 0 phút");

    let (_, h) = common::json(c.api_port, "GET", "/api/parking/history?limit=10", None);
    assert_eq!(h["count"], 1);
    let row = &h["history"][0];
    assert_eq!(row["status"], "OUT");
    assert_eq!(row["fee"], 50_000);
    assert_eq!(row["sync_status"], "LOCAL");
    assert_eq!(row["event_id"], "edge-1_1_30A12345");

    let (_, s) = common::json(c.api_port, "GET", "/api/stats", None);
    assert_eq!(s["vehicles_in_parking"], 0);
    assert_eq!(s["exits_today"], 1);
    assert_eq!(s["revenue_today"], 50_000);

    let (_, h) = common::json(
        c.api_port,
        "GET",
        "/api/parking/history?search=30a-123&status=OUT",
        None,
    );
    assert_eq!(h["count"], 1);
    let (_, h) = common::json(
        c.api_port,
        "GET",
        "/api/parking/history?in_parking_only=true",
        None,
    );
    assert_eq!(h["count"], 0);
}

#[test]
fn repeated_event_id_creates_nothing_and_auto_exit_with_entry_id_closes_the_session() {
    let c = start();
    let t0 = now_secs() - 3600.0;
    let entry = event("ENTRY", "51F12345", t0, Some("edge-2_5_51F12345"));
    let (_, first) = common::json(c.api_port, "POST", "/api/edge/event", Some(&entry));
    let (status, again) = common::json(c.api_port, "POST", "/api/edge/event", Some(&entry));
    assert_eq!(status, 200);
    assert_eq!(again["deduped"], true);
    assert_eq!(again["history_id"], first["history_id"]);
    let (_, h) = common::json(c.api_port, "GET", "/api/parking/history", None);
    assert_eq!(h["count"], 1);

    // The seed's edge sends automatic exits with the entry's event_id: that is an exit, not a
    // duplicate of the entry.
    let exit = event("EXIT", "51F12345", t0 + 1800.0, Some("edge-2_5_51F12345"));
    let (status, v) = common::json(c.api_port, "POST", "/api/edge/event", Some(&exit));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["action"], "EXIT");
    assert_eq!(v["history_id"], first["history_id"]);
    assert_eq!(v["fee"], 0);
    let (_, again) = common::json(c.api_port, "POST", "/api/edge/event", Some(&exit));
    assert_eq!(again["deduped"], true);
    let (_, h) = common::json(c.api_port, "GET", "/api/parking/history", None);
    assert_eq!(h["count"], 1);
    assert_eq!(h["history"][0]["status"], "OUT");
}

#[test]
fn exit_without_entry_is_kept_as_an_exception() {
    let c = start();
    let (status, v) = common::json(
        c.api_port,
        "POST",
        "/api/edge/event",
        Some(&event("EXIT", "29B99999", now_secs(), None)),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["exception"], true);
    let (_, h) = common::json(c.api_port, "GET", "/api/parking/history", None);
    assert_eq!(h["count"], 1);
    assert_eq!(h["history"][0]["exception"], true);
}

#[test]
fn bad_input_gets_a_4xx_naming_the_problem_and_changes_nothing() {
    let c = start();
    let big_plate = "9".repeat(1_000_000);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"{".to_vec(), "malformed JSON"),
        (b"".to_vec(), "empty"),
        (b"[1,2]".to_vec(), "expected a JSON object"),
        (vec![0xff, 0xfe, b'{'], "UTF-8"),
        (serde_json::to_vec(&json!({"type": "ENTRY", "data": {"plate_text": "30A12345"}})).unwrap(), "camera_id"),
        (serde_json::to_vec(&json!({"camera_id": 1, "data": {"plate_text": "30A12345"}})).unwrap(), "type"),
        (serde_json::to_vec(&json!({"type": "FLY", "camera_id": 1, "data": {"plate_text": "30A12345"}})).unwrap(), "unknown event type"),
        (serde_json::to_vec(&json!({"type": "ENTRY", "camera_id": 1})).unwrap(), "data"),
        (serde_json::to_vec(&json!({"type": "ENTRY", "camera_id": 1, "data": {}})).unwrap(), "plate_text"),
        (serde_json::to_vec(&json!({"type": "ENTRY", "camera_id": "x", "data": {"plate_text": "30A12345"}})).unwrap(), "camera_id"),
        (serde_json::to_vec(&json!({"type": "ENTRY", "camera_id": 1, "data": {"plate_text": "!!"}})).unwrap(), "plate"),
        (serde_json::to_vec(&json!({"type": "ENTRY", "camera_id": 1, "timestamp": "soon", "data": {"plate_text": "30A12345"}})).unwrap(), "timestamp"),
    ];
    for (body, needle) in &cases {
        let (status, answer) =
            common::request(c.api_port, "POST", "/api/edge/event", Some(body), &[]).unwrap();
        let text = String::from_utf8_lossy(&answer);
        assert!(
            (400..500).contains(&status),
            "{needle}: got {status} {text}"
        );
        let v: Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(v["success"], false, "{needle}");
        assert!(text.contains(needle), "expected {needle:?} in {text}");
    }
    // A 1 MB plate is refused by the body limit before parsing.
    let huge = serde_json::to_vec(
        &json!({"type": "ENTRY", "camera_id": 1, "data": {"plate_text": big_plate}}),
    )
    .unwrap();
    // Only the first KiB is sent: the limit is enforced on Content-Length, before reading or parsing.
    let (status, _) = common::request(
        c.api_port,
        "POST",
        "/api/edge/event",
        None,
        &[
            ("Content-Type", "application/json"),
            ("Content-Length", &huge.len().to_string()),
        ],
    )
    .unwrap();
    assert_eq!(status, 413);
    // An absurd timestamp is clamped to server time, not rejected, and flagged in storage.
    let (status, v) = common::json(
        c.api_port,
        "POST",
        "/api/edge/event",
        Some(&event("ENTRY", "30A55555", 1e15, None)),
    );
    assert_eq!(status, 200, "{v}");

    // Nothing from the rejected requests was stored, and the next valid event is served.
    let (_, h) = common::json(c.api_port, "GET", "/api/parking/history", None);
    assert_eq!(h["count"], 1);
    let (status, _) = common::json(
        c.api_port,
        "POST",
        "/api/edge/event",
        Some(&event("ENTRY", "30A66666", now_secs(), None)),
    );
    assert_eq!(status, 200);
    let (status, v) = common::json(c.api_port, "GET", "/api/parking/history?limit=100000", None);
    assert_eq!(status, 400, "{v}");
    assert_eq!(
        common::panics(&c),
        Vec::<String>::new(),
        "no handler panicked"
    );
}

#[test]
fn heartbeat_registers_the_camera() {
    let c = start();
    let hb = json!({"camera_id": 3, "camera_name": "Exit B", "camera_type": "EXIT", "status": "online", "events_sent": 5, "events_failed": 0});
    let (status, v) = common::json(c.api_port, "POST", "/api/edge/heartbeat", Some(&hb));
    assert_eq!(status, 200, "{v}");
    let (_, cams) = common::json(c.api_port, "GET", "/api/cameras", None);
    assert_eq!(cams["total"], 1);
    assert_eq!(cams["online"], 1);
    assert_eq!(cams["cameras"][0]["name"], "Exit B");
}
