//! `check-config`: validates the configuration file and what it names without starting
//! anything — the TLS files load, the data directory and database fit this central (or the
//! PostgreSQL database answers, with the rights a central needs), and the ports are free or held
//! by this very central.

use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;

use anyhow::anyhow;
use parkmesh_config::{Config, ConfigError};
use serde_json::{Value, json};

use super::backup::human_bytes;
use super::local::Local;
use super::{CliError, Output, print, table};
use crate::Paths;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Ok,
    Warn,
    Fail,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        }
    }
}

struct Check {
    what: String,
    level: Level,
    detail: String,
}

fn check(what: impl Into<String>, level: Level, detail: impl Into<String>) -> Check {
    Check {
        what: what.into(),
        level,
        detail: detail.into(),
    }
}

/// Runs every check, prints them, and fails (exit 2 for a file that does not load, else 1)
/// when any failed.
pub(crate) async fn run(paths: &Paths, out: Output) -> Result<ExitCode, CliError> {
    let file = paths.config.display().to_string();
    let mut checks = Vec::new();
    let loaded = Config::load_with_env(&paths.config, parkmesh_config::process_env);
    let config = match loaded {
        Ok(loaded) => {
            let mut config = loaded.config;
            if let Some(dir) = &paths.data_dir {
                config = config.with_data_dir_override(dir);
            }
            checks.push(check("config", Level::Ok, describe(&config)));
            for w in &loaded.warnings {
                checks.push(check("config", Level::Warn, w.to_string()));
            }
            Some(config)
        }
        Err(e @ ConfigError::Invalid { .. }) => {
            for d in e.diagnostics() {
                checks.push(check("config", Level::Fail, d.to_string()));
            }
            None
        }
        Err(e) => {
            checks.push(check("config", Level::Fail, e.to_string()));
            None
        }
    };
    if let Some(config) = &config {
        checks.push(tls(config));
        checks.extend(database(config).await);
        checks.extend(ports(config).await);
    }
    let failed = checks.iter().filter(|c| c.level == Level::Fail).count();
    let json = json!({
        "config": file,
        "ok": failed == 0,
        "checks": checks.iter().map(|c| json!({ "check": c.what, "result": c.level.as_str(), "detail": c.detail })).collect::<Vec<Value>>(),
    });
    print(out, &json, || {
        let rows: Vec<Vec<String>> = checks
            .iter()
            .map(|c| vec![c.level.as_str().into(), c.what.clone(), c.detail.clone()])
            .collect();
        table::render(&["result", "check", "detail"], &rows)
    });
    match (failed, config.is_some()) {
        (0, _) => Ok(ExitCode::SUCCESS),
        (n, false) => Err(CliError::Config(anyhow!(
            "{file}: the configuration does not load ({n} problem{})",
            if n == 1 { "" } else { "s" }
        ))),
        (n, true) => Err(CliError::Failed(anyhow!(
            "{file}: {n} check{} failed",
            if n == 1 { "" } else { "s" }
        ))),
    }
}

fn describe(config: &Config) -> String {
    let me = config.this_central();
    let peers: Vec<&str> = config
        .peer_centrals()
        .iter()
        .map(|p| p.id.as_str())
        .collect();
    format!(
        "{} (API {}, mesh {}), {}",
        me.id,
        config.api_listen_addr(),
        config.p2p_listen_addr(),
        if peers.is_empty() {
            "standalone".to_owned()
        } else {
            format!("peers {}", peers.join(", "))
        }
    )
}

fn tls(config: &Config) -> Check {
    match config.tls() {
        None => check("tls", Level::Ok, "off (plain TCP for the mesh and the API)"),
        Some((cert, key, ca)) => match parkmesh_transport::tls::Tls::load(cert, key, ca) {
            Ok(_) => check(
                "tls",
                Level::Ok,
                format!(
                    "certificate, key and CA load; TLS on the mesh{}",
                    if config.api_tls() {
                        " and the API"
                    } else {
                        " only"
                    }
                ),
            ),
            Err(e) => check("tls", Level::Fail, e.to_string()),
        },
    }
}

async fn database(config: &Config) -> Vec<Check> {
    match crate::postgres::url(config) {
        Some(url) => postgres(config, url).await,
        None => vec![sqlite(config).await],
    }
}

/// A PostgreSQL database: reachable, the login and database exist, the rights suffice, the
/// schema is this binary's (or older), and the data is this central's.
async fn postgres(config: &Config, url: &str) -> Vec<Check> {
    let me = config.this_central().id.as_str();
    let database = match parkmesh_storage::postgres_check(url).await {
        Ok(s) if s.origin.as_deref().is_some_and(|o| o != me) => check(
            "database",
            Level::Fail,
            format!(
                "PostgreSQL {} belongs to central {:?}, not {me:?}",
                s.target,
                s.origin.unwrap_or_default()
            ),
        ),
        Ok(s) => {
            let schema = match s.pending {
                0 => "schema current".to_owned(),
                n => format!(
                    "{n} migration{} to apply (the next start or cargo xtask migrate applies {})",
                    if n == 1 { "" } else { "s" },
                    if n == 1 { "it" } else { "them" }
                ),
            };
            let events = s
                .events_estimate
                .map(|n| format!(", about {n} events"))
                .unwrap_or_default();
            check(
                "database",
                Level::Ok,
                format!(
                    "PostgreSQL {} (server {}): connected, rights ok, {schema}{events}",
                    s.target, s.server_version
                ),
            )
        }
        Err(e) => check("database", Level::Fail, e.to_string()),
    };
    vec![
        database,
        check(
            "storage",
            Level::Warn,
            "backend postgres: this build applies the schema and checks the connection, but serves a central from SQLite only (the start stops with a message)",
        ),
    ]
}

async fn sqlite(config: &Config) -> Check {
    let db = config.db_path();
    let dir = config.data_dir();
    if dir.exists() && !dir.is_dir() {
        return check(
            "data_dir",
            Level::Fail,
            format!("{} exists but is not a directory", dir.display()),
        );
    }
    if !db.exists() {
        return check(
            "database",
            Level::Ok,
            format!(
                "{} does not exist yet; the first start creates it",
                db.display()
            ),
        );
    }
    let me = config.this_central().id.as_str();
    match parkmesh_storage::inspect(&db).await {
        Ok(s) if s.origin.as_deref().is_some_and(|o| o != me) => check(
            "database",
            Level::Fail,
            format!(
                "{} belongs to central {:?}, not {me:?}",
                db.display(),
                s.origin.unwrap_or_default()
            ),
        ),
        Ok(s) => check(
            "database",
            Level::Ok,
            format!(
                "{}: {}, {} events{}",
                db.display(),
                human_bytes(s.bytes),
                s.events,
                if s.new_incarnation_pending {
                    " (restored: starts a new incarnation)"
                } else {
                    ""
                }
            ),
        ),
        Err(e) => check("database", Level::Fail, e.to_string()),
    }
}

/// The API and mesh ports: free, or held by this central (its API answers with its id).
async fn ports(config: &Config) -> Vec<Check> {
    let me = config.this_central().id.to_string();
    let api = config.api_listen_addr();
    let mesh = config.p2p_listen_addr();
    let (api_free, mesh_free) = (bindable(api), bindable(mesh));
    let running = if api_free.is_ok() && mesh_free.is_ok() {
        false
    } else {
        match Local::new(config) {
            Ok(local) => local
                .call("GET", "/api/p2p/info")
                .await
                .is_ok_and(|info| info["info"]["id"] == me.as_str()),
            Err(_) => false,
        }
    };
    [("api port", api, api_free), ("mesh port", mesh, mesh_free)]
        .into_iter()
        .map(|(what, addr, free)| match free {
            Ok(()) => check(what, Level::Ok, format!("{addr} is free")),
            Err(_) if running => {
                check(what, Level::Ok, format!("{addr} is held by {me} (running)"))
            }
            Err(e) => check(what, Level::Fail, format!("cannot listen on {addr}: {e}")),
        })
        .collect()
}

/// Whether a listener could be opened on `addr` now (it is closed again at once).
fn bindable(addr: SocketAddr) -> std::io::Result<()> {
    TcpListener::bind(addr).map(drop)
}
