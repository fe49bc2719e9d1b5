//! `GET /metrics` against real centrals: the scrape parses as Prometheus text, every listed
//! series is there, and the figures move after edge traffic, replication and a refused mesh
//! connection; `metrics: false` turns the endpoint off; remembered edge requests are pruned after
//! `edge_request_retention_secs` and the gauge shows the table's size.

mod common;

use futures_util::{SinkExt, StreamExt};
use prometheus_parse::{Sample, Scrape, Value as PValue};
use serde_json::{Value, json};

use common::{SECRET, now_secs};

fn entry(plate: &str, event_id: &str) -> Value {
    json!({ "type": "ENTRY", "camera_id": 1, "camera_name": "Gate", "camera_type": "ENTRY",
            "timestamp": now_secs(), "event_id": event_id,
            "data": { "plate_text": plate, "confidence": 0.9, "source": "auto" } })
}

fn post(port: u16, ev: &Value) -> Value {
    common::post_event(port, ev)
}

/// Scrapes and parses `/metrics`; checks the content type and that every sample has a type.
fn scrape(port: u16) -> Scrape {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    use std::io::{Read, Write};
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    let scrape = Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).unwrap();
    // The parser types a histogram's buckets but leaves its `_sum` and `_count` untyped.
    let histograms: Vec<&str> = scrape
        .samples
        .iter()
        .filter(|s| matches!(s.value, PValue::Histogram(_)))
        .map(|s| s.metric.as_str())
        .collect();
    for sample in &scrape.samples {
        if let PValue::Untyped(_) = sample.value {
            let base = sample
                .metric
                .strip_suffix("_sum")
                .or_else(|| sample.metric.strip_suffix("_count"));
            assert!(
                base.is_some_and(|b| histograms.contains(&b)),
                "sample without a TYPE line: {sample:?}"
            );
        }
    }
    scrape
}

fn labels_match(s: &Sample, labels: &[(&str, &str)]) -> bool {
    labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
}

/// The value of a counter or gauge (the count of a histogram), if the series exists.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels_match(s, labels))
        .map(|s| match &s.value {
            PValue::Counter(v) | PValue::Gauge(v) | PValue::Untyped(v) => *v,
            PValue::Histogram(b) => b.iter().map(|c| c.count).fold(0.0, f64::max),
            PValue::Summary(_) => f64::NAN,
        })
}

fn must(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    value(scrape, name, labels).unwrap_or_else(|| {
        let names: Vec<&str> = scrape.samples.iter().map(|s| s.metric.as_str()).collect();
        panic!("series {name}{labels:?} missing; have {names:?}")
    })
}

/// Opens a mesh connection and sends something that is not a handshake; the central must refuse
/// it (`protocol_error`) before any event is exchanged.
fn refused_connection(p2p_port: u16) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let url = format!("ws://127.0.0.1:{p2p_port}/p2p/v2");
        let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .unwrap();
        ws.send(tokio_tungstenite::tungstenite::Message::text(
            "{\"type\":\"not-a-hello\"}",
        ))
        .await
        .unwrap();
        // Read until the central closes the connection.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(30), async {
            while let Some(Ok(_)) = ws.next().await {}
        })
        .await;
    });
}

#[test]
fn metrics_list_every_series_and_move_with_traffic() {
    let m = common::plan(&["central-a", "central-b", "central-c"]);
    let a = common::start_member(&m, 0, &[1, 2], SECRET, json!({}));
    let b = common::start_member(&m, 1, &[0, 2], SECRET, json!({}));
    let _c = common::start_member(&m, 2, &[0, 1], SECRET, json!({}));
    common::eventually("both links of A up in /metrics", || {
        let s = scrape(a.api_port);
        (value(&s, "parkmesh_peer_up", &[("peer", "central-b")]) == Some(1.0)
            && value(&s, "parkmesh_peer_up", &[("peer", "central-c")]) == Some(1.0))
        .then_some(())
    });
    let before = scrape(a.api_port);

    // Traffic: entries at A (one repeated) and at B, a refused request, a history socket.
    for i in 0..5 {
        post(
            a.api_port,
            &entry(&format!("51A1000{i}"), &format!("a-{i}")),
        );
    }
    post(a.api_port, &entry("51A10000", "a-0"));
    post(b.api_port, &entry("30B20000", "b-0"));
    let (status, _) = common::json(a.api_port, "POST", "/api/edge/event", Some(&json!([])));
    assert_eq!(status, 400);
    refused_connection(a.p2p_port);

    let after = common::eventually("A stored B's entry and counted the refusal", || {
        let s = scrape(a.api_port);
        (value(
            &s,
            "parkmesh_events_ingested_total",
            &[("kind", "vehicle.entry"), ("source", "peer")],
        ) == Some(1.0)
            && value(
                &s,
                "parkmesh_handshake_refusals_total",
                &[("reason", "protocol_error")],
            ) == Some(1.0)
            // Six entries, and each central's time zone announcement.
            && value(&s, "parkmesh_log_events", &[]) == Some(9.0))
        .then_some(s)
    });

    let edge = [("kind", "vehicle.entry"), ("source", "edge")];
    assert_eq!(must(&after, "parkmesh_events_ingested_total", &edge), 5.0);
    assert_eq!(must(&after, "parkmesh_log_events", &[]), 9.0);
    assert_eq!(must(&after, "parkmesh_edge_requests", &[]), 5.0);
    assert_eq!(
        must(&after, "parkmesh_ingest_answer_seconds_count", &[]),
        6.0,
        "five stored and one repeat answered"
    );
    assert!(
        must(&after, "parkmesh_commit_batch_size_count", &[])
            > must(&before, "parkmesh_commit_batch_size_count", &[])
    );
    assert!(must(&after, "parkmesh_commit_fsync_seconds_count", &[]) >= 1.0);
    assert!(
        must(
            &after,
            "parkmesh_http_requests_refused_total",
            &[("class", "4xx")]
        ) >= 1.0
    );
    assert!(must(&after, "parkmesh_database_size_bytes", &[]) > 0.0);
    assert_eq!(must(&after, "parkmesh_conflicts_open", &[]), 0.0);
    for peer in ["central-b", "central-c"] {
        let p = [("peer", peer)];
        assert_eq!(must(&after, "parkmesh_peer_up", &p), 1.0);
        for series in [
            "parkmesh_peer_received_bytes_total",
            "parkmesh_peer_sent_bytes_total",
            "parkmesh_peer_received_frames_total",
            "parkmesh_peer_sent_frames_total",
        ] {
            assert!(
                must(&after, series, &p) > must(&before, series, &p),
                "{series} for {peer} did not move"
            );
        }
        must(&after, "parkmesh_peer_catchup_remaining_events", &p);
        let lagging: Vec<&Sample> = after
            .samples
            .iter()
            .filter(|s| s.metric == "parkmesh_peer_lag_events" && labels_match(s, &p))
            .collect();
        // A, B and C (C's stream holds its time zone announcement).
        assert_eq!(
            lagging.len(),
            3,
            "one lag series per stream held: {lagging:?}"
        );
        let stream = lagging[0].labels.get("stream").unwrap_or_default();
        must(
            &after,
            "parkmesh_peer_lag_seconds",
            &[("peer", peer), ("stream", stream)],
        );
    }
    common::eventually("a round trip measured for each peer", || {
        let s = scrape(a.api_port);
        ["central-b", "central-c"]
            .iter()
            .all(|p| {
                value(&s, "parkmesh_peer_rtt_seconds", &[("peer", p)]).is_some_and(|v| v > 0.0)
            })
            .then_some(())
    });

    // A WebSocket client shows while connected.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = format!("ws://127.0.0.1:{}/ws/history", a.api_port);
    let ws = rt
        .block_on(tokio_tungstenite::connect_async(url.as_str()))
        .unwrap();
    common::eventually("one /ws/history client", || {
        (value(
            &scrape(a.api_port),
            "parkmesh_websocket_clients",
            &[("socket", "history")],
        ) == Some(1.0))
        .then_some(())
    });
    drop(ws);
    common::eventually("no /ws/history client", || {
        (value(
            &scrape(a.api_port),
            "parkmesh_websocket_clients",
            &[("socket", "history")],
        ) == Some(0.0))
        .then_some(())
    });

    // A peer that goes away shows as down, with its lag growing.
    drop(_c);
    post(a.api_port, &entry("51A19999", "a-late"));
    common::eventually("central-c down and lagging in A's metrics", || {
        let s = scrape(a.api_port);
        let lag: f64 = s
            .samples
            .iter()
            .filter(|x| {
                x.metric == "parkmesh_peer_lag_events" && labels_match(x, &[("peer", "central-c")])
            })
            .map(|x| match x.value {
                PValue::Gauge(v) => v,
                _ => 0.0,
            })
            .sum();
        (value(&s, "parkmesh_peer_up", &[("peer", "central-c")]) == Some(0.0) && lag >= 1.0)
            .then_some(())
    });
    assert!(common::panics(&a).is_empty(), "{:?}", common::panics(&a));
}

#[test]
fn metrics_can_be_turned_off() {
    let c = common::start("central-a", json!({ "metrics": false }));
    let (status, body) = common::request(c.api_port, "GET", "/metrics", None, &[]).unwrap();
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
    let (status, _) = common::json(c.api_port, "GET", "/", None);
    assert_eq!(status, 200);
}

#[test]
fn old_edge_requests_are_pruned_and_counted() {
    let c = common::start("central-a", json!({ "edge_request_retention_secs": 2 }));
    for i in 0..3 {
        post(
            c.api_port,
            &entry(&format!("51C3000{i}"), &format!("r-{i}")),
        );
    }
    assert_eq!(
        must(&scrape(c.api_port), "parkmesh_edge_requests", &[]),
        3.0
    );
    // A repeat within the retention gets the first answer.
    let again = post(c.api_port, &entry("51C30000", "r-0"));
    assert_eq!(again["deduped"], true, "{again}");
    // Once they are older than the retention, the next write (a heartbeat here) prunes them.
    let pruned = common::eventually("the three old requests pruned", || {
        std::thread::sleep(std::time::Duration::from_millis(500));
        let (status, v) = common::json(
            c.api_port,
            "POST",
            "/api/edge/heartbeat",
            Some(&json!({ "camera_id": 1 })),
        );
        assert_eq!(status, 200, "{v}");
        let s = scrape(c.api_port);
        (value(&s, "parkmesh_edge_requests_pruned_total", &[]) == Some(3.0)).then_some(s)
    });
    assert_eq!(must(&pruned, "parkmesh_edge_requests", &[]), 0.0);
    // Forgotten: the same request is now a new one (the plate is inside, so it is refused as
    // such instead of getting the first answer).
    let (status, v) = common::json(
        c.api_port,
        "POST",
        "/api/edge/event",
        Some(&entry("51C30000", "r-0")),
    );
    assert_eq!(v.get("deduped"), None, "{status} {v}");
}
