//! The files around an import: the original's JSON data files, and whether another process has
//! a database open.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use parkmesh_parking::payload::{Payload, StaffPayload, SubscriptionsPayload, Tariff};
use parkmesh_protocol::EventKind;

/// The original's fee table, passes and staff roster under `dir` (the backend-central folder or
/// its `data/`), as setting payloads; a missing file is left out, a bad one refused.
pub(super) fn settings(dir: &Path) -> anyhow::Result<Vec<(EventKind, serde_json::Value)>> {
    if !dir.is_dir() {
        bail!(
            "{}: --parkai-dir is not a folder; pass the original backend-central folder",
            dir.display()
        );
    }
    let find = |name: &str| -> Option<PathBuf> {
        [dir.join("data").join(name), dir.join(name)]
            .into_iter()
            .find(|p| p.is_file())
    };
    let mut out = Vec::new();
    if let Some(p) = find("parking_fees.json") {
        let t: Tariff = read(&p)?;
        check(&p, t.validate())?;
        out.push((Tariff::KIND, t.to_value()));
    }
    if let Some(p) = find("subscriptions.json") {
        let subs = SubscriptionsPayload {
            subscriptions: read(&p)?,
        };
        check(&p, subs.validate())?;
        out.push((SubscriptionsPayload::KIND, subs.to_value()));
    }
    if let Some(p) = find("staff.json") {
        let staff = StaffPayload { staff: read(&p)? };
        check(&p, staff.validate())?;
        out.push((StaffPayload::KIND, staff.to_value()));
    }
    Ok(out)
}

fn read<T: serde::de::DeserializeOwned>(p: &Path) -> anyhow::Result<T> {
    let text =
        std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{}: not the original's format ({e}); fix or move the file away, then import again",
            p.display()
        )
    })
}

fn check(p: &Path, r: Result<(), parkmesh_parking::ParkingError>) -> anyhow::Result<()> {
    r.map_err(|e| {
        anyhow::anyhow!(
            "{}: {e}; fix or move the file away, then import again",
            p.display()
        )
    })
}

/// Refuses when another process has `db` (or its journal) open, on systems with `/proc`.
pub(super) fn refuse_if_open(db: &Path, what: &str) -> anyhow::Result<()> {
    let Ok(target) = db.canonicalize() else {
        return Ok(());
    };
    let names: Vec<PathBuf> = ["", "-journal", "-wal"]
        .iter()
        .map(|s| {
            let mut p = target.clone().into_os_string();
            p.push(s);
            PathBuf::from(p)
        })
        .collect();
    let me = std::process::id().to_string();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Ok(());
    };
    for proc in procs.flatten() {
        let pid = proc.file_name();
        let Some(pid) = pid
            .to_str()
            .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(proc.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|l| names.contains(&l)) {
                bail!("{}: is open in process {pid}: {what}", db.display());
            }
        }
    }
    Ok(())
}
