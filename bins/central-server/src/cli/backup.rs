//! `backup <file>` and `restore <file>`: the database files of this central.
//!
//! `backup` runs in this process against the database path from the configuration, not through
//! the server: SQLite's WAL lets a second process read a consistent snapshot while the server
//! keeps committing, so it needs nothing from the server (it works whether the central runs or
//! not, and a busy central's writer is not held up). `restore` refuses while anything answers on
//! the central's ports, then installs the copy, which starts a new incarnation at the next start
//! (see `parkmesh_storage::backup`). A central on PostgreSQL is backed up and restored with the
//! server's own tools: both commands say how in one line (`crate::postgres`).

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};
use parkmesh_config::Config;
use parkmesh_storage::DbSummary;
use serde_json::{Value, json};

use super::local::{connect, connect_ip};
use super::{Output, print};

/// A size in bytes, KiB, MiB or GiB.
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["bytes", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn summary_json(s: &DbSummary) -> Value {
    json!({
        "path": s.path.display().to_string(),
        "bytes": s.bytes,
        "events": s.events,
        "origin": s.origin,
        "incarnation": s.incarnation,
        "new_incarnation_pending": s.new_incarnation_pending,
    })
}

/// `backup <file> [--force]`.
pub(crate) async fn backup(
    config: &Config,
    file: &Path,
    force: bool,
    out: Output,
) -> anyhow::Result<()> {
    if let Some(url) = crate::postgres::url(config) {
        return Err(crate::postgres::backup_hint(config, url, file));
    }
    let id = config.this_central().id.to_string();
    let db = config.db_path();
    let started = Instant::now();
    let copy = parkmesh_storage::backup(&db, file, force)
        .await
        .with_context(|| format!("backup of {id} failed"))?;
    let secs = started.elapsed().as_secs_f64();
    let mut json = summary_json(&copy);
    json["source"] = json!(db.display().to_string());
    json["integrity"] = json!("ok");
    json["seconds"] = json!(secs);
    print(out, &json, || {
        format!(
            "backed up {id} to {}: {}, {} events, integrity ok ({secs:.1} s)\n",
            copy.path.display(),
            human_bytes(copy.bytes),
            copy.events
        )
    });
    Ok(())
}

/// `restore <file>`: only while the central is stopped.
pub(crate) async fn restore(config: &Config, file: &Path, out: Output) -> anyhow::Result<()> {
    if let Some(url) = crate::postgres::url(config) {
        return Err(crate::postgres::restore_hint(config, url, file));
    }
    let me = config.this_central();
    let host = connect_ip(config.bind()).to_string();
    for (what, port) in [("API", me.api_port), ("mesh", me.p2p_port)] {
        if connect(&host, port).await.is_ok() {
            bail!(
                "{} looks running: something answers on its {what} port {host}:{port} — stop it before restoring",
                me.id
            );
        }
    }
    let db = config.db_path();
    let done = parkmesh_storage::restore(file, &db, me.id.as_str())
        .await
        .with_context(|| format!("restore of {} failed", me.id))?;
    let mut json = summary_json(&done.installed);
    json["from"] = json!(file.display().to_string());
    json["replaced"] = json!(done.replaced.as_ref().map(|p| p.display().to_string()));
    print(out, &json, || {
        let mut text = format!(
            "restored {} from {}: {} events, {} at {}\n",
            me.id,
            file.display(),
            done.installed.events,
            human_bytes(done.installed.bytes),
            db.display()
        );
        if let Some(old) = &done.replaced {
            text.push_str(&format!(
                "the database it replaces was moved to {}\n",
                old.display()
            ));
        }
        text.push_str(
            "at its next start the central begins a new incarnation and catches up from its peers\n",
        );
        text
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_readable() {
        assert_eq!(human_bytes(512), "512 bytes");
        assert_eq!(human_bytes(2048), "2.0 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024 + 1024 * 512), "5.5 MiB");
    }
}
