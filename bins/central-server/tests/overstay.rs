//! Overstays through the binary: with `max_stay_hours` set, a car inside for longer is flagged
//! on its row of `GET /api/parking/state`, counted beside it and in `/metrics`; a car that
//! arrived later is not.

mod common;

use serde_json::json;

use common::now_secs;

fn overstay_metric(port: u16) -> Option<i64> {
    let (status, body) = common::request(port, "GET", "/metrics", None, &[]).ok()?;
    assert_eq!(status, 200);
    String::from_utf8_lossy(&body)
        .lines()
        .find_map(|l| l.strip_prefix("parkmesh_overstay_sessions "))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn a_car_inside_longer_than_max_stay_is_flagged_and_counted() {
    let a = common::start("central-a", json!({ "max_stay_hours": 1 }));
    assert_eq!(overstay_metric(a.api_port), Some(0));
    let now = now_secs();
    common::post_event(
        a.api_port,
        &common::edge_event("ENTRY", "30A11111", now - 7200.0),
    );
    common::post_event(
        a.api_port,
        &common::edge_event("ENTRY", "30A22222", now - 600.0),
    );
    let (status, v) = common::json(a.api_port, "GET", "/api/parking/state", None);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["overstays"], 1, "{v}");
    let rows = v["vehicles_in_parking"].as_array().unwrap();
    let flag = |plate: &str| {
        rows.iter()
            .find(|r| r["plate_id"] == plate)
            .map(|r| r["overstay"].clone())
    };
    assert_eq!(flag("30A11111"), Some(json!(true)));
    assert_eq!(flag("30A22222"), Some(json!(false)));
    assert_eq!(overstay_metric(a.api_port), Some(1));

    let off = common::start("central-b", json!({}));
    common::post_event(
        off.api_port,
        &common::edge_event("ENTRY", "30A11111", now - 7200.0),
    );
    let (_, v) = common::json(off.api_port, "GET", "/api/parking/state", None);
    assert_eq!(v["overstays"], 0, "max_stay_hours 0 is off: {v}");
    assert_eq!(overstay_metric(off.api_port), Some(0));
}
