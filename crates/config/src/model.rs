//! Stage two: the validated [`Config`], its parts ([`Central`], [`PlatePolicy`]) and accessors.
//!
//! The checks that build a `Config` live in `validate` (with `Config`'s constructors); a `Config`
//! can only come out of them, so every value held here has passed validation. This module does
//! not know `validate`.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::tz::TimeZone;
pub use parkmesh_parking::plate::{ExitMatch, PlatePolicy};
use parkmesh_protocol::CentralId;
use serde_json::Value;

use crate::error::Diagnostic;
use crate::host::Host;
use crate::network::Network;
use crate::raw::{RawCentral, RawConfig, RawMesh, RawStorage, RawTls, TOP_KEYS};

/// File name of the SQLite database inside `data_dir`.
pub const DB_FILE_NAME: &str = "central.db";

/// A validated config plus the warnings (unknown keys, weak secrets) found on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The validated config.
    pub config: Config,
    /// Things worth logging that did not stop the config from loading.
    pub warnings: Vec<Diagnostic>,
}

/// The validated configuration of one central. Build it with [`Config::load`],
/// [`Config::from_raw`] or [`Config::from_json_value`]; change it by editing [`Config::to_raw`] and
/// validating again.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub(crate) this_central: Central,
    pub(crate) peer_centrals: Vec<Central>,
    pub(crate) bind: IpAddr,
    pub(crate) cluster_secret: Secret,
    pub(crate) admin_token: Secret,
    pub(crate) admin_networks: Vec<Network>,
    pub(crate) timezone_name: String,
    pub(crate) timezone: TimeZone,
    pub(crate) data_dir: PathBuf,
    pub(crate) data_dir_override: Option<PathBuf>,
    pub(crate) plate_policy: PlatePolicy,
    pub(crate) exit_match: ExitMatch,
    pub(crate) max_stay_hours: u64,
    pub(crate) max_clock_skew_secs: u64,
    pub(crate) max_event_age_secs: u64,
    pub(crate) metrics: bool,
    pub(crate) edge_request_retention_secs: u64,
    pub(crate) tls: Option<RawTls>,
    pub(crate) mesh: RawMesh,
    pub(crate) storage_backend: StorageBackend,
    pub(crate) database_url: Secret,
}

/// Which database keeps a central's event log and projections (the `storage` section).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageBackend {
    /// The embedded SQLite file `<data_dir>/central.db` (the default).
    Sqlite,
    /// A PostgreSQL database named by [`Config::database_url`].
    Postgres,
}

impl StorageBackend {
    /// The name the `storage.backend` key uses.
    pub fn as_str(self) -> &'static str {
        match self {
            StorageBackend::Sqlite => "sqlite",
            StorageBackend::Postgres => "postgres",
        }
    }
}

/// One central: this one or a peer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Central {
    /// Its id.
    pub id: CentralId,
    /// Where others reach it.
    pub ip: Host,
    /// Mesh port (non-zero).
    pub p2p_port: u16,
    /// HTTP API port (non-zero, different from `p2p_port`).
    pub api_port: u16,
}

impl Central {
    /// `host:port` of its mesh listener (IPv6 in brackets).
    pub fn p2p_addr(&self) -> String {
        self.ip.with_port(self.p2p_port)
    }

    fn to_raw(&self) -> RawCentral {
        RawCentral {
            id: self.id.as_str().to_owned(),
            ip: self.ip.to_string(),
            p2p_port: i64::from(self.p2p_port),
            api_port: i64::from(self.api_port),
        }
    }
}

/// A secret as given by the file and by the environment; the environment wins, the file value is
/// what gets saved. `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq, Default)]
pub(crate) struct Secret {
    pub(crate) file: Option<String>,
    pub(crate) env: Option<String>,
}

impl Secret {
    pub(crate) fn effective(&self) -> Option<&str> {
        self.env.as_deref().or(self.file.as_deref())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.env, &self.file) {
            (Some(_), _) => f.write_str("Some(<redacted, from env>)"),
            (None, Some(_)) => f.write_str("Some(<redacted, from file>)"),
            (None, None) => f.write_str("None"),
        }
    }
}

impl Config {
    /// The config as the file would hold it: file values of the secrets (never ones from the
    /// environment) and `data_dir` as written (not the command-line override).
    pub fn to_raw(&self) -> RawConfig {
        RawConfig {
            this_central: self.this_central.to_raw(),
            peer_centrals: self.peer_centrals.iter().map(Central::to_raw).collect(),
            bind: self.bind.to_string(),
            cluster_secret: self.cluster_secret.file.clone(),
            admin_token: self.admin_token.file.clone(),
            admin_networks: self
                .admin_networks
                .iter()
                .map(ToString::to_string)
                .collect(),
            timezone: self.timezone_name.clone(),
            data_dir: self.data_dir.to_string_lossy().into_owned(),
            plate_policy: self.plate_policy.as_str().to_owned(),
            exit_match: self.exit_match.as_str().to_owned(),
            max_stay_hours: i64::try_from(self.max_stay_hours).unwrap_or(i64::MAX),
            max_clock_skew_secs: i64::try_from(self.max_clock_skew_secs).unwrap_or(i64::MAX),
            max_event_age_secs: i64::try_from(self.max_event_age_secs).unwrap_or(i64::MAX),
            metrics: self.metrics,
            edge_request_retention_secs: i64::try_from(self.edge_request_retention_secs)
                .unwrap_or(i64::MAX),
            tls: self.tls.clone(),
            mesh: self.mesh.clone(),
            storage: RawStorage {
                backend: self.storage_backend.as_str().to_owned(),
                url: self.database_url.file.clone(),
            },
        }
    }

    /// The top-level keys whose values differ between `self` and `other`, in [`crate::TOP_KEYS`]
    /// order; secrets are compared by their file values (what a save changes).
    pub fn changed_keys(&self, other: &Config) -> Vec<&'static str> {
        let (a, b) = (self.to_raw().to_json(), other.to_raw().to_json());
        TOP_KEYS
            .iter()
            .copied()
            .filter(|key| a.get(*key) != b.get(*key))
            .collect()
    }

    /// The config for `GET /api/p2p/config`: the seed's shape plus our non-secret additions.
    /// `cluster_secret` and `admin_token` are never included, nor the `storage` section (its URL
    /// may carry a database password; a body without `storage` keeps the one in force).
    pub fn public_json(&self) -> Value {
        let mut raw = self.to_raw();
        raw.cluster_secret = None;
        raw.admin_token = None;
        raw.storage = RawStorage::default();
        raw.to_json()
    }

    /// This central.
    pub fn this_central(&self) -> &Central {
        &self.this_central
    }

    /// The configured peers, in file order; ids are unique and differ from this central's.
    pub fn peer_centrals(&self) -> &[Central] {
        &self.peer_centrals
    }

    /// The peer with this id.
    pub fn peer(&self, id: &CentralId) -> Option<&Central> {
        self.peer_centrals.iter().find(|p| &p.id == id)
    }

    /// True when there are no peers: the central runs alone.
    pub fn is_standalone(&self) -> bool {
        self.peer_centrals.is_empty()
    }

    /// Listen address of both listeners.
    pub fn bind(&self) -> IpAddr {
        self.bind
    }

    /// Where the HTTP API listens: `bind:this_central.api_port`.
    pub fn api_listen_addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.this_central.api_port)
    }

    /// Where the mesh listens: `bind:this_central.p2p_port`.
    pub fn p2p_listen_addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.this_central.p2p_port)
    }

    /// The mesh secret in force (environment over file), if any.
    pub fn cluster_secret(&self) -> Option<&str> {
        self.cluster_secret.effective()
    }

    /// The admin token in force (environment over file), if any. Without one, mutating admin
    /// endpoints accept loopback clients only (see [`Config::authorize_admin`]).
    pub fn admin_token(&self) -> Option<&str> {
        self.admin_token.effective()
    }

    /// Networks whose clients may make admin changes without the token (see
    /// [`Config::authorize_admin`]); loopback by default, empty for token-only access.
    pub fn admin_networks(&self) -> &[Network] {
        &self.admin_networks
    }

    /// The site time zone.
    pub fn timezone(&self) -> &TimeZone {
        &self.timezone
    }

    /// The site time zone's IANA name, e.g. `Asia/Ho_Chi_Minh`.
    pub fn timezone_name(&self) -> &str {
        &self.timezone_name
    }

    /// The data directory in force: the override if one was set, else the file's `data_dir`.
    /// Relative paths are relative to the working directory of the process.
    pub fn data_dir(&self) -> &Path {
        self.data_dir_override.as_deref().unwrap_or(&self.data_dir)
    }

    /// `<data_dir>/central.db`.
    pub fn db_path(&self) -> PathBuf {
        self.data_dir().join(DB_FILE_NAME)
    }

    /// Uses `dir` instead of the file's `data_dir` (e.g. from `--data-dir`); not saved to the file.
    pub fn with_data_dir_override(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir_override = Some(dir.into());
        self
    }

    /// Which database keeps the log and the projections (`storage.backend`; SQLite by default).
    /// Read at start.
    pub fn storage_backend(&self) -> StorageBackend {
        self.storage_backend
    }

    /// The PostgreSQL connection URL in force (environment [`crate::ENV_DATABASE_URL`] over
    /// `storage.url`): set exactly when [`Config::storage_backend`] is
    /// [`StorageBackend::Postgres`]. It may carry a password: never log it whole.
    pub fn database_url(&self) -> Option<&str> {
        match self.storage_backend {
            StorageBackend::Sqlite => None,
            StorageBackend::Postgres => self.database_url.effective(),
        }
    }

    /// How plate reads are checked.
    pub fn plate_policy(&self) -> PlatePolicy {
        self.plate_policy
    }

    /// How long a car may stay before it is an overstay; `None` when overstays are off
    /// (`max_stay_hours` 0).
    pub fn max_stay(&self) -> Option<Duration> {
        (self.max_stay_hours > 0).then(|| Duration::from_secs(self.max_stay_hours * 3600))
    }

    /// How an exit of a plate with no open session is matched.
    pub fn exit_match(&self) -> ExitMatch {
        self.exit_match
    }

    /// Largest accepted distance between a peer's clock and ours; also how far in the future an
    /// edge timestamp is honoured.
    pub fn max_clock_skew(&self) -> Duration {
        Duration::from_secs(self.max_clock_skew_secs)
    }

    /// How far in the past an edge timestamp is honoured: an edge replays the events it queued
    /// while the central was unreachable with their original times.
    pub fn max_event_age(&self) -> Duration {
        Duration::from_secs(self.max_event_age_secs)
    }

    /// Whether `GET /metrics` is served (the `metrics` key; on by default).
    pub fn metrics_enabled(&self) -> bool {
        self.metrics
    }

    /// Whether this central offers `deflate` compression of mesh frames (`mesh.compression`, on
    /// by default). A link compresses only when both ends offer it. Read at start.
    pub fn mesh_compression(&self) -> bool {
        self.mesh.compression
    }

    /// Period of the liveness pings on each mesh link (`mesh.ping_interval_secs`, default 5 s).
    /// Read at start.
    pub fn mesh_ping_interval(&self) -> Duration {
        Duration::from_secs(u64::try_from(self.mesh.ping_interval_secs).unwrap_or(5))
    }

    /// Silence after which a peer is shown down and its link closed and redialled
    /// (`mesh.dead_after_secs`, default 15 s). Read at start.
    pub fn mesh_dead_after(&self) -> Duration {
        Duration::from_secs(u64::try_from(self.mesh.dead_after_secs).unwrap_or(15))
    }

    /// How long answers to edge requests are remembered for repeats (default three days).
    pub fn edge_request_retention(&self) -> Duration {
        Duration::from_secs(self.edge_request_retention_secs)
    }

    /// The TLS files (certificate chain, private key, cluster CA), when TLS is on. Relative
    /// paths are relative to the working directory of the process, like `data_dir`. TLS covers
    /// the mesh, and the API unless [`Config::api_tls`] is false; every central of a cluster must
    /// agree on both.
    pub fn tls(&self) -> Option<(&Path, &Path, &Path)> {
        self.tls.as_ref().map(|t| {
            (
                Path::new(t.cert_path.as_str()),
                Path::new(t.key_path.as_str()),
                Path::new(t.ca_path.as_str()),
            )
        })
    }

    /// Whether the HTTP API uses TLS: with a `tls` section, unless it says `"api": false`.
    pub fn api_tls(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.api)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let secret = Secret {
            file: Some("file-secret-value".into()),
            env: Some("env-secret-value".into()),
        };
        let shown = format!("{secret:?}");
        assert!(!shown.contains("secret-value"), "{shown}");
        assert_eq!(secret.effective(), Some("env-secret-value"));
    }
}
