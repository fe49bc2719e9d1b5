//! A real site against the real binary: admin changes from the site's LAN (`admin_networks`),
//! the frontend's manual entry and exit, CORS headers on every answer, edge events replayed late
//! after an outage of the central, an in-lot camera's stranger counted at its lot, and a
//! configuration change that is in force at once (a rotated admin token).

mod common;

use serde_json::{Value, json};

use common::now_secs;

const TOKEN: &str = "site-test-admin-token-0123";

fn gate(kind: &str, plate: &str, ts: f64, event_id: &str) -> Value {
    let camera = if kind == "EXIT" {
        (2, "Exit")
    } else {
        (1, "Gate")
    };
    json!({ "type": kind, "camera_id": camera.0, "camera_name": camera.1, "camera_type": kind,
            "timestamp": ts, "event_id": event_id,
            "data": { "plate_text": plate, "confidence": 0.9, "source": "auto" } })
}

/// One HTTP/1.1 request; returns (status, lower-cased head, JSON body).
fn call(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    headers: &[(&str, &str)],
) -> (u16, String, Value) {
    let (status, head, body) =
        common::request_with_head(port, method, path, body, headers).expect("an HTTP answer");
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, head.to_ascii_lowercase(), body)
}

fn send(
    port: u16,
    method: &str,
    path: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    let (status, _, v) = call(port, method, path, Some(&bytes), headers);
    (status, v)
}

fn put_fees(port: u16, headers: &[(&str, &str)]) -> (u16, Value) {
    send(
        port,
        "PUT",
        "/api/parking/fees",
        &json!({ "fees": { "fee_base": 0.25, "fee_per_hour": 25000 } }),
        headers,
    )
}

fn history(port: u16) -> Vec<Value> {
    let (_, h) = common::json(port, "GET", "/api/parking/history", None);
    h["history"].as_array().cloned().unwrap_or_default()
}

fn row<'a>(rows: &'a [Value], plate: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["plate_id"] == plate)
        .unwrap_or_else(|| panic!("no history row for {plate}: {rows:?}"))
}

#[test]
fn admin_networks_decide_who_may_change_things_without_the_token() {
    let bearer = format!("Bearer {TOKEN}");
    let lower = format!("bearer {TOKEN}");

    // The site's LAN holds this client (127.0.0.1): no token needed; the token works as well,
    // whatever the case of its scheme.
    let lan = common::start(
        "central-1",
        json!({ "admin_token": TOKEN, "admin_networks": ["10.9.0.0/16", "127.0.0.1/32"] }),
    );
    assert_eq!(put_fees(lan.api_port, &[]).0, 200);
    assert_eq!(put_fees(lan.api_port, &[("Authorization", &lower)]).0, 200);
    let (status, v) = put_fees(lan.api_port, &[("Authorization", "Bearer wrong-token")]);
    assert_eq!(
        status, 403,
        "a wrong token is refused even from the LAN: {v}"
    );

    // A client outside the networks needs the token: 401 without it, 403 with a wrong one.
    let outside = common::start(
        "central-1",
        json!({ "admin_token": TOKEN, "admin_networks": ["127.0.0.2/32"] }),
    );
    let (status, v) = put_fees(outside.api_port, &[]);
    assert_eq!(status, 401, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("admin_networks"),
        "the answer names the way in: {v}"
    );
    assert_eq!(
        put_fees(outside.api_port, &[("Authorization", "Bearer nope")]).0,
        403
    );
    assert_eq!(
        put_fees(outside.api_port, &[("Authorization", &bearer)]).0,
        200
    );

    // Without any token, a client outside the networks is refused with the reason.
    let open = common::start(
        "central-1",
        json!({ "admin_networks": ["192.168.77.0/24"] }),
    );
    let (status, v) = put_fees(open.api_port, &[]);
    assert_eq!(status, 403, "{v}");
    assert!(v["error"].as_str().unwrap().contains("127.0.0.1"), "{v}");

    // Dual-stack listener: the IPv4 client arrives as ::ffff:127.0.0.1 and is loopback, so the
    // default networks let it in.
    let dual = common::start("central-1", json!({ "admin_token": TOKEN, "bind": "::" }));
    let (status, v) = put_fees(dual.api_port, &[]);
    assert_eq!(status, 200, "IPv4-mapped loopback: {v}");
}

#[test]
fn manual_entry_and_exit_follow_the_camera_rules_and_name_the_operator() {
    let c = common::start(
        "central-1",
        json!({ "admin_token": TOKEN, "admin_networks": [], "max_event_age_secs": 86400 }),
    );
    let bearer = format!("Bearer {TOKEN}");
    let as_guard = [
        ("Authorization", bearer.as_str()),
        ("X-Operator", "guard-1"),
    ];
    let manual = |plate: &str, camera_type: &str, headers: &[(&str, &str)]| {
        send(
            c.api_port,
            "POST",
            "/api/parking/manual-entry",
            &json!({ "plate_text": plate, "camera_type": camera_type }),
            headers,
        )
    };

    // Under the admin rule.
    assert_eq!(manual("51F12345", "ENTRY", &[]).0, 401);

    // An entry, then the same plate again: refused as already inside, like a camera's.
    let (status, v) = manual("51F-123.45", "ENTRY", &as_guard);
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (
            v["success"].as_bool(),
            v["action"].as_str(),
            v["source"].as_str()
        ),
        (Some(true), Some("ENTRY"), Some("manual"))
    );
    assert_eq!(v["operator"], "guard-1");
    assert!(v["message"].as_str().unwrap().contains("entered"), "{v}");
    let (status, v) = manual("51F12345", "ENTRY", &as_guard);
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["already_inside"], true, "{v}");

    // A car that entered by camera two hours ago leaves by a manual exit: the fee is the
    // tariff's for two hours (0.5 h free, then 25 000 per started hour).
    let two_hours_ago = now_secs() - 2.0 * 3600.0;
    let (status, v) = common::json(
        c.api_port,
        "POST",
        "/api/edge/event",
        Some(&gate("ENTRY", "30A99999", two_hours_ago, "edge-1-a")),
    );
    assert_eq!(status, 200, "{v}");
    let (status, v) = manual("30A99999", "exit", &[("Authorization", bearer.as_str())]);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["action"], "EXIT");
    assert_eq!(v["fee"], 50_000, "{v}");
    assert_eq!(
        v["operator"], "admin",
        "no X-Operator: the token's identity"
    );
    assert!(v["message"].as_str().unwrap().contains("50000"), "{v}");

    // An exit without an entry is kept as an exception, like a camera's.
    let (status, v) = manual("29B55555", "EXIT", &as_guard);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["exception"], true, "{v}");

    // Bad input names the field.
    let (status, v) = manual("51F12345", "PARKING_LOT", &as_guard);
    assert_eq!(status, 400);
    assert!(v["error"].as_str().unwrap().contains("camera_type"), "{v}");
    let (status, v) = send(
        c.api_port,
        "POST",
        "/api/parking/manual-entry",
        &json!({ "camera_type": "ENTRY" }),
        &as_guard,
    );
    assert_eq!(status, 400);
    assert!(v["error"].as_str().unwrap().contains("plate_text"), "{v}");

    // History shows who did it.
    let rows = history(c.api_port);
    let guard_row = row(&rows, "51F12345");
    assert_eq!(guard_row["entry_source"], "manual");
    assert_eq!(guard_row["entry_operator"], "guard-1");
    let paid = row(&rows, "30A99999");
    assert_eq!(
        (paid["status"].as_str(), paid["fee"].as_i64()),
        (Some("OUT"), Some(50_000))
    );
    assert_eq!(paid["exit_source"], "manual");
    assert_eq!(paid["exit_operator"], "admin");
    assert_eq!(paid["entry_operator"], Value::Null);
}

#[test]
fn every_answer_carries_the_cors_headers() {
    let c = common::start(
        "central-1",
        json!({ "admin_token": TOKEN, "admin_networks": [] }),
    );
    let origin = [("Origin", "http://guard-pc.local:5173")];
    let has_cors = |head: &str| head.contains("access-control-allow-origin:");
    let cases: Vec<(&str, &str, Option<Vec<u8>>, u16)> = vec![
        ("GET", "/api/stats", None, 200),
        ("GET", "/api/no/such/thing", None, 404),
        ("POST", "/api/edge/event", Some(b"{not json".to_vec()), 400),
        (
            "POST",
            "/api/edge/event",
            Some(b"{\"type\": \"ENTRY\"}".to_vec()),
            400,
        ),
        ("DELETE", "/api/stats", None, 405),
        ("POST", "/api/edge/event", Some(vec![b' '; 70 * 1024]), 413),
        (
            "POST",
            "/api/parking/manual-entry",
            Some(br#"{"plate_text": "51F12345", "camera_type": "ENTRY"}"#.to_vec()),
            401,
        ),
    ];
    for (method, path, body, want) in cases {
        let (status, head, v) = call(c.api_port, method, path, body.as_deref(), &origin);
        assert_eq!(status, want, "{method} {path}: {v}");
        assert!(
            has_cors(&head),
            "{method} {path} {status} lacks CORS headers:\n{head}"
        );
        if status >= 400 {
            assert_eq!(v["success"], false, "{method} {path}: {v}");
        }
    }
    // The preflight of the frontend's POST allows it, X-Operator included; a refused preflight
    // still carries the header.
    let (status, head, _) = call(
        c.api_port,
        "OPTIONS",
        "/api/parking/manual-entry",
        None,
        &[
            ("Origin", "http://guard-pc.local:5173"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type, x-operator"),
        ],
    );
    assert_eq!(status, 200);
    assert!(has_cors(&head), "{head}");
    let (status, head, v) = call(
        c.api_port,
        "OPTIONS",
        "/api/parking/manual-entry",
        None,
        &[
            ("Origin", "http://guard-pc.local:5173"),
            ("Access-Control-Request-Method", "PATCH"),
        ],
    );
    assert_eq!(status, 403, "{v}");
    assert!(has_cors(&head), "{head}");
}

/// The original edge's sync client, reduced to its queue: events are sent in order with their
/// original `timestamp`; what cannot be delivered stays queued and is replayed on the next flush.
struct EdgeQueue {
    pending: Vec<Value>,
}

impl EdgeQueue {
    fn push(&mut self, port: u16, event: Value) {
        self.pending.push(event);
        self.flush(port);
    }

    /// Sends what is queued, oldest first, stopping at the first failure.
    fn flush(&mut self, port: u16) -> usize {
        let mut sent = 0;
        while let Some(event) = self.pending.first() {
            let bytes = serde_json::to_vec(event).unwrap();
            match common::request(port, "POST", "/api/edge/event", Some(&bytes), &[]) {
                Ok((200, _)) => {
                    self.pending.remove(0);
                    sent += 1;
                }
                Ok((status, body)) => panic!(
                    "central refused a replayed event: {status} {}",
                    String::from_utf8_lossy(&body)
                ),
                Err(_) => break,
            }
        }
        sent
    }
}

#[test]
fn events_queued_during_an_outage_keep_the_gates_times() {
    // Default skew (300 s); events up to 6 hours old are honoured.
    let mut c = common::start("central-1", json!({ "max_event_age_secs": 6 * 3600 }));
    assert_eq!(
        put_fees(c.api_port, &[]).0,
        200,
        "15 min free, 25 000 per started hour"
    );

    // The central goes down; the gates keep working and the edge queues what it cannot send.
    common::stop(&mut c);
    let now = now_secs();
    let mut edge = EdgeQueue {
        pending: Vec::new(),
    };
    edge.push(
        c.api_port,
        gate("ENTRY", "30A20000", now - 20.0 * 60.0, "edge-1-late-entry"),
    );
    edge.push(
        c.api_port,
        gate("ENTRY", "30A30000", now - 5.0 * 3600.0, "edge-1-long-stay"),
    );
    edge.push(
        c.api_port,
        gate("EXIT", "30A30000", now - 2.0 * 3600.0, "edge-2-late-exit"),
    );
    edge.push(
        c.api_port,
        gate("ENTRY", "30A40000", now - 30.0 * 3600.0, "edge-1-ancient"),
    );
    edge.push(
        c.api_port,
        gate("ENTRY", "30A50000", now + 3600.0, "edge-1-future"),
    );
    assert_eq!(
        edge.pending.len(),
        5,
        "nothing reached the central while it was down"
    );

    // The central comes back; the edge replays its queue with the original timestamps.
    common::restart(&mut c);
    assert_eq!(edge.flush(c.api_port), 5);
    // The late-entered car leaves now, on time.
    let (status, v) = common::json(
        c.api_port,
        "POST",
        "/api/edge/event",
        Some(&gate("EXIT", "30A20000", now_secs(), "edge-2-on-time")),
    );
    assert_eq!(status, 200, "{v}");

    let rows = history(c.api_port);
    // Entered 20 minutes before its replay: billed from the gate's time (20 min, 15 free: one
    // started hour), not from the replay (which would be free).
    let short = row(&rows, "30A20000");
    assert_eq!(short["fee"], 25_000, "{short}");
    assert_eq!(
        (short["entry_late"].as_bool(), short["exit_late"].as_bool()),
        (Some(true), Some(false))
    );
    assert_eq!(short["time_clamped"], false);
    // In at -5 h, out at -2 h, the exit replayed 2 hours late: 3 h at the gates (2.75 h after the
    // free quarter: 3 started hours), not 5 h.
    let long = row(&rows, "30A30000");
    assert_eq!(
        (long["status"].as_str(), long["fee"].as_i64()),
        (Some("OUT"), Some(75_000)),
        "{long}"
    );
    assert_eq!(long["duration"], "3 giờ 0 phút", "{long}");
    assert_eq!(
        (long["entry_late"].as_bool(), long["exit_late"].as_bool()),
        (Some(true), Some(true))
    );
    // Older than max_event_age_secs: filed at the server's time, and flagged.
    let ancient = row(&rows, "30A40000");
    assert_eq!(
        (
            ancient["time_clamped"].as_bool(),
            ancient["entry_late"].as_bool()
        ),
        (Some(true), Some(true)),
        "{ancient}"
    );
    let filed_at = ancient["entry_time"].as_str().unwrap();
    assert_ne!(filed_at, short["entry_time"].as_str().unwrap());
    // Too far in the future: clamped, not late.
    let future = row(&rows, "30A50000");
    assert_eq!(
        (
            future["time_clamped"].as_bool(),
            future["entry_late"].as_bool()
        ),
        (Some(true), Some(false)),
        "{future}"
    );
}

#[test]
fn a_lot_camera_stranger_is_counted_at_its_lot() {
    let c = common::start("central-1", json!({}));
    let sync = json!({ "edge_cameras": { "9": { "name": "Zone C", "ip": "127.0.0.2", "camera_type": "PARKING_LOT", "parking_lot_capacity": 5 } } });
    assert_eq!(
        common::json(c.api_port, "POST", "/api/edge/sync-config", Some(&sync)).0,
        200
    );
    // The in-lot edge does not know the car as inside, so it sends an ENTRY from its camera.
    let seen = json!({ "type": "ENTRY", "camera_id": 9, "camera_name": "Zone C", "camera_type": "PARKING_LOT",
                       "timestamp": now_secs(), "event_id": "edge-9-stranger",
                       "data": { "plate_text": "30A77777", "confidence": 0.8, "is_anomaly": true, "location": "Zone C" } });
    let (status, v) = common::json(c.api_port, "POST", "/api/edge/event", Some(&seen));
    assert_eq!(status, 200, "{v}");
    let (_, occ) = common::json(c.api_port, "GET", "/api/parking/occupancy", None);
    let zone = occ["parking_lots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["camera"]["name"] == "Zone C")
        .cloned()
        .unwrap_or_else(|| panic!("no Zone C: {occ}"));
    assert_eq!(zone["occupancy"]["occupied"], 1, "{zone}");
    assert_eq!(zone["occupancy"]["available"], 4);
    let car = &zone["occupancy"]["vehicles"][0];
    assert_eq!(
        (car["plate_id"].as_str(), car["is_anomaly"].as_bool()),
        (Some("30A77777"), Some(true))
    );
    let rows = history(c.api_port);
    let r = row(&rows, "30A77777");
    assert_eq!(
        (r["status"].as_str(), r["last_location"].as_str()),
        (Some("IN"), Some("Zone C"))
    );

    // When the car then leaves through a gate, its stay is closed and the lot is empty again.
    let (status, v) = common::json(
        c.api_port,
        "POST",
        "/api/edge/event",
        Some(&gate("EXIT", "30A77777", now_secs(), "edge-2-out")),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["exception"], false, "{v}");
    let (_, occ) = common::json(c.api_port, "GET", "/api/parking/occupancy", None);
    assert_eq!(occ["parking_lots"][0]["occupancy"]["occupied"], 0, "{occ}");
}

#[test]
fn put_config_applies_keys_live_and_names_the_ones_that_need_a_restart() {
    let c = common::start(
        "central-1",
        json!({ "admin_token": TOKEN, "admin_networks": [] }),
    );
    let old = format!("Bearer {TOKEN}");
    let rotated = "site-test-rotated-token-4567";
    let new = format!("Bearer {rotated}");
    let (status, v) = send(
        c.api_port,
        "PUT",
        "/api/p2p/config",
        &json!({ "admin_token": rotated, "max_event_age_secs": 3600, "plate_policy": "strict" }),
        &[("Authorization", &old)],
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["message"], "Configuration saved and applied");
    assert_eq!(v["restart_required"], json!([]));
    assert_eq!(
        v["applied"],
        json!(["admin_token", "plate_policy", "max_event_age_secs"])
    );
    // The old token is refused at once, the new one works.
    assert_eq!(put_fees(c.api_port, &[("Authorization", &old)]).0, 403);
    assert_eq!(put_fees(c.api_port, &[("Authorization", &new)]).0, 200);
    // The strict plate policy is in force for the next edge event.
    let (status, v) = common::json(
        c.api_port,
        "POST",
        "/api/edge/event",
        Some(&gate("ENTRY", "ABCDEFGH", now_secs(), "edge-1-odd")),
    );
    assert_eq!(status, 400, "strict policy applied live: {v}");
    // So is the new event age: a 2-hour-old replay is now clamped.
    let (status, v) = common::json(
        c.api_port,
        "POST",
        "/api/edge/event",
        Some(&gate(
            "ENTRY",
            "30A60000",
            now_secs() - 7200.0,
            "edge-1-old",
        )),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(row(&history(c.api_port), "30A60000")["time_clamped"], true);

    // Keys read at start are saved, and named.
    let (status, v) = send(
        c.api_port,
        "PUT",
        "/api/p2p/config",
        &json!({ "timezone": "UTC", "bind": "0.0.0.0" }),
        &[("Authorization", &new)],
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["restart_required"], json!(["bind", "timezone"]), "{v}");
    let message = v["message"].as_str().unwrap();
    assert!(
        message.contains("next start") && message.contains("timezone"),
        "{message}"
    );
    let saved: Value = serde_json::from_slice(&std::fs::read(&c.config_path).unwrap()).unwrap();
    assert_eq!(saved["timezone"], "UTC");
}
