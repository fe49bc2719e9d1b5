//! What a release promises an operator, through the binary: `--version` names the commit and the
//! build date; `/api/p2p/status` and `/metrics` name this central's and its peer's versions.

mod common;

use std::process::Command;

use serde_json::{Value, json};

use common::SECRET;

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

#[test]
fn versions_in_status_and_metrics() {
    let (version, commit) = version_line();
    let announced = if commit == "unknown" {
        version.clone()
    } else {
        format!("{version}+{commit}")
    };
    let m = common::plan(&["central-a", "central-b"]);
    let a = common::start_member(&m, 0, &[1], SECRET, json!({}));
    let mut b = common::spawn_member_logging(&m, 1, &[0], SECRET, json!({}), "info");
    common::wait_child_ready(&mut b.child, b.api_port);
    common::eventually("A and B connected", || {
        (status(&a)["connected_peers"] == 1 && status(&b)["connected_peers"] == 1).then_some(())
    });

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
}
