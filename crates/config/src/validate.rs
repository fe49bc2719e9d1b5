//! Stage two's checks: from a [`RawConfig`] to a [`Config`], recording every problem on the way.
//!
//! Validation never stops at the first problem: it walks every field, records each problem with its
//! path and fix, and fails only at the end, so one edit-and-restart cycle fixes the whole file.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use jiff::tz::TimeZone;
use parkmesh_protocol::CentralId;
use serde_json::Value;

use crate::decode::{Report, join};
use crate::env::{ENV_ADMIN_TOKEN, ENV_CLUSTER_SECRET, ENV_DATABASE_URL};
use crate::error::ConfigError;
use crate::host::{Host, parse_host};
use crate::model::{Central, Config, ExitMatch, Loaded, PlatePolicy, Secret, StorageBackend};
use crate::network::Network;
use crate::raw::{RawCentral, RawConfig};

/// Origin label for documents that did not come from a file.
const DOC_ORIGIN: &str = "config";
/// Secrets shorter than this draw a warning.
const MIN_SECRET_LEN: usize = 16;
/// Largest accepted `max_clock_skew_secs`: one day; a larger bound would accept nonsense clocks.
const MAX_CLOCK_SKEW_LIMIT: i64 = 86_400;
/// Largest accepted `max_stay_hours`: a year.
const MAX_STAY_LIMIT_HOURS: u64 = 8760;

/// Largest accepted `max_event_age_secs`: 30 days, longer than any edge keeps its queue.
const MAX_EVENT_AGE_LIMIT: i64 = 30 * 86_400;
/// Most entries of `admin_networks`.
const MAX_ADMIN_NETWORKS: usize = 64;
/// Largest accepted `edge_request_retention_secs`: one year.
const MAX_EDGE_REQUEST_RETENTION: u64 = 365 * 24 * 3600;

/// The ways to build a [`Config`]: each validates, so a `Config` only comes out of here.
impl Config {
    /// Validates a raw config; `env` looks up [`crate::ENV_CLUSTER_SECRET`] and [`crate::ENV_ADMIN_TOKEN`]
    /// (pass [`crate::process_env`] for the real environment, [`crate::no_env`] for none).
    pub fn from_raw(
        raw: RawConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Loaded, ConfigError> {
        let mut report = Report::default();
        let config = validate(&raw, &env, &mut report);
        finish(config, report, DOC_ORIGIN)
    }

    /// Decodes and validates a whole JSON document in the file's shape; absent fields take their
    /// defaults. Used for files and for bodies that carry a complete config.
    pub fn from_json_value(
        value: &Value,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Loaded, ConfigError> {
        from_value(value, &env, DOC_ORIGIN)
    }

    /// Applies a `PUT /api/p2p/config` body: each top-level key present in `body` replaces the
    /// current value (a `null` removes an optional one), absent keys keep theirs. A client that sends
    /// back what [`Config::public_json`] gave it therefore keeps the secrets, which that JSON omits.
    /// The result is validated as a whole; `self` is not changed.
    pub fn apply_update(
        &self,
        body: &Value,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Loaded, ConfigError> {
        let Value::Object(changes) = body else {
            return from_value(body, &env, DOC_ORIGIN);
        };
        let mut doc = self.to_raw().to_json();
        if let Value::Object(current) = &mut doc {
            for (key, value) in changes {
                current.insert(key.clone(), value.clone());
            }
        }
        from_value(&doc, &env, DOC_ORIGIN)
    }
}

pub(crate) fn from_value(
    value: &Value,
    env: &dyn Fn(&str) -> Option<String>,
    origin: &str,
) -> Result<Loaded, ConfigError> {
    let mut report = Report::default();
    let raw = RawConfig::decode(value, &mut report);
    let config = validate(&raw, env, &mut report);
    finish(config, report, origin)
}

pub(crate) fn finish(
    config: Option<Config>,
    report: Report,
    origin: &str,
) -> Result<Loaded, ConfigError> {
    match config {
        Some(config) if report.problems.is_empty() => Ok(Loaded {
            config,
            warnings: report.warnings,
        }),
        _ => Err(ConfigError::Invalid {
            origin: origin.to_owned(),
            problems: report.problems,
        }),
    }
}

/// Checks every field; returns a config only if no problem was found (including ones `report`
/// already held from decoding).
pub(crate) fn validate(
    raw: &RawConfig,
    env: &dyn Fn(&str) -> Option<String>,
    report: &mut Report,
) -> Option<Config> {
    let this_central = central(&raw.this_central, "this_central", report);
    let this_id = CentralId::new(raw.this_central.id.as_str()).ok();
    let mut peers = Vec::with_capacity(raw.peer_centrals.len());
    let mut ids: BTreeMap<CentralId, usize> = BTreeMap::new();
    let mut addrs: BTreeMap<(String, u16), usize> = BTreeMap::new();
    for (idx, raw_peer) in raw.peer_centrals.iter().enumerate() {
        let path = format!("peer_centrals[{idx}]");
        let peer = central(raw_peer, &path, report);
        // Id checks use the raw id so that they run even when another field of the peer is bad.
        if let Ok(id) = CentralId::new(raw_peer.id.as_str()) {
            let id_path = join(&path, "id");
            if this_id.as_ref() == Some(&id) {
                report.problem(
                    id_path,
                    format!(
                        "{:?} is this central's own id (this_central.id) — remove this entry or fix its id",
                        id.as_str()
                    ),
                );
                continue;
            }
            if ids.insert(id.clone(), idx).is_some() {
                report.problem(
                    id_path,
                    format!(
                        "duplicate peer id {:?} — each peer needs a unique id",
                        id.as_str()
                    ),
                );
                continue;
            }
        }
        let Some(peer) = peer else { continue };
        let addr_key = (peer.ip.to_string().to_ascii_lowercase(), peer.p2p_port);
        if let Some(me) = &this_central
            && (me.ip.to_string().to_ascii_lowercase(), me.p2p_port) == addr_key
        {
            report.problem(
                path,
                format!(
                    "same address as this_central ({}) — a central cannot peer with itself",
                    peer.p2p_addr()
                ),
            );
            continue;
        }
        if let Some(first) = addrs.insert(addr_key, idx) {
            report.problem(
                path,
                format!(
                    "same address as peer_centrals[{first}] ({}) — each peer listens on its own ip and p2p_port",
                    peer.p2p_addr()
                ),
            );
            continue;
        }
        peers.push(peer);
    }

    let bind = match raw.bind.parse::<IpAddr>() {
        Ok(ip) => Some(ip),
        Err(_) => {
            report.problem(
                "bind",
                format!(
                    "{:?} is not an IP address — use 0.0.0.0 to listen on every interface or 127.0.0.1 for this host only",
                    raw.bind
                ),
            );
            None
        }
    };

    let cluster_secret = secret(
        raw.cluster_secret.as_deref(),
        "cluster_secret",
        ENV_CLUSTER_SECRET,
        env,
        report,
    );
    let admin_token = secret(
        raw.admin_token.as_deref(),
        "admin_token",
        ENV_ADMIN_TOKEN,
        env,
        report,
    );
    if raw.admin_networks.len() > MAX_ADMIN_NETWORKS {
        report.problem(
            "admin_networks",
            format!(
                "{} networks listed, at most {MAX_ADMIN_NETWORKS} — merge them into wider prefixes",
                raw.admin_networks.len()
            ),
        );
    }
    let mut admin_networks = Vec::with_capacity(raw.admin_networks.len());
    for (idx, text) in raw.admin_networks.iter().enumerate() {
        match Network::parse(text) {
            Ok(net) => admin_networks.push(net),
            Err(why) => report.problem(format!("admin_networks[{idx}]"), why),
        }
    }
    if admin_networks.iter().any(|n| n.contains_everything()) {
        report.warn(
            "admin_networks",
            "a network covers every address, so anyone who can reach the API may make admin changes — list only the site's own LAN",
        );
    }
    if !raw.peer_centrals.is_empty() && cluster_secret.effective().is_none() {
        report.warn(
            "cluster_secret",
            format!(
                "not set while peer_centrals is not empty — set the same cluster_secret (or {ENV_CLUSTER_SECRET}) on every central so peers can authenticate"
            ),
        );
    }

    let timezone = match TimeZone::get(&raw.timezone) {
        Ok(tz) if !raw.timezone.is_empty() => Some(tz),
        _ => {
            report.problem(
                "timezone",
                format!("unknown time zone {:?} — use an IANA name such as \"Asia/Ho_Chi_Minh\" or \"UTC\"", raw.timezone),
            );
            None
        }
    };

    if raw.data_dir.trim().is_empty() {
        report.problem(
            "data_dir",
            "empty — remove the key to use \"data\" or name a directory",
        );
    }

    let plate_policy = PlatePolicy::parse(&raw.plate_policy);
    if plate_policy.is_none() {
        report.problem(
            "plate_policy",
            format!(
                "unknown policy {:?} — use \"lenient\" or \"strict\"",
                raw.plate_policy
            ),
        );
    }

    let exit_match = ExitMatch::parse(&raw.exit_match);
    if exit_match.is_none() {
        report.problem(
            "exit_match",
            format!(
                "unknown mode {:?} — use \"confusable\" or \"exact\"",
                raw.exit_match
            ),
        );
    }

    let max_stay = match u64::try_from(raw.max_stay_hours) {
        Ok(hours) if hours <= MAX_STAY_LIMIT_HOURS => Some(hours),
        _ => {
            report.problem(
                "max_stay_hours",
                format!(
                    "{} is out of range — use 0 (off) to {MAX_STAY_LIMIT_HOURS} hours",
                    raw.max_stay_hours
                ),
            );
            None
        }
    };

    let skew = match u64::try_from(raw.max_clock_skew_secs) {
        Ok(secs) if (1..=MAX_CLOCK_SKEW_LIMIT).contains(&raw.max_clock_skew_secs) => Some(secs),
        _ => {
            report.problem(
                "max_clock_skew_secs",
                format!(
                    "{} is out of range — use a number of seconds from 1 to {MAX_CLOCK_SKEW_LIMIT} (default 300)",
                    raw.max_clock_skew_secs
                ),
            );
            None
        }
    };

    let event_age = match u64::try_from(raw.max_event_age_secs) {
        Ok(secs) if (1..=MAX_EVENT_AGE_LIMIT).contains(&raw.max_event_age_secs) => Some(secs),
        _ => {
            report.problem(
                "max_event_age_secs",
                format!(
                    "{} is out of range — use a number of seconds from 1 to {MAX_EVENT_AGE_LIMIT} (default 86400, one day)",
                    raw.max_event_age_secs
                ),
            );
            None
        }
    };
    let retention = match u64::try_from(raw.edge_request_retention_secs) {
        Ok(secs) if (1..=MAX_EDGE_REQUEST_RETENTION).contains(&secs) => Some(secs),
        _ => {
            report.problem(
                "edge_request_retention_secs",
                format!(
                    "{} is out of range — use a number of seconds from 1 to {MAX_EDGE_REQUEST_RETENTION} (default 259200, three days)",
                    raw.edge_request_retention_secs
                ),
            );
            None
        }
    };

    if let Some(tls) = &raw.tls {
        for (key, value) in [
            ("cert_path", &tls.cert_path),
            ("key_path", &tls.key_path),
            ("ca_path", &tls.ca_path),
        ] {
            if value.trim().is_empty() {
                report.problem(
                    join("tls", key),
                    "empty — name a PEM file, or remove the tls section for plain TCP",
                );
            }
        }
    }

    mesh(raw, report);
    let (storage_backend, database_url) = storage(raw, env, report);

    if !report.problems.is_empty() {
        return None;
    }
    Some(Config {
        this_central: this_central?,
        peer_centrals: peers,
        bind: bind?,
        cluster_secret,
        admin_token,
        admin_networks,
        timezone_name: raw.timezone.clone(),
        timezone: timezone?,
        data_dir: PathBuf::from(&raw.data_dir),
        data_dir_override: None,
        plate_policy: plate_policy?,
        exit_match: exit_match?,
        max_stay_hours: max_stay?,
        max_clock_skew_secs: skew?,
        max_event_age_secs: event_age?,
        metrics: raw.metrics,
        edge_request_retention_secs: retention?,
        tls: raw.tls.clone(),
        mesh: raw.mesh.clone(),
        storage_backend: storage_backend?,
        database_url,
    })
}

/// The `storage` section: a known backend; for `postgres` a `postgres://` URL from the file or
/// the environment (the environment wins). The URL's host, port and rights are checked by
/// connecting (at start and by `check-config`), not here.
fn storage(
    raw: &RawConfig,
    env: &dyn Fn(&str) -> Option<String>,
    report: &mut Report,
) -> (Option<StorageBackend>, Secret) {
    let s = &raw.storage;
    let url = Secret {
        file: s.url.clone().filter(|u| !u.is_empty()),
        env: env(ENV_DATABASE_URL).filter(|u| !u.is_empty()),
    };
    let backend = match s.backend.as_str() {
        "sqlite" => Some(StorageBackend::Sqlite),
        "postgres" => Some(StorageBackend::Postgres),
        other => {
            report.problem(
                "storage.backend",
                format!("{other:?} is not a storage backend — use \"sqlite\" (the default) or \"postgres\""),
            );
            None
        }
    };
    match backend {
        Some(StorageBackend::Sqlite) => {
            if s.url.is_some() {
                report.problem(
                    "storage.url",
                    "set while storage.backend is \"sqlite\" — remove it, or set \"backend\": \"postgres\"",
                );
            }
            if url.env.is_some() {
                report.warn(
                    ENV_DATABASE_URL,
                    "set while storage.backend is \"sqlite\": it is ignored",
                );
            }
        }
        Some(StorageBackend::Postgres) => match url.effective() {
            None => report.problem(
                "storage.url",
                format!("missing — the postgres backend needs \"url\": \"postgres://user@host:5432/dbname\" (or {ENV_DATABASE_URL})"),
            ),
            Some(u) if !(u.starts_with("postgres://") || u.starts_with("postgresql://")) => {
                let path = if url.env.is_some() { ENV_DATABASE_URL } else { "storage.url" };
                report.problem(
                    path,
                    format!("{:?} is not a PostgreSQL URL — write postgres://user@host:5432/dbname", scheme_of(u)),
                );
            }
            Some(_) => {}
        },
        None => {}
    }
    (backend, url)
}

/// What a URL says before its `://` (never the rest, which may hold a password).
fn scheme_of(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, _)) => format!("{scheme}://..."),
        None => "a text without a scheme (no ://)".to_owned(),
    }
}

/// The `mesh` timers: a ping period of 1–60 s, and a dead-after of at least twice the ping
/// period (one lost ping must not bring a link down) and at most 10 minutes.
fn mesh(raw: &RawConfig, report: &mut Report) {
    let m = &raw.mesh;
    if !(1..=60).contains(&m.ping_interval_secs) {
        report.problem(
            "mesh.ping_interval_secs",
            format!(
                "{} is out of range — use 1 to 60 seconds (default 5)",
                m.ping_interval_secs
            ),
        );
    } else if m.dead_after_secs < 2 * m.ping_interval_secs || m.dead_after_secs > 600 {
        report.problem(
            "mesh.dead_after_secs",
            format!(
                "{} is out of range — use at least twice mesh.ping_interval_secs ({}) and at most 600 seconds (default 15)",
                m.dead_after_secs,
                2 * m.ping_interval_secs
            ),
        );
    }
}

/// Validates one central's fields; `None` if any is bad (each problem recorded).
fn central(raw: &RawCentral, path: &str, report: &mut Report) -> Option<Central> {
    let id_path = join(path, "id");
    let id = if raw.id.is_empty() {
        report.problem(id_path, "empty — set a unique id such as \"central-1\"");
        None
    } else {
        match CentralId::new(raw.id.as_str()) {
            Ok(id) => Some(id),
            Err(_) => {
                report.problem(
                    id_path,
                    format!("invalid id {:?} — use 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'", raw.id),
                );
                None
            }
        }
    };
    let ip = match parse_host(&raw.ip) {
        Ok(Host::Ip(ip)) if ip.is_unspecified() => {
            report.problem(
                join(path, "ip"),
                format!("{ip} is not an address others can reach — set the central's LAN address or DNS name"),
            );
            None
        }
        Ok(host) => Some(host),
        Err(why) => {
            report.problem(join(path, "ip"), why);
            None
        }
    };
    let p2p_port = port(raw.p2p_port, &join(path, "p2p_port"), report);
    let api_port = port(raw.api_port, &join(path, "api_port"), report);
    if let (Some(p2p), Some(api)) = (p2p_port, api_port)
        && p2p == api
    {
        report.problem(
            join(path, "p2p_port"),
            format!(
                "{p2p} clashes with {} — the mesh and the HTTP API need different ports (defaults: p2p_port 9000, api_port 8000)",
                join(path, "api_port")
            ),
        );
        return None;
    }
    Some(Central {
        id: id?,
        ip: ip?,
        p2p_port: p2p_port?,
        api_port: api_port?,
    })
}

fn port(value: i64, path: &str, report: &mut Report) -> Option<u16> {
    match u16::try_from(value) {
        Ok(port) if port != 0 => Some(port),
        _ => {
            report.problem(
                path,
                format!("port {value} is not allowed — use a port from 1 to 65535"),
            );
            None
        }
    }
}

fn secret(
    file: Option<&str>,
    path: &str,
    env_name: &str,
    env: &dyn Fn(&str) -> Option<String>,
    report: &mut Report,
) -> Secret {
    let from_env = env(env_name).filter(|v| !v.is_empty());
    if file.is_some_and(str::is_empty) {
        report.problem(path, "empty — remove the key or set a long random value");
    }
    if let Some(value) = file.filter(|v| !v.is_empty())
        && from_env.is_none()
        && value.chars().count() < MIN_SECRET_LEN
    {
        report.warn(
            path,
            format!("shorter than {MIN_SECRET_LEN} characters — use a long random value"),
        );
    }
    if let Some(value) = &from_env
        && value.chars().count() < MIN_SECRET_LEN
    {
        report.warn(
            env_name,
            format!("shorter than {MIN_SECRET_LEN} characters — use a long random value"),
        );
    }
    Secret {
        file: file.filter(|v| !v.is_empty()).map(str::to_owned),
        env: from_env,
    }
}
