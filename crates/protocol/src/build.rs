//! What this build is: the software version a central announces in its `Hello`, shows in
//! `/api/p2p/status` and exports as `parkmesh_build_info`.
//!
//! The binary knows its git commit and build date (its build script records them) and sets them
//! once at start with [`set_build_info`]; a library embedding the mesh without calling it
//! announces the crate version with the commit `unknown`. No IO: one process-wide value.

use std::sync::OnceLock;

/// Version, commit and build date of the running software.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    /// Package version (`0.1.0`).
    pub version: String,
    /// Git commit the binary was built from (abbreviated), or `unknown`.
    pub commit: String,
    /// UTC build date (`YYYY-MM-DD`), or `unknown`.
    pub date: String,
}

impl BuildInfo {
    /// The version as announced to peers: `0.1.0+<commit>` (semver build metadata), or the bare
    /// version when the commit is unknown.
    pub fn announced(&self) -> String {
        if self.commit == "unknown" || self.commit.is_empty() {
            self.version.clone()
        } else {
            format!("{}+{}", self.version, self.commit)
        }
    }
}

static BUILD: OnceLock<BuildInfo> = OnceLock::new();

/// Records this process's build information; the first call wins (later ones return `false`).
pub fn set_build_info(info: BuildInfo) -> bool {
    BUILD.set(info).is_ok()
}

/// This process's build information: what [`set_build_info`] recorded, else this crate's
/// version with an unknown commit and date.
pub fn build_info() -> &'static BuildInfo {
    BUILD.get_or_init(|| BuildInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        commit: "unknown".to_owned(),
        date: "unknown".to_owned(),
    })
}
