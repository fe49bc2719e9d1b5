//! Reading and atomically writing the config file.
//!
//! Loading only reads: whatever is wrong with the file is reported and the file is left as it is,
//! never replaced by defaults (the original system did, and a node lost its identity that way).
//! Saving writes a temporary file next to the target, syncs it, renames it over the target and syncs
//! the directory, so after a crash the file holds either the old or the new document, never a torn
//! one. Temporary files are named `.<name>.tmp-<pid>-<n>`; a leftover one is ignored by loading.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use crate::env::process_env;
use crate::error::ConfigError;
use crate::model::{Config, Loaded};
use crate::validate::from_value;

/// Distinguishes temporary files of concurrent saves within one process.
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Config {
    /// Reads and validates the file at `path`, with the process environment for
    /// `PARKMESH_CLUSTER_SECRET` / `PARKMESH_ADMIN_TOKEN`. Never writes.
    pub fn load(path: impl AsRef<Path>) -> Result<Loaded, ConfigError> {
        Self::load_with_env(path, process_env)
    }

    /// [`Config::load`] with an explicit environment lookup.
    pub fn load_with_env(
        path: impl AsRef<Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Loaded, ConfigError> {
        let path = path.as_ref();
        let bytes = fs::read(path).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => ConfigError::NotFound {
                path: path.to_owned(),
            },
            _ => ConfigError::Read {
                path: path.to_owned(),
                source,
            },
        })?;
        let origin = path.display().to_string();
        let text = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(&bytes);
        let value: Value = serde_json::from_slice(text).map_err(|err| ConfigError::Syntax {
            origin: origin.clone(),
            line: err.line(),
            column: err.column(),
            message: syntax_message(&err),
        })?;
        let loaded = from_value(&value, &env, &origin)?;
        tracing::debug!(
            path = %path.display(),
            central = %loaded.config.this_central().id,
            peers = loaded.config.peer_centrals().len(),
            warnings = loaded.warnings.len(),
            "config loaded"
        );
        Ok(loaded)
    }

    /// Writes the config to `path` atomically (see the module docs). Secrets from the environment
    /// and the `data_dir` override are not written. An existing file keeps its permissions; a new
    /// one is readable by its owner only, since it may hold secrets.
    pub fn save_atomic(&self, path: impl AsRef<Path>) -> Result<(), ConfigError> {
        let path = path.as_ref();
        let mut text = serde_json::to_string_pretty(&self.to_raw().to_json()).map_err(|err| {
            ConfigError::Write {
                path: path.to_owned(),
                source: io::Error::other(err),
            }
        })?;
        text.push('\n');
        write_atomic(path, text.as_bytes()).map_err(|source| ConfigError::Write {
            path: path.to_owned(),
            source,
        })?;
        tracing::info!(path = %path.display(), "config saved");
        Ok(())
    }
}

/// serde_json's message without its trailing " at line L column C" (the error shows them itself).
fn syntax_message(err: &serde_json::Error) -> String {
    let full = err.to_string();
    match full.rfind(" at line ") {
        Some(idx) => full[..idx].to_owned(),
        None => full,
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    // Replace the file a symlink points at, not the symlink.
    let target: PathBuf = match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => fs::canonicalize(path)?,
        _ => path.to_owned(),
    };
    let dir = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = target.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the path names a directory, not a file",
        )
    })?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let res = write_and_rename(&tmp, &target, &dir, bytes);
    if res.is_err() {
        // Best effort: the temp file is garbage either way and loading ignores it.
        let _ = fs::remove_file(&tmp);
    }
    res
}

fn write_and_rename(tmp: &Path, target: &Path, dir: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(tmp)?;
    set_permissions_like(&file, target)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(tmp, target)?;
    sync_dir(dir)
}

#[cfg(unix)]
fn set_permissions_like(file: &File, target: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = match fs::metadata(target) {
        Ok(meta) => meta.permissions().mode() & 0o7777,
        Err(_) => 0o600,
    };
    file.set_permissions(fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_permissions_like(_file: &File, _target: &Path) -> io::Result<()> {
    Ok(())
}

/// Makes the rename durable: on Unix a directory entry change is only on disk once the directory
/// itself is synced.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}
