//! Running cargo from inside `cargo xtask` as if from a plain shell.
//!
//! `cargo run` (which is what the `xtask` alias is) hands its child the package's own
//! environment: `CARGO_PKG_*`, `CARGO_MANIFEST_*`, `CARGO_CRATE_NAME`, a `LD_LIBRARY_PATH` with
//! the target and toolchain folders in front, and so on. A nested `cargo build` that inherits them
//! sees environment variables that build scripts watch (`rerun-if-env-changed`) with other values
//! than a plain `cargo build` saw, and rebuilds ring, rustls and every parkmesh crate. [`cargo`]
//! removes what `cargo run` added, so `cargo build --release -p central-server`, `cargo xtask demo`
//! and `cargo xtask bench` in a row share one release build.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::bail;

/// Variables `cargo run` sets for the program it runs (besides `LD_LIBRARY_PATH`).
fn set_by_cargo_run(name: &str) -> bool {
    matches!(
        name,
        "CARGO_MANIFEST_DIR"
            | "CARGO_MANIFEST_PATH"
            | "CARGO_CRATE_NAME"
            | "CARGO_BIN_NAME"
            | "CARGO_PRIMARY_PACKAGE"
            | "CARGO_TARGET_TMPDIR"
            | "CARGO_RUSTC_CURRENT_DIR"
    ) || name.starts_with("CARGO_PKG_")
}

/// `LD_LIBRARY_PATH` without the folders `cargo run` put in front (the workspace's target
/// folder and the toolchain's libraries); `None` when nothing else is left.
fn library_path_without_cargo(value: &str, target: &Path) -> Option<String> {
    let kept: Vec<&str> = value
        .split(':')
        .filter(|p| !p.is_empty())
        .filter(|p| !Path::new(p).starts_with(target) && !p.contains("/toolchains/"))
        .collect();
    (!kept.is_empty()).then(|| kept.join(":"))
}

/// A `cargo` command run in the workspace root with the environment a plain shell would give it.
pub(crate) fn cargo(root: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(root);
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(set_by_cargo_run) {
            cmd.env_remove(&name);
        }
    }
    if let Some(value) = std::env::var_os("LD_LIBRARY_PATH") {
        match library_path_without_cargo(&value.to_string_lossy(), &root.join("target")) {
            Some(kept) => cmd.env("LD_LIBRARY_PATH", kept),
            None => cmd.env_remove("LD_LIBRARY_PATH"),
        };
    }
    cmd
}

/// The workspace root (the xtask crate's parent folder).
pub(crate) fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Builds the release `central-server` binary and returns its path.
pub(crate) fn build_release_server(root: &Path) -> anyhow::Result<PathBuf> {
    let status = cargo(root)
        .args(["build", "--release", "-p", "central-server"])
        .status()?;
    if !status.success() {
        bail!("building central-server failed");
    }
    Ok(root.join("target/release/central-server"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_package_environment_of_cargo_run_is_removed() {
        assert!(set_by_cargo_run("CARGO_PKG_NAME"));
        assert!(set_by_cargo_run("CARGO_MANIFEST_DIR"));
        assert!(!set_by_cargo_run("CARGO_HOME"));
        assert!(!set_by_cargo_run("CARGO_TARGET_DIR"));
        assert!(!set_by_cargo_run("CARGO_INCREMENTAL"));
    }

    #[test]
    fn only_the_folders_cargo_run_added_leave_the_library_path() {
        let target = Path::new("/w/target");
        assert_eq!(
            library_path_without_cargo(
                "/w/target/debug:/w/target/debug/deps:/r/toolchains/s/lib:/opt/lib",
                target
            ),
            Some("/opt/lib".to_owned())
        );
        assert_eq!(
            library_path_without_cargo("/w/target/debug:/r/toolchains/s/lib", target),
            None
        );
    }
}
