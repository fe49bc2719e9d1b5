//! What a release promises an operator, through the binary: `--version` names the commit and the
//! build date; `/api/p2p/status` and `/metrics` name this central's and its peer's versions; and
//! SIGTERM or SIGINT (Ctrl-C) during traffic stops the central cleanly: exit 0, the peer logs a
//! clean close (not a lost link), and every event that was answered 200 is in the database.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use parkmesh_protocol::CentralId;
use parkmesh_storage::{HistoryQuery, Storage, StorageOptions};
use serde_json::{Value, json};

use common::{SECRET, now_secs};

/// `central-server --version`, e.g. `central-server 0.1.0 (commit 1a2b3c4d5e6f, built
/// 2026-01-31)`; returns (version, commit).
fn version_line() -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_central-server"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let line = String::from_utf8(out.stdout).unwrap();
    let rest = line.trim().strip_prefix("central-server ").expect(&line);
    let (version, rest) = rest.split_once(" (commit ").expect(&line);
    let (commit, date) = rest.split_once(", built ").expect(&line);
    let date = date.strip_suffix(')').expect(&line);
    assert_eq!(version, env!("CARGO_PKG_VERSION"), "{line}");
    let d: Vec<&str> = date.split('-').collect();
    assert!(
        d.len() == 3 && d.iter().all(|p| p.parse::<u32>().is_ok()),
        "build date {date:?} in {line}"
    );
    (version.to_owned(), commit.to_owned())
}

#[test]
fn version_names_the_version_the_commit_and_the_build_date() {
    let (_, commit) = version_line();
    let head = Command::new("git")
        .args([
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "rev-parse",
            "--short=12",
            "HEAD",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    match head {
        // Built from a checkout: the commit is HEAD's (`-dirty` with local changes).
        Some(head) => assert!(
            commit == head || commit == format!("{head}-dirty"),
            "--version says {commit}, HEAD is {head}"
        ),
        None => assert!(!commit.is_empty(), "no commit in --version"),
    }
}

fn status(c: &common::Central) -> Value {
    common::json(c.api_port, "GET", "/api/p2p/status", None).1
}

/// Posts distinct entries to `port` until `stop`; records the plates answered 200.
fn poster(
    port: u16,
    prefix: &'static str,
    acked: Arc<Mutex<BTreeSet<String>>>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut i = 0u32;
        while !stop.load(Ordering::Relaxed) {
            let plate = format!("{prefix}{i:05}");
            let ev = json!({ "type": "ENTRY", "camera_id": 1, "timestamp": now_secs(),
                "event_id": format!("{prefix}-{i}"), "data": { "plate_text": plate, "confidence": 0.9 } });
            let body = serde_json::to_vec(&ev).unwrap();
            match common::request(port, "POST", "/api/edge/event", Some(&body), &[]) {
                Ok((200, _)) => {
                    acked.lock().unwrap().insert(plate);
                }
                // Refused once the central stops listening: wait for the test to stop us.
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
            i += 1;
        }
    })
}

/// Two connected centrals, A and B (B logs at `info`, so its log shows how A's link closed).
fn connected_pair() -> (common::Central, common::Central) {
    let m = common::plan(&["central-a", "central-b"]);
    let a = common::start_member(&m, 0, &[1], SECRET, json!({}));
    let mut b = common::spawn_member_logging(&m, 1, &[0], SECRET, json!({}), "info");
    common::wait_child_ready(&mut b.child, b.api_port);
    common::eventually("A and B connected", || {
        (status(&a)["connected_peers"] == 1 && status(&b)["connected_peers"] == 1).then_some(())
    });
    (a, b)
}

#[test]
fn versions_in_status_and_metrics_and_a_clean_stop_on_sigterm_during_traffic() {
    let (version, commit) = version_line();
    let announced = if commit == "unknown" {
        version.clone()
    } else {
        format!("{version}+{commit}")
    };
    let (mut a, mut b) = connected_pair();

    // Versions: this central's, and its peer's as the handshake announced it.
    let s = status(&a);
    assert_eq!(s["version"], announced.as_str(), "{s}");
    let peer_version = common::eventually("B's version at A", || {
        status(&a)["peers"][0]["version"]
            .as_str()
            .map(str::to_owned)
    });
    assert_eq!(peer_version, announced);
    let (code, metrics) = common::request(a.api_port, "GET", "/metrics", None, &[]).unwrap();
    assert_eq!(code, 200);
    let metrics = String::from_utf8(metrics).unwrap();
    let info = format!("parkmesh_build_info{{version=\"{version}\",commit=\"{commit}\"}} 1");
    assert!(
        metrics.lines().any(|l| l == info),
        "no {info} in:\n{metrics}"
    );

    clean_stop_during_traffic(&mut a, &mut b, "TERM");
}

/// Ctrl-C in a terminal: SIGINT stops the central as cleanly as SIGTERM does.
#[test]
fn a_clean_stop_on_sigint_during_traffic() {
    let (mut a, mut b) = connected_pair();
    clean_stop_during_traffic(&mut a, &mut b, "INT");
}

/// Posts entries to A from three threads, sends A `SIG{signal}` in the middle of that traffic,
/// and checks the stop: exit 0, no panic, B logs a close frame with `ShuttingDown` (not a
/// dropped or timed-out link), and every entry answered 200 is stored exactly once.
#[allow(clippy::print_stderr)] // the measured stop time is for the reader
fn clean_stop_during_traffic(a: &mut common::Central, b: &mut common::Central, signal: &str) {
    let acked: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let posters: Vec<_> = ["30A", "30B", "30C"]
        .into_iter()
        .map(|p| poster(a.api_port, p, acked.clone(), stop.clone()))
        .collect();
    common::eventually("traffic flowing", || {
        (acked.lock().unwrap().len() >= 60).then_some(())
    });
    let signalled = Instant::now();
    let killed = Command::new("kill")
        .args([&format!("-{signal}"), &a.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let exit = common::eventually(&format!("A exits after SIG{signal}"), || {
        a.child.try_wait().unwrap()
    });
    let took = signalled.elapsed();
    stop.store(true, Ordering::Relaxed);
    for p in posters {
        p.join().unwrap();
    }
    eprintln!(
        "SIG{signal} to exit: {took:?}, {} events acknowledged",
        acked.lock().unwrap().len()
    );
    assert!(exit.success(), "exit status after SIG{signal}: {exit}");
    let log_a = std::fs::read_to_string(a.config_path.with_file_name("stderr.log")).unwrap();
    assert!(!log_a.contains("panicked"), "{log_a}");

    // B saw a close frame with `shutting_down`, not a dropped or timed-out link.
    let log_b = b.config_path.with_file_name("stderr.log");
    let line = common::eventually("B logs A's close", || {
        let text = std::fs::read_to_string(&log_b).unwrap_or_default();
        text.lines()
            .find(|l| l.contains("peer disconnected"))
            .map(str::to_owned)
    });
    assert!(line.contains("ShuttingDown"), "B logged: {line}");

    // Nothing acknowledged is lost: each plate answered 200 is stored exactly once.
    let acked = acked.lock().unwrap().clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rows = rt.block_on(async {
        let storage = Storage::open(StorageOptions {
            db_path: a.dir.path().join("data/central.db"),
            origin: CentralId::new("central-a").unwrap(),
            tz: jiff::tz::TimeZone::get("Asia/Ho_Chi_Minh").unwrap(),
        })
        .await
        .unwrap();
        storage
            .history(&HistoryQuery {
                limit: i64::MAX,
                ..Default::default()
            })
            .await
            .unwrap()
    });
    common::assert_stored_once(rows.iter().map(|r| r.plate_id.as_str()), &acked);
    common::stop(b);
}

/// `tests/data/release-486d226/`: a backup that release 486d226 took of a central with four
/// closed sessions (entries, exits, fees), and that release's `/api/parking/history` answer.
fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/release-486d226")
        .join(name)
}

#[test]
fn a_backup_of_the_previous_release_restores_and_answers_the_same_and_a_newer_database_is_refused()
{
    let dir = tempfile::tempdir().unwrap();
    let api_port = common::free_port();
    let config = common::write_config(
        dir.path(),
        "central-1",
        api_port,
        common::free_port(),
        json!({ "timezone": "Asia/Ho_Chi_Minh", "max_clock_skew_secs": 86400 }),
    );
    let (code, _, err) = common::run_cli(
        &config,
        &["restore", fixture("backup.sqlite").to_str().unwrap()],
    );
    assert_eq!(code, 0, "restore: {err}");
    let mut child = common::spawn(&config);
    common::wait_child_ready(&mut child, api_port);
    let (code, history) = common::json(api_port, "GET", "/api/parking/history?limit=1000", None);
    assert_eq!(code, 200);
    let expected: Value =
        serde_json::from_slice(&std::fs::read(fixture("history.json")).unwrap()).unwrap();
    assert_eq!(
        history, expected,
        "today's answer differs from the old release's"
    );
    run_kill_term(&mut child);

    // A newer build migrates the database past what this binary knows: it refuses to start
    // and names both schema versions instead of running on it.
    let db = dir.path().join("data/central.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute(
            "INSERT INTO _migrations (version, name, applied_at_ms) VALUES (9999, '9999_newer', 0)",
            [],
        )
        .unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_central-server"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("schema is version 9999") && stderr.contains("newer than this binary"),
        "{stderr}"
    );
}

/// SIGTERM, then the exit status, which must be success.
fn run_kill_term(child: &mut std::process::Child) {
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit}");
}
