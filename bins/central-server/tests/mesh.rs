//! Real centrals replicating over loopback: entries and exits across sites, catch-up after an
//! outage, relay over a line topology, refusal of a wrong secret, concurrent entries during a
//! partition, and an exit that reaches a central before its entry.

mod common;

use serde_json::{Value, json};

use common::{SECRET, now_secs};

fn event(kind: &str, plate: &str, ts: f64) -> Value {
    common::edge_event(kind, plate, ts)
}

fn post(c: &common::Central, ev: &Value) -> Value {
    common::post_event(c.api_port, ev)
}

fn history(c: &common::Central, plate: &str) -> Vec<Value> {
    let (_, h) = common::json(
        c.api_port,
        "GET",
        &format!("/api/parking/history?search={plate}&limit=1000"),
        None,
    );
    h["history"].as_array().cloned().unwrap_or_default()
}

fn count(c: &common::Central) -> i64 {
    let (_, v) = common::json(c.api_port, "GET", "/api/p2p/status", None);
    v["peers"]
        .as_array()
        .map(|p| p.iter().filter(|p| p["connected"] == true).count() as i64)
        .unwrap_or(0)
}

#[test]
fn three_centrals_replicate_entries_and_exits() {
    let m = common::plan(&["central-a", "central-b", "central-c"]);
    let a = common::start_member(&m, 0, &[1, 2], SECRET, json!({}));
    let b = common::start_member(&m, 1, &[0, 2], SECRET, json!({}));
    let c = common::start_member(&m, 2, &[0, 1], SECRET, json!({}));
    common::eventually("full mesh connected", || {
        (count(&a) == 2 && count(&b) == 2 && count(&c) == 2).then_some(())
    });

    let t0 = now_secs() - 2.0 * 3600.0;
    post(&a, &event("ENTRY", "30A12345", t0));
    for node in [&b, &c] {
        let rows = common::eventually("entry visible on peers", || {
            let h = history(node, "30A12345");
            (h.len() == 1).then_some(h)
        });
        assert_eq!(rows[0]["status"], "IN");
        assert_eq!(rows[0]["sync_status"], "SYNCED");
        assert_eq!(rows[0]["source_central"], "central-a");
    }
    let exit = post(&c, &event("EXIT", "30A12345", t0 + 7200.0));
    assert_eq!(exit["fee"], 50_000, "the fee uses A's entry time: {exit}");
    for node in [&a, &b] {
        let rows = common::eventually("exit visible on every node", || {
            let h = history(node, "30A12345");
            (h.len() == 1 && h[0]["status"] == "OUT").then_some(h)
        });
        assert_eq!(rows[0]["fee"], 50_000);
    }
    let (status, rt) = common::json(
        a.api_port,
        "POST",
        "/api/p2p/test-connection?peer_id=central-b",
        None,
    );
    assert_eq!(status, 200, "{rt}");
    assert!(rt["rtt_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{rt}");
    let (status, _) = common::json(
        a.api_port,
        "POST",
        "/api/p2p/test-connection?peer_id=central-z",
        None,
    );
    assert_eq!(status, 404);
    let (_, st) = common::json(a.api_port, "GET", "/api/p2p/status", None);
    assert_eq!(st["standalone_mode"], false);
    assert_eq!(st["connected_peers"], 2, "{st}");
    for p in st["peers"].as_array().unwrap() {
        assert_eq!(p["status"], "connected");
    }
}

#[test]
fn a_restarted_central_catches_up_everything() {
    let m = common::plan(&["central-a", "central-b"]);
    let a = common::start_member(&m, 0, &[1], SECRET, json!({}));
    let mut b = common::start_member(&m, 1, &[0], SECRET, json!({}));
    common::eventually("connected", || (count(&a) == 1).then_some(()));
    common::stop(&mut b);

    let t0 = now_secs() - 3600.0;
    let n = 1000;
    for i in 0..n {
        post(&a, &event("ENTRY", &format!("51F{i:05}"), t0 + i as f64));
    }
    for i in 0..n / 5 {
        post(
            &a,
            &event("EXIT", &format!("51F{i:05}"), t0 + 1800.0 + i as f64),
        );
    }
    common::restart(&mut b);
    let (_, stats_a) = common::json(a.api_port, "GET", "/api/stats", None);
    common::eventually("b caught up", || {
        let (_, s) = common::json(b.api_port, "GET", "/api/stats", None);
        (s["vehicles_in_parking"] == stats_a["vehicles_in_parking"]
            && s["exits_today"] == stats_a["exits_today"])
            .then_some(())
    });
    let (_, h) = common::json(b.api_port, "GET", "/api/parking/history?limit=1000", None);
    assert_eq!(h["count"], n);
}

#[test]
fn line_topology_converges_through_the_middle() {
    let m = common::plan(&["central-a", "central-b", "central-c"]);
    let a = common::start_member(&m, 0, &[1], SECRET, json!({}));
    let b = common::start_member(&m, 1, &[0, 2], SECRET, json!({}));
    let c = common::start_member(&m, 2, &[1], SECRET, json!({}));
    post(&a, &event("ENTRY", "29A11111", now_secs()));
    post(&c, &event("ENTRY", "29A22222", now_secs()));
    common::eventually("a's entry reaches c via b", || {
        (history(&c, "29A11111").len() == 1).then_some(())
    });
    common::eventually("c's entry reaches a via b", || {
        (history(&a, "29A22222").len() == 1).then_some(())
    });
    drop(b);
}

/// Handshakes `c` has refused since it started (all reasons).
fn refusals(c: &common::Central) -> u64 {
    let (_, v) = common::json(c.api_port, "GET", "/api/p2p/status", None);
    v["handshake_refusals"]
        .as_object()
        .map(|m| m.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0)
}

/// Waits until the pair has refused `n` more handshakes than `before`: each refusal is a
/// connection attempt made after `before` was read, at which anything that could cross would
/// have crossed.
fn refused_again(a: &common::Central, b: &common::Central, before: u64, n: u64) {
    common::eventually("more refused handshakes", || {
        (refusals(a) + refusals(b) >= before + n).then_some(())
    });
}

#[test]
fn a_central_with_the_wrong_secret_is_refused() {
    let m = common::plan(&["central-a", "central-d"]);
    let a = common::start_member(&m, 0, &[1], SECRET, json!({}));
    let d = common::start_member(&m, 1, &[0], "a-different-secret-9876543210", json!({}));
    post(&d, &event("ENTRY", "99X99999", now_secs()));
    let before = refusals(&a) + refusals(&d);
    refused_again(&a, &d, before, 2);
    let bad_auth = |c: &common::Central| {
        let (_, v) = common::json(c.api_port, "GET", "/api/p2p/status", None);
        v["handshake_refusals"]["bad_auth"].as_u64().unwrap_or(0)
    };
    assert!(
        bad_auth(&a) + bad_auth(&d) > 0,
        "the refusals are for a bad auth proof"
    );
    assert_eq!(count(&a), 0);
    assert!(
        history(&a, "99X99999").is_empty(),
        "no event from a refused peer is accepted"
    );
}

#[test]
fn concurrent_entries_during_a_partition_give_one_session_and_one_conflict() {
    let m = common::plan(&["central-a", "central-b"]);
    let mut a = common::start_member(&m, 0, &[1], SECRET, json!({}));
    let b = common::start_member(&m, 1, &[0], SECRET, json!({}));
    // Partition: A is down while B admits the plate; then A admits it too before they meet.
    common::stop(&mut a);
    post(&b, &event("ENTRY", "30G55555", now_secs() - 60.0));
    // A comes back isolated from B: start it with no peers first.
    let cfg: Value = serde_json::from_slice(&std::fs::read(&a.config_path).unwrap()).unwrap();
    let mut isolated = cfg.clone();
    isolated["peer_centrals"] = json!([]);
    std::fs::write(&a.config_path, serde_json::to_vec(&isolated).unwrap()).unwrap();
    common::restart(&mut a);
    post(&a, &event("ENTRY", "30G55555", now_secs()));
    // Heal: give A its peer back, live.
    let (status, v) = common::json(
        a.api_port,
        "PUT",
        "/api/p2p/config",
        Some(&json!({ "peer_centrals": cfg["peer_centrals"] })),
    );
    assert_eq!(status, 200, "{v}");
    for node in [&a, &b] {
        common::eventually("one session and one conflict everywhere", || {
            let h = history(node, "30G55555");
            let (_, c) = common::json(node.api_port, "GET", "/api/p2p/conflicts", None);
            let conflicts = c["conflicts"].as_array().cloned().unwrap_or_default();
            (h.len() == 1 && conflicts.len() == 1).then_some(())
        });
    }
}

#[test]
fn an_exit_that_arrives_before_its_entry_merges_into_one_closed_session() {
    let m = common::plan(&["central-a", "central-c"]);
    // Both start apart (no peers), as if the link between them were down.
    let a = common::start_member(&m, 0, &[], SECRET, json!({}));
    let c = common::start_member(&m, 1, &[], SECRET, json!({}));
    let t0 = now_secs() - 3.0 * 3600.0;
    post(&a, &event("ENTRY", "43A77777", t0));
    let exit = post(&c, &event("EXIT", "43A77777", t0 + 7200.0));
    assert_eq!(
        exit["exception"], true,
        "C has not seen the entry yet: {exit}"
    );
    // The link comes up (live config change on both sides).
    let peer = |i: usize| json!({ "peer_centrals": [{ "id": m[i].id, "ip": "127.0.0.1", "p2p_port": m[i].p2p_port, "api_port": m[i].api_port }] });
    assert_eq!(
        common::json(a.api_port, "PUT", "/api/p2p/config", Some(&peer(1))).0,
        200
    );
    assert_eq!(
        common::json(c.api_port, "PUT", "/api/p2p/config", Some(&peer(0))).0,
        200
    );
    for node in [&a, &c] {
        let rows = common::eventually("one closed session everywhere", || {
            let h = history(node, "43A77777");
            (h.len() == 1 && h[0]["status"] == "OUT" && h[0]["exception"] == false).then_some(h)
        });
        assert_eq!(rows[0]["fee"], 50_000);
    }
}

#[test]
fn a_central_killed_while_catching_up_resumes_from_what_it_stored() {
    let m = common::plan(&["central-a", "central-b"]);
    let a = common::start_member(&m, 0, &[1], SECRET, json!({}));
    let mut b = common::start_member(&m, 1, &[0], SECRET, json!({}));
    common::eventually("connected", || (count(&a) == 1).then_some(()));
    common::stop(&mut b);
    let n = 2000;
    let t0 = now_secs() - 3600.0;
    for i in 0..n {
        post(&a, &event("ENTRY", &format!("77C{i:05}"), t0 + i as f64));
    }
    // B starts catching up; kill it as soon as it has stored part of the backlog.
    common::restart(&mut b);
    let partial = common::eventually("b stored part of the backlog", || {
        let (_, s) = common::json(b.api_port, "GET", "/api/stats", None);
        let got = s["vehicles_in_parking"].as_i64().unwrap_or(0);
        (got > 0).then_some(got)
    });
    common::stop(&mut b);
    // What was stored survived the kill: the vector on disk is where catch-up resumes.
    common::restart(&mut b);
    let (_, s) = common::json(b.api_port, "GET", "/api/p2p/sync-state", None);
    let held: i64 = s["local_vector"]
        .as_object()
        .map(|v| v.values().filter_map(|x| x.as_i64()).sum())
        .unwrap_or(0);
    assert!(
        held >= partial.min(1),
        "b resumed from its stored vector ({held} held), not from zero"
    );
    common::eventually("b caught up after the second start", || {
        let (_, s) = common::json(b.api_port, "GET", "/api/stats", None);
        (s["vehicles_in_parking"] == n).then_some(())
    });
}

#[test]
fn add_peer_by_address_registers_both_sides() {
    let m = common::plan(&["central-a", "central-b"]);
    let a = common::start_member(&m, 0, &[], SECRET, json!({}));
    let b = common::start_member(&m, 1, &[], SECRET, json!({}));
    let (status, v) = common::json(
        a.api_port,
        "POST",
        "/api/p2p/add-peer",
        Some(&json!({ "ip": "127.0.0.1", "api_port": b.api_port })),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["peer"]["id"], "central-b");
    assert_eq!(v["registration_success"], true, "{v}");
    common::eventually("both sides connected", || {
        (count(&a) == 1 && count(&b) == 1).then_some(())
    });
    let (_, cfg) = common::json(b.api_port, "GET", "/api/p2p/config", None);
    assert_eq!(cfg["config"]["peer_centrals"][0]["id"], "central-a");
    // A registration without the secret's proof is refused.
    let forged = json!({ "id": "central-x", "ip": "127.0.0.1", "api_port": 1, "p2p_port": 2, "ts": 0, "proof": "00".repeat(32) });
    let (status, v) = common::json(b.api_port, "POST", "/api/p2p/register-peer", Some(&forged));
    assert!(status == 401 || status == 403, "{status} {v}");
    let (_, cfg) = common::json(b.api_port, "GET", "/api/p2p/config", None);
    assert_eq!(
        cfg["config"]["peer_centrals"].as_array().map(Vec::len),
        Some(1)
    );
}

#[test]
fn an_operator_edit_at_one_central_changes_the_same_session_everywhere() {
    let m = common::plan(&["central-a", "central-b"]);
    let a = common::start_member(&m, 0, &[1], SECRET, json!({}));
    let b = common::start_member(&m, 1, &[0], SECRET, json!({}));
    // Two sessions so that local row ids differ between the centrals.
    post(&b, &event("ENTRY", "29B00001", now_secs() - 10.0));
    post(&a, &event("ENTRY", "29B0002", now_secs()));
    let row_b = common::eventually("a's entry at b", || history(&b, "29B0002").first().cloned());
    let row_a = history(&a, "29B0002")[0].clone();
    assert_eq!(row_a["session_id"], row_b["session_id"]);
    // The operator at B corrects the plate and deletes B's own session.
    let id_b = row_b["id"].as_i64().unwrap();
    let (status, v) = common::json(
        b.api_port,
        "PUT",
        &format!("/api/parking/history/{id_b}"),
        Some(&json!({ "plate_view": "29B-0002" })),
    );
    assert_eq!(status, 200, "{v}");
    common::eventually("the edit reaches a", || {
        let h = history(&a, "29B0002");
        (h.len() == 1 && h[0]["plate_view"] == "29B-0002").then_some(())
    });
    let own = history(&b, "29B00001")[0]["id"].as_i64().unwrap();
    assert_eq!(
        common::json(
            b.api_port,
            "DELETE",
            &format!("/api/parking/history/{own}"),
            None
        )
        .0,
        200
    );
    common::eventually("the delete reaches a", || {
        history(&a, "29B00001").is_empty().then_some(())
    });
    assert_eq!(
        history(&a, "29B0002").len(),
        1,
        "only the targeted session changed"
    );
}

#[test]
fn a_new_cluster_secret_applies_live_and_shuts_out_who_lacks_it() {
    let m = common::plan(&["central-a", "central-b"]);
    let a = common::start_member(&m, 0, &[1], SECRET, json!({}));
    let b = common::start_member(&m, 1, &[0], SECRET, json!({}));
    common::eventually("connected", || (count(&a) == 1).then_some(()));
    let rotate = json!({ "cluster_secret": "rotated-cluster-secret-0123456789" });
    // A rotates: the link drops and stays down while B still has the old secret.
    let (status, v) = common::json(a.api_port, "PUT", "/api/p2p/config", Some(&rotate));
    assert_eq!(status, 200, "{v}");
    common::eventually("link down after the rotation", || {
        (count(&a) == 0 && count(&b) == 0).then_some(())
    });
    post(&a, &event("ENTRY", "51K12121", now_secs()));
    let before = refusals(&a) + refusals(&b);
    refused_again(&a, &b, before, 2);
    assert!(
        history(&b, "51K12121").is_empty(),
        "nothing crosses without the secret"
    );
    // B gets the new secret too: the link comes back and the entry arrives.
    let (status, v) = common::json(b.api_port, "PUT", "/api/p2p/config", Some(&rotate));
    assert_eq!(status, 200, "{v}");
    common::eventually("the entry reaches B under the new secret", || {
        history(&b, "51K12121").first().cloned()
    });
    // The secret is saved to the file but never shown.
    let saved = std::fs::read_to_string(&a.config_path).unwrap();
    assert!(saved.contains("rotated-cluster-secret"), "{saved}");
    let (_, cfg) = common::json(a.api_port, "GET", "/api/p2p/config", None);
    assert!(!cfg.to_string().contains("rotated"), "{cfg}");
}
