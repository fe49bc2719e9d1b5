//! The network's watch list and the edge's detection preview through the binary, with two real
//! centrals on loopback: a plate listed at one central is listed at the other; there
//! `POST /api/edge/detection` refuses a `deny` plate (and a plate confusable with it) in the
//! original's shape, while the gate's own ENTRY of it is still recorded; removing it is
//! replicated too.

mod common;

use serde_json::{Value, json};

use common::{SECRET, now_secs};

fn listed(c: &common::Central) -> Vec<Value> {
    let (status, v) = common::json(c.api_port, "GET", "/api/watchlist", None);
    assert_eq!(status, 200, "{v}");
    v["watchlist"].as_array().cloned().unwrap_or_default()
}

fn detect(c: &common::Central, plate: &str, direction: &str) -> Value {
    let body = json!({ "edge_id": "1", "plate_id": plate, "plate_view": plate, "camera_type": "car",
        "direction": direction, "confidence": 0.93 });
    let (status, v) = common::json(c.api_port, "POST", "/api/edge/detection", Some(&body));
    assert_eq!(status, 200, "{v}");
    v
}

#[test]
fn a_watch_list_is_shared_and_denies_at_the_other_central() {
    let m = common::plan(&["central-a", "central-b"]);
    let a = common::start_member(&m, 0, &[1], SECRET, json!({}));
    let b = common::start_member(&m, 1, &[0], SECRET, json!({}));
    common::eventually("mesh connected", || {
        (common::connected(&a) && common::connected(&b)).then_some(())
    });

    let add = json!({ "plate": "51G-555.55", "reason": "stolen", "action": "deny" });
    let (status, v) = common::json(a.api_port, "POST", "/api/watchlist", Some(&add));
    assert_eq!(status, 200, "{v}");
    for bad in [
        json!({ "plate": "51G55555", "action": "maybe" }),
        json!({ "plate": "", "action": "alert" }),
        json!({ "action": "alert" }),
    ] {
        let (status, v) = common::json(a.api_port, "POST", "/api/watchlist", Some(&bad));
        assert_eq!(status, 400, "{bad} -> {v}");
    }
    let rows = common::eventually("the entry replicated to B", || {
        let rows = listed(&b);
        (!rows.is_empty()).then_some(rows)
    });
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["plate_id"], "51G55555");
    assert_eq!(rows[0]["action"], "deny");
    assert_eq!(rows[0]["reason"], "stolen");

    // B refuses the plate, and a misread of it, in the original's shape.
    for plate in ["51G55555", "51G5555S"] {
        let v = detect(&b, plate, "ENTRY");
        assert_eq!(v["success"], true, "{v}");
        assert_eq!(v["allowed"], false, "{v}");
        assert_eq!(v["reason"], "stolen", "{v}");
        assert_eq!(v["vehicle_info"]["plate_id"], plate);
        assert_eq!(v["vehicle_info"]["already_inside"], false);
        assert_eq!(v["vehicle_info"]["watchlist"]["plate_id"], "51G55555");
    }
    // The car is physically there: its entry is still recorded.
    let t0 = now_secs() - 2.0 * 3600.0;
    common::post_event(b.api_port, &common::edge_event("ENTRY", "51G55555", t0));
    let v = detect(&b, "51G55555", "ENTRY");
    assert_eq!(v["vehicle_info"]["already_inside"], true, "{v}");
    assert_eq!(v["allowed"], false);

    // An unlisted car inside: allowed, with what it would pay now.
    common::post_event(a.api_port, &common::edge_event("ENTRY", "29A12345", t0));
    let v = common::eventually("the entry replicated to B", || {
        let v = detect(&b, "29A12345", "EXIT");
        (v["vehicle_info"]["has_entry"] == true).then_some(v)
    });
    assert_eq!(v["allowed"], true, "{v}");
    assert_eq!(v["vehicle_info"]["entry_from"], "central-a");
    assert!(
        v["vehicle_info"]["fee"].as_i64().is_some_and(|f| f > 0),
        "{v}"
    );
    assert!(v.get("reason").is_none(), "{v}");
    let (status, v) = common::json(
        b.api_port,
        "POST",
        "/api/edge/detection",
        Some(&json!({ "plate_id": "AB1", "direction": "ENTRY" })),
    );
    assert_eq!(status, 400, "a plate shorter than 6 characters: {v}");

    // Taken off at B, gone at A.
    let (status, v) = common::json(b.api_port, "DELETE", "/api/watchlist/51G55555", None);
    assert_eq!(status, 200, "{v}");
    common::eventually("the removal replicated to A", || {
        listed(&a).is_empty().then_some(())
    });
    let (status, v) = common::json(b.api_port, "DELETE", "/api/watchlist/51G55555", None);
    assert_eq!(status, 404, "{v}");
    assert_eq!(detect(&a, "51G55555", "EXIT")["allowed"], true);
    assert!(common::panics(&a).is_empty() && common::panics(&b).is_empty());
}
