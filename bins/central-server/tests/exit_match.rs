//! Exit matching through the binary, with two real centrals on loopback: an exit read with a
//! look-alike character closes the real session with its fee and keeps both plates at both
//! centrals; an ambiguous one stays an exception listing its candidates; an operator's undo at
//! one central reopens the session and makes the exit an exception at the other.

mod common;

use serde_json::{Value, json};

use common::{SECRET, now_secs};

fn history(c: &common::Central, search: &str) -> Vec<Value> {
    let (_, h) = common::json(
        c.api_port,
        "GET",
        &format!("/api/parking/history?search={search}&limit=1000"),
        None,
    );
    h["history"].as_array().cloned().unwrap_or_default()
}

fn row<'a>(rows: &'a [Value], plate: &str) -> Option<&'a Value> {
    rows.iter().find(|r| r["plate_id"] == plate)
}

#[test]
fn confusable_exits_close_the_real_session_and_can_be_undone() {
    let m = common::plan(&["central-a", "central-b"]);
    let a = common::start_member(&m, 0, &[1], SECRET, json!({}));
    let b = common::start_member(&m, 1, &[0], SECRET, json!({}));
    common::eventually("mesh connected", || {
        (common::connected(&a) && common::connected(&b)).then_some(())
    });
    let t0 = now_secs() - 2.0 * 3600.0;

    // A car enters at A and leaves at B, read there as 51G1234S.
    common::post_event(a.api_port, &common::edge_event("ENTRY", "51G12345", t0));
    common::eventually("entry replicated to B", || {
        row(&history(&b, "51G"), "51G12345").map(|_| ())
    });
    let exit = common::post_event(
        b.api_port,
        &common::edge_event("EXIT", "51G1234S", t0 + 7200.0),
    );
    assert_eq!(
        exit["fee"], 50_000,
        "the fee runs from the real entry: {exit}"
    );
    for c in [&a, &b] {
        let rows = common::eventually("the match shows at both centrals", || {
            let rows = history(c, "51G");
            row(&rows, "51G12345")
                .is_some_and(|r| r["status"] == "OUT")
                .then_some(rows)
        });
        assert_eq!(rows.len(), 1, "one session, no exception: {rows:?}");
        let r = &rows[0];
        assert_eq!(r["fee"], 50_000);
        assert_eq!(r["exception"], false);
        assert_eq!(r["exit_plate"], "51G1234S");
        assert_eq!(r["plate_match"], "confusable");
    }

    // Two cars inside whose plates both look like the exit's read: no guess.
    common::post_event(a.api_port, &common::edge_event("ENTRY", "60B12340", t0));
    common::post_event(
        a.api_port,
        &common::edge_event("ENTRY", "60B1234O", t0 + 60.0),
    );
    common::eventually("entries replicated to B", || {
        let rows = history(&b, "60B");
        (rows.len() == 2).then_some(())
    });
    common::post_event(
        b.api_port,
        &common::edge_event("EXIT", "60B1234D", t0 + 3600.0),
    );
    let rows = common::eventually("the ambiguous exit reaches A", || {
        let rows = history(&a, "60B");
        (rows.len() == 3).then_some(rows)
    });
    let exc = row(&rows, "60B1234D").expect("the exception row");
    assert_eq!(exc["exception"], true, "{exc}");
    assert_eq!(exc["match_candidates"], json!(["60B12340", "60B1234O"]));
    assert_eq!(exc["plate_match"], Value::Null);
    for plate in ["60B12340", "60B1234O"] {
        assert_eq!(row(&rows, plate).unwrap()["status"], "IN", "{rows:?}");
    }

    // The operator at A undoes the first match; B shows the session open again and the exit as
    // an exception under the plate it was read as.
    let id = row(&history(&a, "51G"), "51G12345").unwrap()["id"].clone();
    let (status, v) = common::json(
        a.api_port,
        "POST",
        &format!("/api/parking/history/{id}/unmatch"),
        None,
    );
    assert_eq!(status, 200, "{v}");
    let (status, v) = common::json(
        a.api_port,
        "POST",
        &format!("/api/parking/history/{}/unmatch", exc["id"]),
        None,
    );
    assert_eq!(status, 400, "an exception has no match to undo: {v}");
    for c in [&a, &b] {
        let rows = common::eventually("the undo shows at both centrals", || {
            let rows = history(c, "51G");
            (rows.len() == 2).then_some(rows)
        });
        let real = row(&rows, "51G12345").unwrap();
        assert_eq!(real["status"], "IN", "{rows:?}");
        assert_eq!(real["exit_plate"], Value::Null);
        let read = row(&rows, "51G1234S").unwrap();
        assert_eq!(read["exception"], true, "{rows:?}");
        assert_eq!(read["match_candidates"], json!(["51G12345"]));
    }
    assert!(common::panics(&a).is_empty() && common::panics(&b).is_empty());
}

#[test]
fn exact_matching_leaves_a_misread_exit_an_exception() {
    let a = common::start("central-a", json!({ "exit_match": "exact" }));
    let t0 = now_secs() - 3600.0;
    common::post_event(a.api_port, &common::edge_event("ENTRY", "51G12345", t0));
    let exit = common::post_event(
        a.api_port,
        &common::edge_event("EXIT", "51G1234S", t0 + 600.0),
    );
    assert_eq!(exit["fee"], 0, "{exit}");
    let rows = history(&a, "51G");
    assert_eq!(row(&rows, "51G12345").unwrap()["status"], "IN");
    assert_eq!(row(&rows, "51G1234S").unwrap()["exception"], true);
}
