//! `cargo xtask dist [--debug]`: the release artefacts in `target/dist/`.
//!
//! Builds `central-server` (release, or the dev profile with `--debug` for a quick try) and hands
//! it to `packaging/make-packages.sh`, which lays out the tarball (binary, sample configuration,
//! licences, install note, systemd unit) and the Debian package (binary, hardened
//! `parkmesh.service`, the configuration as a conffile in `/etc/parkmesh`, maintainer scripts
//! that create the `parkmesh` user and purge `/var/lib/parkmesh`) with Debian's `dpkg-deb`. The
//! same script is what the package test runs, so what is tested is what ships.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};
use clap::Args;

/// Arguments of `dist`.
#[derive(Debug, Args)]
pub(crate) struct Dist {
    /// Package the dev-profile build instead of the release one (faster; for trying it out).
    #[arg(long)]
    debug: bool,
}

impl Dist {
    pub(crate) fn run(&self) -> anyhow::Result<()> {
        let root = crate::cargo::workspace_root();
        let binary = if self.debug {
            let status = crate::cargo::cargo(&root)
                .args(["build", "-p", "central-server"])
                .status()?;
            if !status.success() {
                bail!("building central-server failed");
            }
            root.join("target/debug/central-server")
        } else {
            crate::cargo::build_release_server(&root)?
        };
        let version = version_of(&binary)?;
        let out = root.join("target/dist");
        let made = Command::new("bash")
            .arg(root.join("packaging/make-packages.sh"))
            .arg(&binary)
            .arg(&version)
            .arg(&out)
            .output()
            .context("cannot run packaging/make-packages.sh")?;
        if !made.status.success() {
            bail!(
                "packaging failed: {}",
                String::from_utf8_lossy(&made.stderr).trim()
            );
        }
        println!("{}", version_line(&binary)?);
        for file in String::from_utf8_lossy(&made.stdout).lines() {
            let size = std::fs::metadata(file).map_or(0, |m| m.len());
            println!("{file} ({} KiB)", size / 1024);
        }
        Ok(())
    }
}

/// `central-server --version`'s line.
fn version_line(binary: &Path) -> anyhow::Result<String> {
    let out = Command::new(binary)
        .arg("--version")
        .output()
        .with_context(|| format!("cannot run {}", binary.display()))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The package version, from `central-server X (commit ..., built ...)`.
fn version_of(binary: &Path) -> anyhow::Result<String> {
    let line = version_line(binary)?;
    parse_version(&line).with_context(|| format!("unexpected --version output {line:?}"))
}

fn parse_version(line: &str) -> Option<String> {
    let rest = line.strip_prefix("central-server ")?;
    let version = rest.split_whitespace().next()?;
    (!version.is_empty()).then(|| version.to_owned())
}

#[cfg(test)]
mod tests {
    use super::parse_version;

    #[test]
    fn the_version_is_read_from_the_version_line() {
        assert_eq!(
            parse_version("central-server 0.1.0 (commit 0123456789ab, built 2026-01-31)"),
            Some("0.1.0".to_owned())
        );
        assert_eq!(parse_version("something else"), None);
    }
}
