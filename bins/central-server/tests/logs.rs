//! Log output of the real binary: `--log-format json` writes one JSON object a line, the text
//! format carries no ANSI colour codes when stderr is not a terminal, and a central that comes
//! back after an outage logs its catch-up (peer, streams, events remaining, rate) and when it is
//! done.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use common::SECRET;

/// Starts the binary on `config` with `args`, at log level info, stderr to `log`.
fn spawn_logging(config: &Path, args: &[&str], log: &Path) -> Child {
    let file = std::fs::File::create(log).unwrap();
    Command::new(env!("CARGO_BIN_EXE_central-server"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .unwrap()
}

fn log_path(c: &common::Central, name: &str) -> PathBuf {
    c.dir.path().join(name)
}

fn entry(plate: &str) -> Value {
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    common::edge_event("ENTRY", plate, ts)
}

/// Every line of a JSON log, parsed; fails on a line that is not one JSON object.
fn json_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}"));
            assert!(v.is_object(), "not an object: {l:?}");
            v
        })
        .collect()
}

#[test]
fn json_logs_are_one_object_a_line_and_text_logs_have_no_colour_codes() {
    let mut c = common::start("central-a", json!({}));
    common::stop(&mut c);

    let json_log = log_path(&c, "json.log");
    c.child = spawn_logging(&c.config_path, &["--log-format", "json"], &json_log);
    common::wait_child_ready(&mut c.child, c.api_port);
    let (status, _) = common::json(c.api_port, "POST", "/api/edge/event", Some(&json!([])));
    assert_eq!(status, 400);
    common::stop(&mut c);
    let lines = json_lines(&json_log);
    let listening = lines
        .iter()
        .find(|l| l["message"] == "API listening")
        .unwrap_or_else(|| panic!("no start-up line in {lines:?}"));
    assert_eq!(listening["level"], "INFO");
    assert_eq!(listening["central"], "central-a", "fields at the top level");
    assert!(listening["timestamp"].is_string());

    let text_log = log_path(&c, "text.log");
    c.child = spawn_logging(&c.config_path, &[], &text_log);
    common::wait_child_ready(&mut c.child, c.api_port);
    common::stop(&mut c);
    let text = std::fs::read_to_string(&text_log).unwrap();
    assert!(text.contains("API listening"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "ANSI codes in a redirected log: {text:?}"
    );

    let (status, out) = {
        let o = Command::new(env!("CARGO_BIN_EXE_central-server"))
            .args(["--log-format", "yaml", "--config"])
            .arg(&c.config_path)
            .output()
            .unwrap();
        (o.status, String::from_utf8_lossy(&o.stderr).into_owned())
    };
    assert!(!status.success());
    assert!(out.contains("yaml") && out.contains("json"), "{out}");
}

#[test]
fn catch_up_logs_its_progress_and_its_end() {
    let m = common::plan(&["central-a", "central-b"]);
    let a = common::start_member(&m, 0, &[1], SECRET, json!({}));
    let mut b = common::start_member(&m, 1, &[0], SECRET, json!({}));
    common::stop(&mut b);
    const N: usize = 400;
    for i in 0..N {
        let (status, v) = common::json(
            a.api_port,
            "POST",
            "/api/edge/event",
            Some(&entry(&format!("51A{i:05}"))),
        );
        assert_eq!(status, 200, "{v}");
    }
    let log = log_path(&b, "catchup.log");
    b.child = spawn_logging(&b.config_path, &["--log-format", "json"], &log);
    common::wait_child_ready(&mut b.child, b.api_port);
    let done = common::eventually("B logs the end of its catch-up", || {
        json_lines(&log)
            .into_iter()
            .find(|l| l["message"] == "catch-up done")
    });
    let lines = json_lines(&log);
    let started = lines
        .iter()
        .find(|l| l["message"] == "catch-up started")
        .unwrap_or_else(|| panic!("no start line in {lines:?}"));
    assert_eq!(started["peer"], "central-a");
    // A's entries, plus the time-zone announcement A appends at start unless B received that
    // one before it was stopped.
    let remaining = started["remaining"].as_u64().unwrap_or_default();
    assert!(
        remaining == N as u64 || remaining == N as u64 + 1,
        "{started}"
    );
    assert_eq!(started["streams"], 1, "{started}");
    assert_eq!(done["peer"], "central-a");
    assert_eq!(done["received"], remaining, "{done}");
    assert_eq!(done["remaining"], 0, "{done}");
    assert!(done["rate"].as_u64().is_some_and(|r| r > 0), "{done}");
    let (_, h) = common::json(b.api_port, "GET", "/api/parking/history?limit=1000", None);
    assert_eq!(h["count"], N);
}
