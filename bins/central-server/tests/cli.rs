//! The admin subcommands against real centrals: `status`, `peers`, `conflicts`,
//! `test-connection` and `check-config` on a running two-central mesh, tables and `--json`, and
//! the one-line failures: a stopped central, an error answer, an unknown peer, a bad file.

mod common;

use std::path::Path;

use serde_json::{Value, json};

use common::{SECRET, now_secs};

fn entry(plate: &str, ts: f64) -> Value {
    common::edge_event("ENTRY", plate, ts)
}

fn post(c: &common::Central, ev: &Value) {
    common::post_event(c.api_port, ev);
}

/// Runs a command that must succeed; returns its stdout.
fn ok(config: &Path, args: &[&str]) -> String {
    let (code, out, err) = common::run_cli(config, args);
    assert_eq!(code, 0, "{args:?} failed: {err}");
    out
}

/// Runs a command with `--json` that must succeed; returns the parsed JSON.
fn ok_json(config: &Path, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let out = ok(config, &args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
}

/// Runs a command that must fail with `code`, nothing on stdout and exactly one line on
/// stderr; returns that line.
fn fails(config: &Path, args: &[&str], code: i32) -> String {
    let (got, out, err) = common::run_cli(config, args);
    assert_eq!(got, code, "{args:?}: stdout {out:?} stderr {err:?}");
    assert!(out.is_empty(), "{args:?} printed {out:?}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: expected one line, got {err:?}");
    assert!(lines[0].starts_with("central-server: "), "{err}");
    lines[0].to_owned()
}

fn connected(c: &common::Central) -> bool {
    let (_, v) = common::json(c.api_port, "GET", "/api/p2p/status", None);
    v["connected_peers"] == 1
}

#[test]
fn admin_commands_on_a_running_mesh_and_a_stopped_central() {
    let m = common::plan(&["central-a", "central-b"]);
    let mut a = common::start_member(
        &m,
        0,
        &[1],
        SECRET,
        json!({ "admin_token": "cli-test-admin-token-0123456789" }),
    );
    let mut b = common::start_member(&m, 1, &[0], SECRET, json!({}));
    common::eventually("connected", || {
        (connected(&a) && connected(&b)).then_some(())
    });
    post(&a, &entry("30A11111", now_secs() - 60.0));
    post(&b, &entry("30B22222", now_secs() - 30.0));
    common::eventually("both events everywhere", || {
        let (_, s) = common::json(a.api_port, "GET", "/api/p2p/sync-state", None);
        let held: u64 = s["local_vector"]
            .as_object()
            .map_or(0, |m| m.values().filter_map(Value::as_u64).sum());
        // Two entries and the two centrals' time zone announcements.
        (held == 4).then_some(())
    });

    // status: a summary and one line per peer; --json carries the API's answer.
    let text = ok(&a.config_path, &["status"]);
    assert!(text.contains("central-a on 127.0.0.1:"), "{text}");
    assert!(text.contains("mesh, 1 of 1 peers connected"), "{text}");
    assert!(text.contains("4 held, in 2 streams"), "{text}");
    let peer_line = text.lines().find(|l| l.starts_with("central-b")).unwrap();
    assert!(peer_line.contains("connected"), "{text}");
    let st = ok_json(&a.config_path, &["status"]);
    assert_eq!(st["this_central"], "central-a");
    assert_eq!(st["connected_peers"], 1);
    assert_eq!(st["local_vector"].as_object().unwrap().len(), 2, "{st}");

    // peers: link table, then every stream the peer acknowledged.
    let text = ok(&a.config_path, &["peers"]);
    assert!(text.starts_with("PEER"), "{text}");
    assert!(text.contains("STREAM"), "{text}");
    let pj = ok_json(&a.config_path, &["peers"]);
    assert_eq!(pj["peers"][0]["peer_id"], "central-b");
    assert_eq!(pj["peers"][0]["connected"], true);
    assert!(pj["peers"][0]["acked"].is_object(), "{pj}");

    // test-connection: a real round trip, in text and JSON.
    let text = ok(&a.config_path, &["test-connection", "central-b"]);
    assert!(
        text.starts_with("central-a reached central-b: round trip "),
        "{text}"
    );
    let tj = ok_json(&b.config_path, &["test-connection", "central-a"]);
    assert!(tj["rtt_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{tj}");
    let line = fails(&a.config_path, &["test-connection", "central-z"], 1);
    assert!(
        line.contains("\"central-z\" is not a peer of central-a"),
        "{line}"
    );

    // conflicts: none yet.
    assert_eq!(
        ok(&a.config_path, &["conflicts"]),
        "central-a: no conflicts\n"
    );
    assert_eq!(ok_json(&a.config_path, &["conflicts"])["count"], 0);

    // check-config on a running central: its ports are held by itself.
    let text = ok(&a.config_path, &["check-config"]);
    assert!(text.contains("is held by central-a (running)"), "{text}");
    assert!(!text.contains("FAIL"), "{text}");

    // B stops: every command that asks it fails with one line and exit code 1.
    common::stop(&mut b);
    for cmd in ["status", "peers", "conflicts"] {
        let line = fails(&b.config_path, &[cmd], 1);
        assert_eq!(
            line,
            format!(
                "central-server: central-b is not answering on 127.0.0.1:{} (connection refused) — is it running?",
                b.api_port
            )
        );
    }
    fails(&b.config_path, &["status", "--json"], 1);
    // A reports B as down, and an error answer from A is one line too.
    common::eventually("a sees b down", || (!connected(&a)).then_some(()));
    let st = ok_json(&a.config_path, &["status"]);
    assert_eq!(st["connected_peers"], 0, "{st}");
    let line = fails(&a.config_path, &["test-connection", "central-b"], 1);
    assert!(
        line.contains(
            "central-a answered /api/p2p/test-connection?peer_id=central-b with HTTP 400"
        ),
        "{line}"
    );
    // check-config on the stopped central: its ports are free.
    let text = ok(&b.config_path, &["check-config"]);
    assert!(
        text.contains(&format!("127.0.0.1:{} is free", b.api_port)),
        "{text}"
    );
    let cj = ok_json(&b.config_path, &["check-config"]);
    assert_eq!(cj["ok"], true, "{cj}");

    // A conflict: B admits a plate while A is down, A admits it isolated, then they meet.
    common::stop(&mut a);
    common::restart(&mut b);
    post(&b, &entry("30G55555", now_secs() - 60.0));
    let cfg: Value = serde_json::from_slice(&std::fs::read(&a.config_path).unwrap()).unwrap();
    let mut isolated = cfg.clone();
    isolated["peer_centrals"] = json!([]);
    std::fs::write(&a.config_path, serde_json::to_vec(&isolated).unwrap()).unwrap();
    common::restart(&mut a);
    post(&a, &entry("30G55555", now_secs()));
    std::fs::write(&a.config_path, serde_json::to_vec(&cfg).unwrap()).unwrap();
    common::restart(&mut a);
    let cj = common::eventually("the conflict reaches a", || {
        let v = ok_json(&a.config_path, &["conflicts"]);
        (v["count"] == 1).then_some(v)
    });
    let text = ok(&a.config_path, &["conflicts"]);
    assert!(text.starts_with("ID"), "{text}");
    assert!(text.contains("30G55555"), "{text}");
    let winner = cj["conflicts"][0]["winner"].as_str().unwrap();
    assert!(text.contains(winner), "{text}");
}

#[test]
fn check_config_names_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let (api, p2p) = (common::free_port(), common::free_port());

    // A file that does not load: exit 2, one FAIL row per problem, one line on stderr.
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        serde_json::to_vec(&json!({
            "this_central": { "id": "c1", "ip": "127.0.0.1", "p2p_port": p2p, "api_port": p2p },
            "peer_centrals": [ { "id": "c1", "ip": "127.0.0.1", "p2p_port": 1, "api_port": 2 } ],
        }))
        .unwrap(),
    )
    .unwrap();
    let (code, out, err) = common::run_cli(&bad, &["check-config"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.matches("FAIL").count() >= 2, "{out}");
    assert!(out.contains("peer_centrals[0].id"), "{out}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("the configuration does not load"), "{err}");
    let line = fails(&bad, &["status"], 2);
    assert!(line.contains("peer_centrals[0].id"), "{line}");
    let line = fails(&dir.path().join("missing.json"), &["status"], 2);
    assert!(line.contains("config file not found"), "{line}");

    // TLS files that are not there, and a port another program holds: exit 1, each named.
    let holder = std::net::TcpListener::bind(("127.0.0.1", api)).unwrap();
    let cfg = common::write_config(
        dir.path(),
        "c1",
        api,
        p2p,
        json!({ "tls": { "cert_path": dir.path().join("nope.pem"), "key_path": dir.path().join("nope.key"), "ca_path": dir.path().join("ca.pem") } }),
    );
    let (code, out, err) = common::run_cli(&cfg, &["check-config"]);
    assert_eq!(code, 1, "{out}{err}");
    let tls_row = out.lines().find(|l| l.contains(" tls ")).unwrap();
    assert!(
        tls_row.starts_with("FAIL") && tls_row.contains("nope.pem"),
        "{out}"
    );
    let port_row = out.lines().find(|l| l.contains("api port")).unwrap();
    assert!(
        port_row.starts_with("FAIL") && port_row.contains(&format!("127.0.0.1:{api}")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("ok") && l.contains("mesh port")),
        "{out}"
    );
    assert_eq!(
        err.trim(),
        format!("central-server: {}: 2 checks failed", cfg.display())
    );
    let cj: Value =
        serde_json::from_str(&common::run_cli(&cfg, &["check-config", "--json"]).1).unwrap();
    assert_eq!(cj["ok"], false);
    drop(holder);

    // A database that belongs to another central.
    let other = common::write_config(dir.path(), "c2", api, p2p, json!({}));
    let mut c2 = common::Central {
        child: common::spawn(&other),
        api_port: api,
        p2p_port: p2p,
        dir: tempfile::tempdir().unwrap(),
        config_path: other.clone(),
    };
    common::wait_child_ready(&mut c2.child, api);
    common::stop(&mut c2);
    let mine = common::write_config(dir.path(), "c1", api, p2p, json!({}));
    let (code, out, _) = common::run_cli(&mine, &["check-config"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("belongs to central \"c2\", not \"c1\""),
        "{out}"
    );
}

fn tls_section(ca: &str) -> Value {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/tls-test");
    let p = |f: &str| d.join(f).to_string_lossy().into_owned();
    json!({ "tls": { "cert_path": p("central-test.pem"), "key_path": p("central-test.key"), "ca_path": p(ca) } })
}

#[test]
fn commands_reach_a_tls_api_and_verify_it_against_the_cluster_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (api, p2p) = (common::free_port(), common::free_port());
    let cfg = common::write_config(dir.path(), "central-t", api, p2p, tls_section("ca.pem"));
    let _central = common::Central {
        child: common::spawn(&cfg),
        api_port: api,
        p2p_port: p2p,
        dir,
        config_path: cfg.clone(),
    };
    let st = common::eventually("the central answers over TLS", || {
        let (code, out, _) = common::run_cli(&cfg, &["status", "--json"]);
        (code == 0).then(|| serde_json::from_str::<Value>(&out).unwrap())
    });
    assert_eq!(st["this_central"], "central-t");
    assert_eq!(st["standalone_mode"], true);
    let text = ok(&cfg, &["check-config"]);
    assert!(text.contains("TLS on the mesh and the API"), "{text}");
    assert!(text.contains("is held by central-t (running)"), "{text}");

    // Trusting a CA that did not issue the central's certificate: refused, in one line.
    let other = tempfile::tempdir().unwrap();
    let stranger = common::write_config(
        other.path(),
        "central-t",
        api,
        p2p,
        tls_section("stranger-ca.pem"),
    );
    let line = fails(&stranger, &["status"], 1);
    assert!(line.contains("TLS with 127.0.0.1"), "{line}");
}
