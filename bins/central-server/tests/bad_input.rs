//! A bad-input sweep over every HTTP endpoint and the WebSocket endpoints: malformed and
//! truncated JSON, wrong types, empty and huge strings, non-UTF-8, absurd numbers, SQL
//! metacharacters, path traversal, unknown fields. Every answer must be a 4xx JSON failure (or,
//! for harmless extra fields, a normal answer), the central must stay up, and the database must
//! be unchanged by what was refused.

mod common;

use serde_json::{Value, json};

/// Bodies every JSON endpoint must refuse.
fn bad_bodies() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("truncated", br#"{"type": "ENTRY", "camera_id": 1, "data": {"plate_te"#.to_vec()),
        ("not json", b"plate=30A12345".to_vec()),
        ("array", b"[]".to_vec()),
        ("number", b"42".to_vec()),
        ("null", b"null".to_vec()),
        ("empty", Vec::new()),
        ("non-utf8", vec![b'{', 0xc3, 0x28, b'}']),
        ("nested garbage", br#"{"fees": {"fee_base": "lots", "fee_per_hour": [1]}}"#.to_vec()),
        ("absurd numbers", br#"{"fees": {"fee_base": 1e308, "fee_per_hour": -99999999999999999999}}"#.to_vec()),
        ("sql", br#"{"type": "ENTRY'; DROP TABLE events;--", "camera_id": "1; DROP TABLE cameras", "data": {"plate_text": "' OR 1=1 --"}}"#.to_vec()),
        ("empty strings", br#"{"type": "", "camera_id": "", "data": {"plate_text": ""}, "id": "", "ip": "", "proof": "", "this_central": {"id": ""}}"#.to_vec()),
        ("absurd timestamp", br#"{"type": "EXIT", "camera_id": 1, "events_sent": 1e300, "timestamp": -1e300, "data": {"plate_text": ""}, "ts": -9223372036854775808, "id": "central-2", "proof": "00"}"#.to_vec()),
        ("deep nesting", format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes()),
        ("wrong types", br#"{"type": 5, "camera_id": {"a": 1}, "data": "x", "this_central": 7, "peer_centrals": "none"}"#.to_vec()),
    ]
}

/// JSON endpoints: (method, path).
const JSON_ENDPOINTS: &[(&str, &str)] = &[
    ("POST", "/api/edge/event"),
    ("POST", "/api/edge/heartbeat"),
    ("PUT", "/api/parking/fees"),
    ("PUT", "/api/p2p/config"),
    ("POST", "/api/p2p/register-peer"),
    ("POST", "/api/p2p/add-peer"),
];

/// Paths that must answer 4xx JSON whatever the method.
const BAD_PATHS: &[(&str, &str)] = &[
    ("GET", "/api/parking/history?limit=-1"),
    ("GET", "/api/parking/history?limit=999999999999999999999"),
    ("GET", "/api/parking/history?offset=abc"),
    ("GET", "/api/parking/history?status=../../etc/passwd"),
    (
        "GET",
        "/api/parking/history?search=%27%20OR%201%3D1%20--%20%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25%25",
    ),
    ("GET", "/api/../../etc/passwd"),
    ("GET", "/api/parking/history/..%2F..%2Fetc%2Fpasswd"),
    ("POST", "/api/p2p/test-connection"),
    ("POST", "/api/p2p/test-connection?peer_id=../../x"),
    ("POST", "/api/p2p/unregister-peer?peer_id=central-9"),
    ("DELETE", "/api/stats"),
    ("GET", "/no/such/endpoint"),
    ("GET", "/api/reports/daily?from=2026-02-30&to=2026-03-01"),
    ("GET", "/api/reports/daily?from=-99999-01-01&to=99999-12-31"),
    (
        "GET",
        "/api/reports/daily?from=2026-01-01&to=2026-01-02&site=%00%27",
    ),
    (
        "GET",
        "/api/reports/cross-site?from=2026-01-02&to=2026-01-01",
    ),
    ("GET", "/reports?from=0000-00-00&to=9999-99-99"),
    ("POST", "/api/reports/daily"),
];

fn state(c: &common::Central) -> (Value, Value) {
    let (_, h) = common::json(c.api_port, "GET", "/api/parking/history?limit=1000", None);
    let (_, s) = common::json(c.api_port, "GET", "/api/p2p/sync-state", None);
    (h["history"].clone(), s["local_vector"].clone())
}

#[test]
fn every_endpoint_refuses_bad_input_cleanly() {
    let c = common::start(
        "central-1",
        json!({ "cluster_secret": "test-cluster-secret-0123456789" }),
    );
    // One real session so "unchanged" is not trivially empty.
    let ok = json!({"type": "ENTRY", "camera_id": 1, "data": {"plate_text": "30A12345"}});
    assert_eq!(
        common::json(c.api_port, "POST", "/api/edge/event", Some(&ok)).0,
        200
    );
    let before = state(&c);
    let mut tried = 0;
    for (method, path) in JSON_ENDPOINTS {
        for (name, body) in bad_bodies() {
            let (status, answer) = common::request(c.api_port, method, path, Some(&body), &[])
                .unwrap_or_else(|e| panic!("{method} {path} {name}: no HTTP answer ({e})"));
            let text = String::from_utf8_lossy(&answer).to_string();
            assert!(
                (400..500).contains(&status),
                "{method} {path} with {name}: {status} {text}"
            );
            let v: Value = serde_json::from_slice(&answer)
                .unwrap_or_else(|_| panic!("{method} {path} {name}: not JSON: {text}"));
            assert_eq!(v["success"], false, "{method} {path} {name}");
            assert!(
                v["error"].as_str().is_some_and(|e| !e.is_empty()),
                "{method} {path} {name}: error names the problem"
            );
            tried += 1;
        }
        // A body over the limit, refused on its Content-Length before it is read.
        let (status, _) = common::request(
            c.api_port,
            method,
            path,
            None,
            &[
                ("Content-Type", "application/json"),
                ("Content-Length", "10485760"),
            ],
        )
        .unwrap();
        assert_eq!(status, 413, "{method} {path} oversize");
        tried += 1;
    }
    for (method, path) in BAD_PATHS {
        let (status, answer) = common::request(c.api_port, method, path, Some(b"{}"), &[]).unwrap();
        let text = String::from_utf8_lossy(&answer).to_string();
        assert!(
            (400..500).contains(&status),
            "{method} {path}: {status} {text}"
        );
        let v: Value = serde_json::from_slice(&answer)
            .unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text}"));
        assert_eq!(v["success"], false);
        tried += 1;
    }
    // Unknown extra fields are ignored, not fatal.
    let extra = json!({"type": "ENTRY", "camera_id": 1, "data": {"plate_text": "30A67890", "color": "red"}, "future": [1, 2]});
    assert_eq!(
        common::json(c.api_port, "POST", "/api/edge/event", Some(&extra)).0,
        200
    );
    let after = state(&c);
    assert_eq!(
        after.0.as_array().map(Vec::len),
        before.0.as_array().map(|v| v.len() + 1),
        "only the valid event was stored"
    );
    assert!(tried > 80, "{tried} bad inputs tried");
    assert_eq!(
        common::panics(&c),
        Vec::<String>::new(),
        "no handler panicked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_endpoints_survive_garbage() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let c = common::start("central-1", json!({}));
    for path in ["/ws/history", "/ws/cameras", "/ws/edge"] {
        let (mut ws, _) =
            tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}{path}", c.api_port))
                .await
                .unwrap();
        for msg in [
            Message::text("{nope"),
            Message::binary(vec![0xff; 64]),
            Message::text("x".repeat(300 * 1024)),
        ] {
            let _ = ws.send(msg).await;
        }
        // Drain until the server closes or stays quiet; either way it must still serve.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
            while let Some(Ok(_)) = ws.next().await {}
        })
        .await;
    }
    let (status, _) = common::json(c.api_port, "GET", "/api/stats", None);
    assert_eq!(status, 200);
    assert_eq!(
        common::panics(&c),
        Vec::<String>::new(),
        "no handler panicked"
    );
}

/// Every leaf of `v` (by JSON pointer).
fn leaves(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => m
            .iter()
            .for_each(|(k, x)| leaves(x, format!("{at}/{k}"), out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| leaves(x, format!("{at}/{i}"), out)),
        _ => out.push(at),
    }
}

/// Each field of a valid body of every JSON endpoint, replaced in turn by each absurd value:
/// the answer is a 2xx or a 4xx JSON error, never a 5xx or a dropped connection, and no handler
/// panics. (Some replacements are valid, e.g. an empty optional name; those may succeed.)
#[test]
fn every_field_of_every_body_survives_absurd_values() {
    let token = "sweep-token-0123456789";
    let c = common::start(
        "central-1",
        json!({ "admin_token": token, "max_clock_skew_secs": 86400 }),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let entry = json!({ "type": "ENTRY", "camera_id": 1, "camera_name": "Gate", "camera_type": "ENTRY",
        "timestamp": now, "event_id": "e-1", "data": { "plate_text": "30A12345", "confidence": 0.9, "source": "auto" } });
    let (status, v) = common::json(c.api_port, "POST", "/api/edge/event", Some(&entry));
    assert_eq!(status, 200, "{v}");
    let (_, h) = common::json(c.api_port, "GET", "/api/parking/history", None);
    let row = h["history"][0]["id"].as_i64().unwrap();
    let history = format!("/api/parking/history/{row}");
    let bodies: Vec<(&str, &str, Value)> = vec![
        ("POST", "/api/edge/event", entry.clone()),
        (
            "POST",
            "/api/edge/heartbeat",
            json!({ "camera_id": 1, "camera_name": "Gate", "camera_type": "ENTRY", "events_sent": 3, "events_failed": 0 }),
        ),
        (
            "PUT",
            &history,
            json!({ "plate_id": "30A12346", "plate_view": "30A-123.46" }),
        ),
        (
            "PUT",
            "/api/parking/fees",
            json!({ "fees": { "fee_base": 1.0, "fee_per_hour": 30000 } }),
        ),
        (
            "PUT",
            "/api/subscriptions",
            json!({ "subscriptions": [{ "id": 1, "plate_number": "51F99999", "owner_name": "ACME",
            "type": "company", "status": "active", "start_date": "2020-01-01", "end_date": "2030-01-01" }] }),
        ),
        (
            "PUT",
            "/api/staff",
            json!({ "staff": [{ "id": 1, "name": "Lan", "shift": "day", "status": "active" }] }),
        ),
        (
            "POST",
            "/api/config",
            json!({ "edge_cameras": { "3": { "name": "Exit", "ip": "", "camera_type": "EXIT" } } }),
        ),
        (
            "POST",
            "/api/edge/sync-config",
            json!({ "edge_cameras": { "9": { "name": "Zone", "ip": "", "camera_type": "PARKING_LOT", "parking_lot_capacity": 5 } } }),
        ),
        (
            "POST",
            "/api/parking/manual-entry",
            json!({ "plate_text": "51F-678.90", "camera_type": "ENTRY", "camera_id": 1, "camera_name": "Gate" }),
        ),
        (
            "POST",
            "/api/p2p/register-peer",
            json!({ "id": "central-2", "ip": "127.0.0.1", "api_port": 1, "p2p_port": 2, "ts": 0, "proof": "00" }),
        ),
    ];
    let absurd = [
        json!(i64::MAX),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(1e308),
        json!(-1e308),
        json!(-1),
        json!(0.5),
        json!(""),
        json!("x".repeat(20_000)),
        json!("../../etc/passwd'; DROP TABLE events;--"),
        json!("9999-99-99"),
        Value::Null,
        json!(true),
        json!([]),
        json!({}),
    ];
    let auth = format!("Bearer {token}");
    let mut tried = 0;
    for (method, path, body) in &bodies {
        let mut fields = Vec::new();
        leaves(body, String::new(), &mut fields);
        for field in &fields {
            for value in &absurd {
                let mut b = body.clone();
                *b.pointer_mut(field).unwrap() = value.clone();
                let bytes = serde_json::to_vec(&b).unwrap();
                let (status, answer) = common::request(
                    c.api_port,
                    method,
                    path,
                    Some(&bytes),
                    &[("Authorization", &auth)],
                )
                .unwrap_or_else(|e| panic!("{method} {path} {field}={value}: no answer ({e})"));
                let text = String::from_utf8_lossy(&answer);
                assert!(
                    status < 500,
                    "{method} {path} {field}={value}: {status} {text}"
                );
                if status >= 400 {
                    let v: Value = serde_json::from_slice(&answer)
                        .unwrap_or_else(|_| panic!("{method} {path} {field}: not JSON: {text}"));
                    assert_eq!(v["success"], false, "{method} {path} {field}={value}");
                }
                tried += 1;
            }
        }
    }
    assert!(tried > 500, "{tried} mutations tried");
    assert_eq!(
        common::panics(&c),
        Vec::<String>::new(),
        "no handler panicked"
    );
    let (status, _) = common::json(c.api_port, "GET", "/api/stats", None);
    assert_eq!(status, 200);
}
