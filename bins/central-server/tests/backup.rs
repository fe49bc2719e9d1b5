//! `backup` and `restore` against real centrals: a backup taken while events flow in is a
//! consistent copy; `restore` refuses a running central and installs the copy on a fresh node,
//! which starts a new incarnation, catches up from its peers to exactly their state, and whose
//! new events reach them — nothing acknowledged before or after the backup is lost, nothing is
//! duplicated.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::{Value, json};

use common::{SECRET, now_secs};

fn entry(plate: &str, ts: f64) -> Value {
    common::edge_event("ENTRY", plate, ts)
}

fn post(port: u16, plate: &str) {
    let (status, v) = common::json(
        port,
        "POST",
        "/api/edge/event",
        Some(&entry(plate, now_secs() - 600.0)),
    );
    assert_eq!(status, 200, "{v}");
}

/// Every session of a central by plate: (status, source central, entry event id).
fn sessions(port: u16) -> BTreeMap<String, (String, String, String)> {
    let mut all = BTreeMap::new();
    let mut offset = 0;
    loop {
        let (_, h) = common::json(
            port,
            "GET",
            &format!("/api/parking/history?limit=1000&offset={offset}"),
            None,
        );
        let rows = h["history"].as_array().cloned().unwrap_or_default();
        for r in &rows {
            let plate = r["plate_id"].as_str().unwrap().to_owned();
            let row = (
                r["status"].to_string(),
                r["source_central"].to_string(),
                r["event_id"].to_string(),
            );
            assert!(
                all.insert(plate.clone(), row).is_none(),
                "{plate} twice at :{port}"
            );
        }
        if rows.len() < 1000 {
            return all;
        }
        offset += 1000;
    }
}

fn vector(port: u16) -> Value {
    common::json(port, "GET", "/api/p2p/sync-state", None).1["local_vector"].clone()
}

fn connected(port: u16) -> u64 {
    let (_, v) = common::json(port, "GET", "/api/p2p/status", None);
    v["connected_peers"].as_u64().unwrap_or(0)
}

#[test]
fn a_backup_under_load_restored_on_a_fresh_node_catches_up_and_loses_nothing() {
    let m = common::plan(&["central-a", "central-b", "central-c"]);
    let mut a = common::start_member(&m, 0, &[1, 2], SECRET, json!({}));
    let b = common::start_member(&m, 1, &[0, 2], SECRET, json!({}));
    let c = common::start_member(&m, 2, &[0, 1], SECRET, json!({}));
    common::eventually("full mesh", || {
        [a.api_port, b.api_port, c.api_port]
            .iter()
            .all(|&p| connected(p) == 2)
            .then_some(())
    });
    for i in 0..20 {
        post(b.api_port, &format!("29B{i:05}"));
    }

    // Events flow into A (and C) from other threads while the backup runs.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicUsize::new(0));
    let load: Vec<_> = [("51A", a.api_port), ("51C", c.api_port)]
        .into_iter()
        .map(|(prefix, port)| {
            let (stop, acked) = (stop.clone(), acked.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    post(port, &format!("{prefix}{n:05}"));
                    n += 1;
                    acked.fetch_add(1, Ordering::Relaxed);
                }
                n
            })
        })
        .collect();
    common::eventually("load running", || {
        (acked.load(Ordering::Relaxed) >= 100).then_some(())
    });
    let file = a.dir.path().join("backup-a.db");
    let file_arg = file.to_str().unwrap();
    let (code, out, err) = common::run_cli(&a.config_path, &["backup", file_arg, "--json"]);
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let at_backup = acked.load(Ordering::Relaxed);
    assert_eq!(report["integrity"], "ok");
    assert_eq!(report["bytes"], std::fs::metadata(&file).unwrap().len());
    let in_copy = report["events"].as_u64().unwrap();
    assert!(in_copy >= 120, "{report}");
    // Without --force an existing file is kept; the failure is one line.
    let (code, out, err) = common::run_cli(&a.config_path, &["backup", file_arg]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert_eq!(
        err.trim(),
        format!(
            "central-server: backup of central-a failed: {file_arg}: already exists; pass --force to replace it"
        )
    );
    // Events acknowledged after the backup: these exist at A only beyond the copy.
    common::eventually("more events after the backup", || {
        (acked.load(Ordering::Relaxed) >= at_backup + 200).then_some(())
    });
    stop.store(true, Ordering::Relaxed);
    let posted: usize = load.into_iter().map(|t| t.join().unwrap()).sum::<usize>() + 20;
    common::eventually("b and c hold everything", || {
        (sessions(b.api_port).len() == posted && sessions(c.api_port).len() == posted).then_some(())
    });

    // Restore is refused while A runs; then A loses its disk and gets the copy back.
    let (code, _, err) = common::run_cli(&a.config_path, &["restore", file_arg]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("central-a looks running"), "{err}");
    // What A holds before it loses its disk: read once its status agrees with the peers' (the
    // status is a snapshot the mesh refreshes after each input, so it can trail the log by the
    // last event for a moment; read too early, it would miss A's last events, and the restored A
    // would then hold more than it names).
    let old_vector = common::eventually("a's status current", || {
        let (va, vb, vc) = (vector(a.api_port), vector(b.api_port), vector(c.api_port));
        (va == vb && vb == vc).then_some(va)
    });
    common::stop(&mut a);
    std::fs::remove_dir_all(a.dir.path().join("data")).unwrap();
    let text = common::run_cli(&a.config_path, &["restore", file_arg]);
    assert_eq!(text.0, 0, "{}", text.2);
    assert!(
        text.1.contains(&format!(
            "restored central-a from {file_arg}: {in_copy} events"
        )),
        "{}",
        text.1
    );
    common::restart(&mut a);

    // A starts a new incarnation; its old stream's tail comes back from the peers.
    let new_vector = common::eventually("a caught up", || {
        let v = vector(a.api_port);
        let held_old = old_vector
            .as_object()
            .unwrap()
            .iter()
            .all(|(stream, head)| v[stream] == *head);
        held_old.then_some(v)
    });
    let own: Vec<&String> = new_vector
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.starts_with("central-a:"))
        .collect();
    assert_eq!(
        own.len(),
        1,
        "no own events yet in the new incarnation: {new_vector}"
    );
    // New events at A reach the peers in the new stream.
    for i in 0..30 {
        post(a.api_port, &format!("30N{i:05}"));
    }
    let total = posted + 30;
    let reference = common::eventually("all three identical", || {
        let (sa, sb, sc) = (
            sessions(a.api_port),
            sessions(b.api_port),
            sessions(c.api_port),
        );
        (sa.len() == total && sa == sb && sb == sc).then_some(sa)
    });
    assert_eq!(reference.len(), total);
    // The version vectors agree too (read together: a vector read can trail the sessions read
    // a moment before it by an event still being acknowledged).
    let va = common::eventually("identical version vectors", || {
        let (va, vb, vc) = (vector(a.api_port), vector(b.api_port), vector(c.api_port));
        (va == vb && vb == vc).then_some(va)
    });
    let streams: Vec<&String> = va
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.starts_with("central-a:"))
        .collect();
    assert_eq!(streams.len(), 2, "old and new incarnation of A: {va}");
    let events: u64 = va
        .as_object()
        .unwrap()
        .values()
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(
        events as usize,
        total + 3,
        "one event per posted entry and each central's time zone announcement, none twice: {va}"
    );
    assert!(common::panics(&a).is_empty(), "{:?}", common::panics(&a));
}
