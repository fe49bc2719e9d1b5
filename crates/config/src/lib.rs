//! Loads, validates and atomically saves a central's `p2p_config.json`.
//!
//! The file keeps the seed's shape (`this_central {id, ip, p2p_port, api_port}`,
//! `peer_centrals [{id, ip, p2p_port, api_port}]`) and adds `bind`, `cluster_secret`, `admin_token`,
//! `admin_networks`, `timezone`, `data_dir`, `plate_policy`, `exit_match`, `max_stay_hours`,
//! `max_clock_skew_secs`,
//! `max_event_age_secs`, `metrics`, `edge_request_retention_secs`, the optional `tls`
//! section, the `mesh` section (compression, liveness timers) and the `storage` section (SQLite
//! or PostgreSQL), each with a default.
//!
//! Loading has two stages (the ripgrep `LowArgs` → `HiArgs` split):
//!
//! 1. [`RawConfig`] mirrors the JSON document field for field. It is decoded from a
//!    `serde_json::Value` by hand, so one pass reports every type error with its path and every
//!    unknown key as a warning.
//! 2. [`Config`] is the validated form: ids are [`CentralId`]s, hosts are [`Host`]s, ports are
//!    non-zero `u16`s, the time zone is a real IANA zone. Every problem found is reported at once,
//!    each naming the field path and the fix ([`Diagnostic`], [`ConfigError`]).
//!
//! Environment variables [`ENV_CLUSTER_SECRET`], [`ENV_ADMIN_TOKEN`] and [`ENV_DATABASE_URL`]
//! override the file; the
//! environment lookup is passed in, so tests never touch the process environment. Secrets taken from
//! the environment are never written back to the file, and no secret ever appears in
//! [`Config::public_json`] or in `Debug` output.
//!
//! Relative `data_dir` paths are resolved against the working directory of the process, as in the
//! seed (which ran from its project root and used `data/central.db`) and as with every other path
//! given on the command line; `config/p2p_config.json` with `"data_dir": "data"` therefore puts the
//! database in `./data/central.db`, not `./config/data/central.db`. The value is stored as written,
//! so saving never turns it into an absolute path.
//!
//! Saving ([`Config::save_atomic`]) writes a temporary file in the same directory, syncs it, renames
//! it over the target and syncs the directory, so a crash leaves either the old or the new file.
//! Loading never writes: a broken file is reported, never replaced by defaults (the original overwrote an
//! unreadable config file with defaults, losing the site's peers).
//!
//! # Layout
//!
//! - `raw`: [`RawConfig`], [`RawCentral`], the named defaults and the key table (stage one): each
//!   top-level key is declared once there.
//! - `decode`: the typed JSON field readers, unknown-key warnings and the diagnostics report.
//! - `model`: [`Config`], [`Central`], [`PlatePolicy`] and their accessors (stage two).
//! - `validate`: the checks that turn a [`RawConfig`] into a [`Config`].
//! - `host`: [`Host`], an IP address or DNS host name.
//! - `network`: [`Network`], an IP network in CIDR notation (`admin_networks`).
//! - `file`: [`Config::load`] and [`Config::save_atomic`].
//! - `env`: the environment overrides ([`ENV_CLUSTER_SECRET`], [`ENV_ADMIN_TOKEN`],
//!   [`ENV_DATABASE_URL`]) and lookups.
//! - `admin`: the rule for mutating admin endpoints ([`Config::authorize_admin`], [`AdminGrant`]).
//! - `error`: [`ConfigError`], [`Diagnostic`], [`AdminDenied`].
//!
//! In the crate graph this sits just above `parkmesh-protocol` (for [`CentralId`]) and below the
//! binary and the `api`/`manager` crates, which read the validated [`Config`].

mod admin;
mod decode;
mod env;
mod error;
mod file;
mod host;
mod model;
mod network;
mod raw;
mod validate;

pub use parkmesh_protocol::CentralId;

pub use crate::admin::AdminGrant;
pub use crate::env::{ENV_ADMIN_TOKEN, ENV_CLUSTER_SECRET, ENV_DATABASE_URL, no_env, process_env};
pub use crate::error::{AdminDenied, ConfigError, Diagnostic};
pub use crate::host::Host;
pub use crate::model::{
    Central, Config, DB_FILE_NAME, ExitMatch, Loaded, PlatePolicy, StorageBackend,
};
pub use crate::network::Network;
pub use crate::raw::{
    DEFAULT_ADMIN_NETWORKS, DEFAULT_API_PORT, DEFAULT_BIND, DEFAULT_DATA_DIR,
    DEFAULT_EDGE_REQUEST_RETENTION_SECS, DEFAULT_MAX_CLOCK_SKEW_SECS, DEFAULT_MAX_EVENT_AGE_SECS,
    DEFAULT_MESH_DEAD_AFTER_SECS, DEFAULT_MESH_PING_INTERVAL_SECS, DEFAULT_P2P_PORT,
    DEFAULT_STORAGE_BACKEND, DEFAULT_TIMEZONE, RawCentral, RawConfig, RawMesh, RawStorage, RawTls,
    TOP_KEYS,
};
