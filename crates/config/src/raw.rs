//! Stage one: the raw document, mirroring `p2p_config.json` field for field.
//!
//! [`RawConfig`] holds what the file says, with defaults filled in by named functions but nothing
//! checked beyond JSON types. It is decoded by hand from a `serde_json::Value` rather than by
//! `#[derive(Deserialize)]`: serde stops at the first type error and names no path, whereas this
//! decoder reports every type error with its path (`peer_centrals[2].p2p_port`) and every unknown key
//! as a warning, in one pass. Ports stay `i64` here so that `0`, `-1` and `70000` reach stage two and
//! get a port-specific message instead of a type error.

use serde_json::{Map, Value, json};

use crate::error::Diagnostic;

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

fn default_p2p_port() -> i64 {
    i64::from(DEFAULT_P2P_PORT)
}

fn default_api_port() -> i64 {
    i64::from(DEFAULT_API_PORT)
}

fn default_bind() -> String {
    DEFAULT_BIND.to_owned()
}

fn default_timezone() -> String {
    DEFAULT_TIMEZONE.to_owned()
}

fn default_data_dir() -> String {
    DEFAULT_DATA_DIR.to_owned()
}

fn default_plate_policy() -> String {
    "lenient".to_owned()
}

fn default_max_clock_skew_secs() -> i64 {
    i64::try_from(DEFAULT_MAX_CLOCK_SKEW_SECS).unwrap_or(i64::MAX)
}

fn default_max_event_age_secs() -> i64 {
    i64::try_from(DEFAULT_MAX_EVENT_AGE_SECS).unwrap_or(i64::MAX)
}

fn default_admin_networks() -> Vec<String> {
    DEFAULT_ADMIN_NETWORKS
        .iter()
        .map(|n| (*n).to_owned())
        .collect()
}

fn default_edge_request_retention_secs() -> i64 {
    i64::try_from(DEFAULT_EDGE_REQUEST_RETENTION_SECS).unwrap_or(i64::MAX)
}

/// Top-level keys of the configuration document.
pub const TOP_KEYS: &[&str] = &[
    "this_central",
    "peer_centrals",
    "bind",
    "cluster_secret",
    "admin_token",
    "admin_networks",
    "timezone",
    "data_dir",
    "plate_policy",
    "max_clock_skew_secs",
    "max_event_age_secs",
    "metrics",
    "edge_request_retention_secs",
    "tls",
    "mesh",
];
const CENTRAL_KEYS: &[&str] = &["id", "ip", "p2p_port", "api_port"];
const TLS_KEYS: &[&str] = &["cert_path", "key_path", "ca_path", "api"];
const MESH_KEYS: &[&str] = &["compression", "ping_interval_secs", "dead_after_secs"];

/// Default period of the mesh's liveness pings, in seconds.
pub const DEFAULT_MESH_PING_INTERVAL_SECS: u64 = 5;
/// Default silence after which a mesh peer is shown down and its link redialled, in seconds.
pub const DEFAULT_MESH_DEAD_AFTER_SECS: u64 = 15;

/// The whole document as written, defaults filled in, nothing validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawConfig {
    /// This central's identity and addresses.
    pub this_central: RawCentral,
    /// The centrals this one replicates with; empty means standalone.
    pub peer_centrals: Vec<RawCentral>,
    /// Listen address for both the HTTP API and the mesh listener.
    pub bind: String,
    /// Shared secret that authenticates mesh peers.
    pub cluster_secret: Option<String>,
    /// Bearer token for mutating admin endpoints.
    pub admin_token: Option<String>,
    /// Networks (CIDR) whose clients may make admin changes without the token.
    pub admin_networks: Vec<String>,
    /// IANA time zone of the site.
    pub timezone: String,
    /// Directory of the database and other state.
    pub data_dir: String,
    /// `lenient` or `strict`.
    pub plate_policy: String,
    /// Largest accepted clock distance to a peer, and how far in the future an edge timestamp
    /// may be, in seconds.
    pub max_clock_skew_secs: i64,
    /// How far in the past an edge timestamp may be (a replayed queue), in seconds.
    pub max_event_age_secs: i64,
    /// Whether `GET /metrics` is served.
    pub metrics: bool,
    /// Age in seconds after which a remembered edge request is forgotten.
    pub edge_request_retention_secs: i64,
    /// TLS for the mesh and the API; absent means plain TCP.
    pub tls: Option<RawTls>,
    /// The `mesh` section: compression and the liveness timers of the links between sites.
    pub mesh: RawMesh,
}

/// The `mesh` section as written.
#[derive(Debug, Clone, PartialEq, Eq)]
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
            ping_interval_secs: i64::try_from(DEFAULT_MESH_PING_INTERVAL_SECS).unwrap_or(5),
            dead_after_secs: i64::try_from(DEFAULT_MESH_DEAD_AFTER_SECS).unwrap_or(15),
        }
    }
}

/// The `tls` section: PEM files of this central's certificate chain, its private key and the
/// cluster CA that issued every central's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
            p2p_port: default_p2p_port(),
            api_port: default_api_port(),
        }
    }

    fn to_json(&self) -> Value {
        json!({ "id": self.id, "ip": self.ip, "p2p_port": self.p2p_port, "api_port": self.api_port })
    }
}

impl RawConfig {
    /// A standalone central (no peers) with every other field at its default.
    pub fn standalone(id: impl Into<String>, ip: impl Into<String>) -> Self {
        Self {
            this_central: RawCentral::new(id, ip),
            peer_centrals: Vec::new(),
            bind: default_bind(),
            cluster_secret: None,
            admin_token: None,
            admin_networks: default_admin_networks(),
            timezone: default_timezone(),
            data_dir: default_data_dir(),
            plate_policy: default_plate_policy(),
            max_clock_skew_secs: default_max_clock_skew_secs(),
            max_event_age_secs: default_max_event_age_secs(),
            metrics: true,
            edge_request_retention_secs: default_edge_request_retention_secs(),
            tls: None,
            mesh: RawMesh::default(),
        }
    }

    /// The document in the file's shape; absent secrets are left out rather than written as null.
    pub fn to_json(&self) -> Value {
        let mut doc = Map::new();
        doc.insert("this_central".into(), self.this_central.to_json());
        let peers = self.peer_centrals.iter().map(RawCentral::to_json).collect();
        doc.insert("peer_centrals".into(), Value::Array(peers));
        doc.insert("bind".into(), json!(self.bind));
        if let Some(secret) = &self.cluster_secret {
            doc.insert("cluster_secret".into(), json!(secret));
        }
        if let Some(token) = &self.admin_token {
            doc.insert("admin_token".into(), json!(token));
        }
        doc.insert("admin_networks".into(), json!(self.admin_networks));
        doc.insert("timezone".into(), json!(self.timezone));
        doc.insert("data_dir".into(), json!(self.data_dir));
        doc.insert("plate_policy".into(), json!(self.plate_policy));
        doc.insert(
            "max_clock_skew_secs".into(),
            json!(self.max_clock_skew_secs),
        );
        doc.insert("max_event_age_secs".into(), json!(self.max_event_age_secs));
        doc.insert("metrics".into(), json!(self.metrics));
        doc.insert(
            "edge_request_retention_secs".into(),
            json!(self.edge_request_retention_secs),
        );
        if let Some(tls) = &self.tls {
            doc.insert(
                "tls".into(),
                json!({ "cert_path": tls.cert_path, "key_path": tls.key_path, "ca_path": tls.ca_path, "api": tls.api }),
            );
        }
        if self.mesh != RawMesh::default() {
            doc.insert(
                "mesh".into(),
                json!({ "compression": self.mesh.compression, "ping_interval_secs": self.mesh.ping_interval_secs, "dead_after_secs": self.mesh.dead_after_secs }),
            );
        }
        Value::Object(doc)
    }

    /// Decodes a document, recording type errors and unknown keys in `report`. Always returns a
    /// `RawConfig`; a field with a problem holds a placeholder, and stage two skips fields that
    /// already have a problem.
    pub(crate) fn decode(value: &Value, report: &mut Report) -> RawConfig {
        let mut raw = RawConfig::standalone("", "");
        let Some(top) = object(value, "", report) else {
            return raw;
        };
        report.unknown_keys(top, TOP_KEYS, "");
        match top.get("this_central") {
            None | Some(Value::Null) => report.problem(
                "this_central",
                r#"missing — add "this_central": {"id": "central-1", "ip": "<this host's address>", "p2p_port": 9000, "api_port": 8000}"#,
            ),
            Some(v) => raw.this_central = decode_central(v, "this_central", report),
        }
        match top.get("peer_centrals") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                raw.peer_centrals = items
                    .iter()
                    .enumerate()
                    .map(|(idx, v)| decode_central(v, &format!("peer_centrals[{idx}]"), report))
                    .collect();
            }
            Some(other) => report.problem(
                "peer_centrals",
                format!(
                    "expected a list of peers, found {} — write [] for none",
                    kind(other)
                ),
            ),
        }
        if let Some(bind) = string(top, "bind", "", report) {
            raw.bind = bind;
        }
        raw.cluster_secret = string(top, "cluster_secret", "", report);
        raw.admin_token = string(top, "admin_token", "", report);
        match top.get("admin_networks") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                // A bad item keeps its place (as an empty placeholder, which stage two skips
                // because its path already has a problem), so later items keep their indexes.
                raw.admin_networks = items
                    .iter()
                    .enumerate()
                    .map(|(idx, v)| match v {
                        Value::String(s) => s.clone(),
                        other => {
                            report.problem(
                                format!("admin_networks[{idx}]"),
                                format!(
                                    "expected a network such as \"192.168.1.0/24\", found {}",
                                    kind(other)
                                ),
                            );
                            String::new()
                        }
                    })
                    .collect();
            }
            Some(other) => report.problem(
                "admin_networks",
                format!(
                    "expected a list of networks such as [\"192.168.1.0/24\"], found {} — write [] for token-only access",
                    kind(other)
                ),
            ),
        }
        if let Some(tz) = string(top, "timezone", "", report) {
            raw.timezone = tz;
        }
        if let Some(dir) = string(top, "data_dir", "", report) {
            raw.data_dir = dir;
        }
        if let Some(policy) = string(top, "plate_policy", "", report) {
            raw.plate_policy = policy;
        }
        if let Some(skew) = integer(top, "max_clock_skew_secs", "", report) {
            raw.max_clock_skew_secs = skew;
        }
        if let Some(age) = integer(top, "max_event_age_secs", "", report) {
            raw.max_event_age_secs = age;
        }
        match top.get("metrics") {
            None | Some(Value::Null) => {}
            Some(Value::Bool(b)) => raw.metrics = *b,
            Some(other) => report.problem(
                "metrics",
                format!("expected true or false, found {}", kind(other)),
            ),
        }
        if let Some(secs) = integer(top, "edge_request_retention_secs", "", report) {
            raw.edge_request_retention_secs = secs;
        }
        match top.get("tls") {
            None | Some(Value::Null) => {}
            Some(v) => {
                if let Some(obj) = object(v, "tls", report) {
                    report.unknown_keys(obj, TLS_KEYS, "tls");
                    let mut path = |key: &str| {
                        let value = string(obj, key, "tls", report);
                        if value.is_none() {
                            report.problem(
                                join("tls", key),
                                "missing — the tls section needs cert_path, key_path and ca_path (PEM files)",
                            );
                        }
                        value.unwrap_or_default()
                    };
                    let (cert_path, key_path, ca_path) =
                        (path("cert_path"), path("key_path"), path("ca_path"));
                    let api = match obj.get("api") {
                        None | Some(Value::Null) => true,
                        Some(Value::Bool(b)) => *b,
                        Some(other) => {
                            report.problem(
                                "tls.api",
                                format!("expected true or false, found {}", kind(other)),
                            );
                            true
                        }
                    };
                    raw.tls = Some(RawTls {
                        cert_path,
                        key_path,
                        ca_path,
                        api,
                    });
                }
            }
        }
        if let Some(obj) = top
            .get("mesh")
            .filter(|v| !v.is_null())
            .and_then(|v| object(v, "mesh", report))
        {
            report.unknown_keys(obj, MESH_KEYS, "mesh");
            match obj.get("compression") {
                None | Some(Value::Null) => {}
                Some(Value::Bool(b)) => raw.mesh.compression = *b,
                Some(other) => report.problem(
                    "mesh.compression",
                    format!("expected true or false, found {}", kind(other)),
                ),
            }
            if let Some(secs) = integer(obj, "ping_interval_secs", "mesh", report) {
                raw.mesh.ping_interval_secs = secs;
            }
            if let Some(secs) = integer(obj, "dead_after_secs", "mesh", report) {
                raw.mesh.dead_after_secs = secs;
            }
        }
        raw
    }
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

fn object<'a>(value: &'a Value, path: &str, report: &mut Report) -> Option<&'a Map<String, Value>> {
    match value {
        Value::Object(obj) => Some(obj),
        other => {
            let what = if path.is_empty() {
                "the document"
            } else {
                "this field"
            };
            report.problem(
                path,
                format!("expected an object for {what}, found {}", kind(other)),
            );
            None
        }
    }
}

/// A string field; `None` when absent or null, or (with a problem recorded) of another type.
fn string(
    obj: &Map<String, Value>,
    key: &str,
    parent: &str,
    report: &mut Report,
) -> Option<String> {
    match obj.get(key)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => {
            let hint = match other {
                Value::Number(n) => format!(" — put it in quotes: \"{n}\""),
                _ => String::new(),
            };
            report.problem(
                join(parent, key),
                format!("expected a string, found {}{hint}", kind(other)),
            );
            None
        }
    }
}

/// An integer field; `None` when absent or null, or (with a problem recorded) of another type.
fn integer(obj: &Map<String, Value>, key: &str, parent: &str, report: &mut Report) -> Option<i64> {
    match obj.get(key)? {
        Value::Null => None,
        Value::Number(n) => match n.as_i64() {
            Some(int) => Some(int),
            None => {
                report.problem(
                    join(parent, key),
                    format!("expected a whole number, found {n}"),
                );
                None
            }
        },
        other => {
            let hint = match other {
                Value::String(s) if s.trim().parse::<i64>().is_ok() => {
                    format!(" — write {} without quotes", s.trim())
                }
                _ => String::new(),
            };
            report.problem(
                join(parent, key),
                format!("expected a number, found {}{hint}", kind(other)),
            );
            None
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// `parent.key`, or `key` at the top level.
pub(crate) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// Problems and warnings collected across both stages.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) problems: Vec<Diagnostic>,
    pub(crate) warnings: Vec<Diagnostic>,
}

impl Report {
    /// Records a problem, unless the same field or one containing it already has one (a field that
    /// failed to decode holds a placeholder that would otherwise draw a second, misleading error).
    pub(crate) fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        let path = path.into();
        if !self.blocked(&path) {
            self.problems.push(Diagnostic {
                path,
                message: message.into(),
            });
        }
    }

    pub(crate) fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Diagnostic {
            path: path.into(),
            message: message.into(),
        });
    }

    /// Whether `path` or a field containing it already has a problem.
    pub(crate) fn blocked(&self, path: &str) -> bool {
        self.problems.iter().any(|p| {
            p.path.is_empty()
                || p.path == path
                || path
                    .strip_prefix(p.path.as_str())
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
        })
    }

    fn unknown_keys(&mut self, obj: &Map<String, Value>, known: &[&str], path: &str) {
        for key in obj.keys().filter(|k| !known.contains(&k.as_str())) {
            let hint = match closest(key, known) {
                Some(near) => format!(" — did you mean \"{near}\"?"),
                None => format!(" — known keys here: {}", known.join(", ")),
            };
            self.warn(join(path, key), format!("unknown key ignored{hint}"));
        }
    }
}

/// The known key nearest to `key`, if it is a plausible typo (edit distance at most 2, or the same
/// letters in another case).
fn closest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    let lower = key.to_ascii_lowercase();
    known
        .iter()
        .map(|k| (edit_distance(&lower, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typo_suggestions() {
        assert_eq!(closest("p2pport", CENTRAL_KEYS), Some("p2p_port"));
        assert_eq!(closest("API_PORT", CENTRAL_KEYS), Some("api_port"));
        assert_eq!(closest("timezon", TOP_KEYS), Some("timezone"));
        assert_eq!(closest("location", CENTRAL_KEYS), None);
    }

    #[test]
    fn blocked_covers_sub_paths_only() {
        let mut report = Report::default();
        report.problem("peer_centrals[1]", "expected an object");
        assert!(report.blocked("peer_centrals[1]"));
        assert!(report.blocked("peer_centrals[1].id"));
        assert!(!report.blocked("peer_centrals[10].id"));
        assert!(!report.blocked("peer_centrals[0].id"));
    }

    #[test]
    fn to_json_round_trips_through_decode() {
        let mut raw = RawConfig::standalone("central-1", "10.0.0.1");
        raw.peer_centrals
            .push(RawCentral::new("central-2", "10.0.0.2"));
        raw.cluster_secret = Some("s3cret-s3cret-s3cret".into());
        let mut report = Report::default();
        let back = RawConfig::decode(&raw.to_json(), &mut report);
        assert!(
            report.problems.is_empty() && report.warnings.is_empty(),
            "{report:?}"
        );
        assert_eq!(back, raw);
    }
}
