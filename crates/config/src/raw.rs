//! Stage one: the raw document, mirroring `p2p_config.json` field for field.
//!
//! [`RawConfig`] holds what the file says, with defaults filled in but nothing checked beyond JSON
//! types. Each top-level key is declared once, in the [`config_keys!`] table at the foot of the
//! definitions: its doc, type, default and reader. The table generates [`TOP_KEYS`], the struct
//! field, [`RawConfig::standalone`] and the decoder; [`RawConfig::to_json`] is serde's, so the
//! file shape follows the struct.
//!
//! Decoding is by hand from a `serde_json::Value` rather than by `#[derive(Deserialize)]`: serde
//! stops at the first type error and names no path, whereas these readers report every type error
//! with its path (`peer_centrals[2].p2p_port`) and every unknown key as a warning, in one pass.
//! Ports stay `i64` here so that `0`, `-1` and `70000` reach stage two and get a port-specific
//! message instead of a type error.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::decode::{Report, integer, join, kind, object, string};

/// Default `p2p_port` (mesh listener), for `this_central` and every peer; the seed guide's port.
pub const DEFAULT_P2P_PORT: u16 = 9000;
/// Default `api_port` (HTTP API); the seed dropped peers' ports and assumed this one.
pub const DEFAULT_API_PORT: u16 = 8000;
/// Default listen address: every interface.
pub const DEFAULT_BIND: &str = "0.0.0.0";
/// Default site time zone, used to render the seed's local `YYYY-MM-DD HH:MM:SS` times.
pub const DEFAULT_TIMEZONE: &str = "Asia/Ho_Chi_Minh";
/// Default data directory, relative to the working directory of the process.
pub const DEFAULT_DATA_DIR: &str = "data";
/// Default largest accepted distance between a peer's clock and ours, in seconds.
pub const DEFAULT_MAX_CLOCK_SKEW_SECS: u64 = 300;
/// Default oldest edge timestamp honoured, in seconds before the server clock: one day, so an
/// edge's queue replayed after a day-long outage of the central still bills by the gates' times.
pub const DEFAULT_MAX_EVENT_AGE_SECS: u64 = 86_400;
/// Default `admin_networks`: this machine only.
pub const DEFAULT_ADMIN_NETWORKS: &[&str] = &["127.0.0.0/8", "::1/128"];
/// Default age after which remembered edge requests are forgotten: three days, in seconds.
pub const DEFAULT_EDGE_REQUEST_RETENTION_SECS: u64 = 3 * 24 * 3600;

/// Default period of the mesh's liveness pings, in seconds.
pub const DEFAULT_MESH_PING_INTERVAL_SECS: u64 = 5;
/// Default silence after which a mesh peer is shown down and its link redialled, in seconds.
pub const DEFAULT_MESH_DEAD_AFTER_SECS: u64 = 15;

const CENTRAL_KEYS: &[&str] = &["id", "ip", "p2p_port", "api_port"];
const TLS_KEYS: &[&str] = &["cert_path", "key_path", "ca_path", "api"];
const MESH_KEYS: &[&str] = &["compression", "ping_interval_secs", "dead_after_secs"];
const STORAGE_KEYS: &[&str] = &["backend", "url"];

/// Default storage backend: the embedded SQLite file in `data_dir`.
pub const DEFAULT_STORAGE_BACKEND: &str = "sqlite";

/// Declares the top-level keys: one line per key, in file order, each with its doc comment,
/// type, default and reader (`fn(&Map, key, &mut Report) -> Option<T>`: `None` when absent or
/// when a problem was recorded, which keeps the default). `#[serde(...)]` attributes shape
/// [`RawConfig::to_json`].
macro_rules! config_keys {
    ($(
        $(#[doc = $doc:literal])*
        $(#[serde($($serde:tt)*)])?
        $key:ident: $ty:ty = $default:expr, $reader:path;
    )*) => {
        /// Top-level keys of the configuration document, in file order.
        pub const TOP_KEYS: &[&str] = &[$(stringify!($key)),*];

        /// The whole document as written, defaults filled in, nothing validated.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
        pub struct RawConfig {
            $(
                $(#[doc = $doc])*
                $(#[serde($($serde)*)])?
                pub $key: $ty,
            )*
        }

        impl RawConfig {
            /// Every key at its default; `this_central` has an empty id and ip.
            fn defaults() -> Self {
                Self { $($key: $default,)* }
            }

            /// Reads every known key of `top` into `raw`, in file order.
            fn decode_keys(raw: &mut RawConfig, top: &Map<String, Value>, report: &mut Report) {
                $(
                    if let Some(value) = $reader(top, stringify!($key), report) {
                        raw.$key = value;
                    }
                )*
            }
        }
    };
}

config_keys! {
    /// This central's identity and addresses.
    this_central: RawCentral = RawCentral::new("", ""), this_central;
    /// The centrals this one replicates with; empty means standalone.
    peer_centrals: Vec<RawCentral> = Vec::new(), peers;
    /// Listen address for both the HTTP API and the mesh listener.
    bind: String = DEFAULT_BIND.to_owned(), text;
    /// Shared secret that authenticates mesh peers.
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster_secret: Option<String> = None, secret;
    /// Bearer token for mutating admin endpoints.
    #[serde(skip_serializing_if = "Option::is_none")]
    admin_token: Option<String> = None, secret;
    /// Networks (CIDR) whose clients may make admin changes without the token.
    admin_networks: Vec<String> = owned(DEFAULT_ADMIN_NETWORKS), networks;
    /// IANA time zone of the site.
    timezone: String = DEFAULT_TIMEZONE.to_owned(), text;
    /// Directory of the database and other state.
    data_dir: String = DEFAULT_DATA_DIR.to_owned(), text;
    /// `lenient` or `strict`.
    plate_policy: String = "lenient".to_owned(), text;
    /// `confusable` (an exit of a plate with no open session closes the one open session of a
    /// look-alike plate) or `exact`.
    exit_match: String = "confusable".to_owned(), text;
    /// Hours after which a car still inside is an overstay; 0 = off.
    max_stay_hours: i64 = 0, whole;
    /// Largest accepted clock distance to a peer, and how far in the future an edge timestamp
    /// may be, in seconds.
    max_clock_skew_secs: i64 = secs(DEFAULT_MAX_CLOCK_SKEW_SECS), whole;
    /// How far in the past an edge timestamp may be (a replayed queue), in seconds.
    max_event_age_secs: i64 = secs(DEFAULT_MAX_EVENT_AGE_SECS), whole;
    /// Whether `GET /metrics` is served.
    metrics: bool = true, flag;
    /// Age in seconds after which a remembered edge request is forgotten.
    edge_request_retention_secs: i64 = secs(DEFAULT_EDGE_REQUEST_RETENTION_SECS), whole;
    /// TLS for the mesh and the API; absent means plain TCP.
    #[serde(skip_serializing_if = "Option::is_none")]
    tls: Option<RawTls> = None, tls;
    /// The `mesh` section: compression and the liveness timers of the links between sites.
    #[serde(skip_serializing_if = "RawMesh::is_default")]
    mesh: RawMesh = RawMesh::default(), mesh;
    /// The `storage` section: which database keeps the log and its projections.
    #[serde(skip_serializing_if = "RawStorage::is_default")]
    storage: RawStorage = RawStorage::default(), storage;
}

/// The `storage` section as written: `{"backend": "sqlite"}` (the default) or
/// `{"backend": "postgres", "url": "postgres://user@host/db"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RawStorage {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Connection URL of the PostgreSQL database (`postgres://...`); the environment variable
    /// `PARKMESH_DATABASE_URL` overrides it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl Default for RawStorage {
    fn default() -> Self {
        Self {
            backend: DEFAULT_STORAGE_BACKEND.to_owned(),
            url: None,
        }
    }
}

impl RawStorage {
    /// Whether the section says nothing but the default (the file then leaves it out).
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// The `mesh` section as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RawMesh {
    /// Whether this central offers `deflate` frame compression to its peers.
    pub compression: bool,
    /// Period of the liveness pings on every mesh link, in seconds.
    pub ping_interval_secs: i64,
    /// Silence after which a peer is shown down and its link closed and redialled, in seconds.
    pub dead_after_secs: i64,
}

impl Default for RawMesh {
    fn default() -> Self {
        Self {
            compression: true,
            ping_interval_secs: secs(DEFAULT_MESH_PING_INTERVAL_SECS),
            dead_after_secs: secs(DEFAULT_MESH_DEAD_AFTER_SECS),
        }
    }
}

impl RawMesh {
    /// Whether every field is at its default (the file then leaves the section out).
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// The `tls` section: PEM files of this central's certificate chain, its private key and the
/// cluster CA that issued every central's certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RawTls {
    /// Certificate chain of this central (PEM).
    pub cert_path: String,
    /// Private key of this central (PEM).
    pub key_path: String,
    /// The cluster CA's certificate (PEM), used to verify peers.
    pub ca_path: String,
    /// Whether the HTTP API uses TLS too (default); `false` keeps it on plain HTTP for edges on
    /// the site's LAN while the mesh between sites is encrypted.
    pub api: bool,
}

/// One central as written in `this_central` or in `peer_centrals`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RawCentral {
    /// Central id, e.g. `central-1`.
    pub id: String,
    /// IP address or DNS host name others reach the central at.
    pub ip: String,
    /// Mesh port.
    pub p2p_port: i64,
    /// HTTP API port.
    pub api_port: i64,
}

impl RawCentral {
    /// A central with the default ports.
    pub fn new(id: impl Into<String>, ip: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            ip: ip.into(),
            p2p_port: i64::from(DEFAULT_P2P_PORT),
            api_port: i64::from(DEFAULT_API_PORT),
        }
    }
}

impl RawConfig {
    /// A standalone central (no peers) with every other field at its default.
    pub fn standalone(id: impl Into<String>, ip: impl Into<String>) -> Self {
        Self {
            this_central: RawCentral::new(id, ip),
            ..Self::defaults()
        }
    }

    /// The document in the file's shape; absent secrets are left out rather than written as null.
    pub fn to_json(&self) -> Value {
        // Strings, integers, booleans and lists of them always serialize; the fallback is unreachable.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Decodes a document, recording type errors and unknown keys in `report`. Always returns a
    /// `RawConfig`; a field with a problem holds a placeholder, and stage two skips fields that
    /// already have a problem.
    pub(crate) fn decode(value: &Value, report: &mut Report) -> RawConfig {
        let mut raw = RawConfig::defaults();
        if let Some(top) = object(value, "", report) {
            report.unknown_keys(top, TOP_KEYS, "");
            Self::decode_keys(&mut raw, top, report);
        }
        raw
    }
}

/// A default list as owned strings.
fn owned(items: &[&str]) -> Vec<String> {
    items.iter().map(|n| (*n).to_owned()).collect()
}

/// A default in seconds as the raw `i64`.
fn secs(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Reader of a top-level string key.
fn text(obj: &Map<String, Value>, key: &str, report: &mut Report) -> Option<String> {
    string(obj, key, "", report)
}

/// Reader of a top-level optional string key (a secret).
fn secret(obj: &Map<String, Value>, key: &str, report: &mut Report) -> Option<Option<String>> {
    string(obj, key, "", report).map(Some)
}

/// Reader of a top-level integer key.
fn whole(obj: &Map<String, Value>, key: &str, report: &mut Report) -> Option<i64> {
    integer(obj, key, "", report)
}

/// Reader of a top-level boolean key.
fn flag(obj: &Map<String, Value>, key: &str, report: &mut Report) -> Option<bool> {
    match obj.get(key)? {
        Value::Null => None,
        Value::Bool(b) => Some(*b),
        other => {
            report.problem(
                key,
                format!("expected true or false, found {}", kind(other)),
            );
            None
        }
    }
}

fn this_central(obj: &Map<String, Value>, key: &str, report: &mut Report) -> Option<RawCentral> {
    match obj.get(key) {
        None | Some(Value::Null) => {
            report.problem(
                key,
                r#"missing — add "this_central": {"id": "central-1", "ip": "<this host's address>", "p2p_port": 9000, "api_port": 8000}"#,
            );
            None
        }
        Some(v) => Some(decode_central(v, key, report)),
    }
}

/// Reader of a top-level list: each item read by `item` with its path (`key[idx]`). Anything but
/// a list is a problem: "`expected`, found ... — `fix`".
fn list<T>(
    obj: &Map<String, Value>,
    key: &str,
    report: &mut Report,
    (expected, fix): (&str, &str),
    mut item: impl FnMut(&Value, &str, &mut Report) -> T,
) -> Option<Vec<T>> {
    match obj.get(key)? {
        Value::Null => None,
        Value::Array(items) => Some(
            items
                .iter()
                .enumerate()
                .map(|(idx, v)| item(v, &format!("{key}[{idx}]"), report))
                .collect(),
        ),
        other => {
            report.problem(key, format!("{expected}, found {} — {fix}", kind(other)));
            None
        }
    }
}

fn peers(obj: &Map<String, Value>, key: &str, report: &mut Report) -> Option<Vec<RawCentral>> {
    let message = ("expected a list of peers", "write [] for none");
    list(obj, key, report, message, decode_central)
}

fn networks(obj: &Map<String, Value>, key: &str, report: &mut Report) -> Option<Vec<String>> {
    let message = (
        r#"expected a list of networks such as ["192.168.1.0/24"]"#,
        "write [] for token-only access",
    );
    // A bad item keeps its place (as an empty placeholder, which stage two skips because its
    // path already has a problem), so later items keep their indexes.
    list(obj, key, report, message, |v, path, report| match v {
        Value::String(s) => s.clone(),
        other => {
            report.problem(
                path,
                format!(
                    "expected a network such as \"192.168.1.0/24\", found {}",
                    kind(other)
                ),
            );
            String::new()
        }
    })
}

fn tls(obj: &Map<String, Value>, key: &str, report: &mut Report) -> Option<Option<RawTls>> {
    let value = obj.get(key)?;
    if value.is_null() {
        return None;
    }
    let obj = object(value, key, report)?;
    report.unknown_keys(obj, TLS_KEYS, key);
    let mut path = |field: &str| {
        let value = string(obj, field, key, report);
        if value.is_none() {
            report.problem(
                join(key, field),
                "missing — the tls section needs cert_path, key_path and ca_path (PEM files)",
            );
        }
        value.unwrap_or_default()
    };
    let (cert_path, key_path, ca_path) = (path("cert_path"), path("key_path"), path("ca_path"));
    let api = match obj.get("api") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            report.problem(
                join(key, "api"),
                format!("expected true or false, found {}", kind(other)),
            );
            true
        }
    };
    Some(Some(RawTls {
        cert_path,
        key_path,
        ca_path,
        api,
    }))
}

fn mesh(obj: &Map<String, Value>, key: &str, report: &mut Report) -> Option<RawMesh> {
    let value = obj.get(key)?;
    if value.is_null() {
        return None;
    }
    let obj = object(value, key, report)?;
    report.unknown_keys(obj, MESH_KEYS, key);
    let mut mesh = RawMesh::default();
    match obj.get("compression") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => mesh.compression = *b,
        Some(other) => report.problem(
            join(key, "compression"),
            format!("expected true or false, found {}", kind(other)),
        ),
    }
    if let Some(secs) = integer(obj, "ping_interval_secs", key, report) {
        mesh.ping_interval_secs = secs;
    }
    if let Some(secs) = integer(obj, "dead_after_secs", key, report) {
        mesh.dead_after_secs = secs;
    }
    Some(mesh)
}

fn storage(obj: &Map<String, Value>, key: &str, report: &mut Report) -> Option<RawStorage> {
    let value = obj.get(key)?;
    if value.is_null() {
        return None;
    }
    let obj = object(value, key, report)?;
    report.unknown_keys(obj, STORAGE_KEYS, key);
    let mut storage = RawStorage::default();
    if let Some(backend) = string(obj, "backend", key, report) {
        storage.backend = backend;
    }
    storage.url = string(obj, "url", key, report);
    Some(storage)
}

fn decode_central(value: &Value, path: &str, report: &mut Report) -> RawCentral {
    let mut central = RawCentral::new("", "");
    let Some(obj) = object(value, path, report) else {
        return central;
    };
    report.unknown_keys(obj, CENTRAL_KEYS, path);
    match string(obj, "id", path, report) {
        Some(id) => central.id = id,
        None if !report.blocked(&join(path, "id")) => report.problem(
            join(path, "id"),
            r#"missing — add a unique id such as "central-2""#,
        ),
        None => {}
    }
    match string(obj, "ip", path, report) {
        Some(ip) => central.ip = ip,
        None if !report.blocked(&join(path, "ip")) => report.problem(
            join(path, "ip"),
            r#"missing — add the IP address or host name of the central, e.g. "192.168.1.20""#,
        ),
        None => {}
    }
    if let Some(port) = integer(obj, "p2p_port", path, report) {
        central.p2p_port = port;
    }
    if let Some(port) = integer(obj, "api_port", path, report) {
        central.api_port = port;
    }
    central
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::closest;

    #[test]
    fn typo_suggestions() {
        assert_eq!(closest("p2pport", CENTRAL_KEYS), Some("p2p_port"));
        assert_eq!(closest("timezon", TOP_KEYS), Some("timezone"));
    }

    #[test]
    fn to_json_round_trips_through_decode() {
        let mut raw = RawConfig::standalone("central-1", "10.0.0.1");
        raw.peer_centrals
            .push(RawCentral::new("central-2", "10.0.0.2"));
        raw.cluster_secret = Some("s3cret-s3cret-s3cret".into());
        raw.tls = Some(RawTls {
            cert_path: "c.pem".into(),
            key_path: "k.pem".into(),
            ca_path: "ca.pem".into(),
            api: false,
        });
        raw.mesh.compression = false;
        raw.mesh.dead_after_secs = 45;
        raw.storage = RawStorage {
            backend: "postgres".into(),
            url: Some("postgres://parkmesh@db.example/parkmesh".into()),
        };
        let mut report = Report::default();
        let back = RawConfig::decode(&raw.to_json(), &mut report);
        assert!(
            report.problems.is_empty() && report.warnings.is_empty(),
            "{report:?}"
        );
        assert_eq!(back, raw);
    }

    #[test]
    fn absent_secrets_are_left_out() {
        let doc = RawConfig::standalone("central-1", "10.0.0.1").to_json();
        assert!(doc.get("cluster_secret").is_none() && doc.get("tls").is_none());
        assert!(
            doc.get("storage").is_none(),
            "the default storage is left out"
        );
        assert_eq!(doc["metrics"], Value::Bool(true));
        let keys: Vec<&str> = doc
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        assert!(keys.iter().all(|k| TOP_KEYS.contains(k)), "{keys:?}");
    }
}
