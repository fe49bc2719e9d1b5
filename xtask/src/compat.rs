//! `cargo xtask compat REV`: a mesh of a central built at an earlier commit and one built from
//! this checkout, checked end to end.
//!
//! The binary at REV is built in a git worktree of its own (`target/compat/<commit>/src`) with
//! its own target folder (`target/compat/<commit>/target`, seeded once from this checkout's
//! `target/debug` so that only the workspace crates compile). Both binaries run on loopback as
//! `central-old` and `central-new`, peered with each other; then, on each version in turn, a car
//! enters and leaves through the other version's gate: replication both ways, and the fee
//! computed at an exit on the other version from an entry replicated from this one. Both
//! centrals must end with the same sessions and fees.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use serde_json::{Value, json};

use crate::bench::net::{Central, Http, now_secs};

/// Arguments of `compat`.
#[derive(Debug, Args)]
pub(crate) struct Compat {
    /// The earlier commit (any git revision).
    rev: String,
}

fn git(root: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()?;
    if !out.status.success() {
        bail!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The full commit id that `rev` names.
pub(crate) fn resolve(root: &Path, rev: &str) -> anyhow::Result<String> {
    git(
        root,
        &["rev-parse", "--verify", &format!("{rev}^{{commit}}")],
    )
}

/// A git worktree of `commit` at `target/compat/<commit>/src` (made once), returned.
pub(crate) fn checkout(root: &Path, commit: &str) -> anyhow::Result<PathBuf> {
    let short = &commit[..commit.len().min(12)];
    let dir = root.join("target/compat").join(short);
    let src = dir.join("src");
    if !src.join("Cargo.toml").is_file() {
        std::fs::create_dir_all(&dir)?;
        git(
            root,
            &[
                "worktree",
                "add",
                "--detach",
                &src.to_string_lossy(),
                commit,
            ],
        )?;
    }
    Ok(src)
}

/// Builds `central-server` (dev profile) at `commit` and returns the binary.
fn build_old(root: &Path, commit: &str) -> anyhow::Result<PathBuf> {
    let short = &commit[..commit.len().min(12)];
    let dir = root.join("target/compat").join(short);
    let src = checkout(root, commit)?;
    let target = dir.join("target");
    if !target.exists() && root.join("target/debug").is_dir() {
        println!("seeding {} from target/debug", target.display());
        std::fs::create_dir_all(&target)?;
        let status = Command::new("cp")
            .arg("-a")
            .arg(root.join("target/debug"))
            .arg(&target)
            .status()?;
        if !status.success() {
            bail!("copying target/debug failed");
        }
    }
    println!("building central-server at {short} in {}", src.display());
    let status = crate::cargo::cargo(&src)
        .args(["build", "-p", "central-server"])
        .env("CARGO_TARGET_DIR", &target)
        .env("PARKMESH_COMMIT", short)
        .status()?;
    if !status.success() {
        bail!("building central-server at {short} failed");
    }
    Ok(target.join("debug/central-server"))
}

fn p2p_status(c: &Central) -> anyhow::Result<Value> {
    Http::connect(c.api)?.json("GET", "/api/p2p/status", None)
}

/// Waits (up to two minutes) for `what` to return `Some`.
fn wait<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> anyhow::Result<T> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn post(c: &Central, kind: &str, plate: &str, ts: f64) -> anyhow::Result<Value> {
    let ev = json!({ "type": kind, "camera_id": 1, "camera_name": "Gate", "camera_type": kind,
        "timestamp": ts, "data": { "plate_text": plate, "confidence": 0.95, "source": "auto" } });
    let answer = Http::connect(c.api)?.json("POST", "/api/edge/event", Some(&ev))?;
    if answer["success"] != true {
        bail!("{} refused {kind} of {plate}: {answer}", c.id);
    }
    Ok(answer)
}

/// The session of `plate` at `c` as (status, fee), if any.
fn session(c: &Central, plate: &str) -> Option<(String, Option<i64>)> {
    let h = Http::connect(c.api)
        .ok()?
        .json(
            "GET",
            &format!("/api/parking/history?search={plate}&limit=10"),
            None,
        )
        .ok()?;
    let row = h["history"]
        .as_array()?
        .iter()
        .find(|r| r["plate_id"] == plate)?
        .clone();
    Some((row["status"].as_str()?.to_owned(), row["fee"].as_i64()))
}

impl Compat {
    pub(crate) fn run(&self) -> anyhow::Result<()> {
        let root = crate::cargo::workspace_root();
        let commit = resolve(&root, &self.rev)?;
        let head = git(&root, &["rev-parse", "--short=12", "HEAD"])?;
        let old_bin = build_old(&root, &commit)?;
        println!("building central-server from this checkout ({head})");
        let status = crate::cargo::cargo(&root)
            .args(["build", "-p", "central-server"])
            .status()?;
        if !status.success() {
            bail!("building central-server failed");
        }
        let new_bin = root.join("target/debug/central-server");
        let version = |bin: &Path| -> anyhow::Result<String> {
            let out = Command::new(bin).arg("--version").output()?;
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        };
        println!("old: {}", version(&old_bin)?);
        println!("new: {}", version(&new_bin)?);

        let tmp = tempfile::tempdir().context("no temp dir")?;
        let mut old = Central::plan(&old_bin, tmp.path(), "central-old", &[])?;
        let mut new = Central::plan(&new_bin, tmp.path(), "central-new", &[])?;
        old.set_peers(&[new.peer_tuple()])?;
        new.set_peers(&[old.peer_tuple()])?;
        old.start()?;
        new.start()?;
        let started = Instant::now();
        wait("the old and the new central to connect", || {
            (old.connected_peers() == 1 && new.connected_peers() == 1).then_some(())
        })?;
        println!(
            "handshake: connected both ways in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let peer_version = p2p_status(&new)?["peers"][0]["version"].clone();
        println!("new central's view of the old one's version: {peer_version}");

        // A car enters at each version and leaves through the other one.
        let t0 = now_secs() - 3.0 * 3600.0;
        let (p_old, p_new) = ("51A10001", "30F20002");
        post(&old, "ENTRY", p_old, t0)?;
        post(&new, "ENTRY", p_new, t0 + 60.0)?;
        wait("the old entry at the new central", || {
            session(&new, p_old).filter(|s| s.0 == "IN")
        })?;
        println!("replication old -> new: entry of {p_old} arrived");
        wait("the new entry at the old central", || {
            session(&old, p_new).filter(|s| s.0 == "IN")
        })?;
        println!("replication new -> old: entry of {p_new} arrived");
        let fee_new = post(&new, "EXIT", p_old, t0 + 2.5 * 3600.0)?["fee"].as_i64();
        let fee_old = post(&old, "EXIT", p_new, t0 + 2.0 * 3600.0)?["fee"].as_i64();
        println!("fee at the new central's exit for {p_old} (entered at the old): {fee_new:?}");
        println!("fee at the old central's exit for {p_new} (entered at the new): {fee_old:?}");
        if fee_new.is_none() || fee_old.is_none() {
            bail!("an exit on the other version computed no fee");
        }
        for (plate, fee) in [(p_old, fee_new), (p_new, fee_old)] {
            for c in [&old, &new] {
                let s = wait(&format!("{plate}'s exit at {}", c.id), || {
                    session(c, plate).filter(|s| s.0 == "OUT")
                })?;
                if s.1 != fee {
                    bail!("{plate} at {}: fee {:?}, expected {fee:?}", c.id, s.1);
                }
            }
        }
        println!("both centrals agree: {p_old} OUT fee {fee_new:?}, {p_new} OUT fee {fee_old:?}");
        old.kill();
        new.kill();
        println!("compat {}: ok", &commit[..12]);
        Ok(())
    }
}
