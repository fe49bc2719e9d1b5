//! `central-server`: one parkmesh central — edge ingestion, the seed-compatible HTTP/WS API and
//! mesh replication — in one process.
//!
//! Deliberately thin: parse the command line, set up `tracing`, load and validate the
//! configuration, open the storage, start the mesh manager, serve the API until SIGINT/SIGTERM.
//! A bad or missing configuration ends the process with exit code 2 and one line naming the file
//! and the field.

// warp route trees are deep generic types; release builds need more room to evaluate them.
#![recursion_limit = "512"]

mod import;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use parkmesh_api::{ApiSettings, AppState};
use parkmesh_config::Config;
use parkmesh_manager::P2PManager;
use parkmesh_storage::{Storage, StorageOptions};

/// A parkmesh central server.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Configuration file (the seed's p2p_config.json shape).
    #[arg(long, global = true, default_value = "config/p2p_config.json")]
    config: PathBuf,
    /// Directory of the database; overrides `data_dir` from the configuration.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// What to do instead of serving.
    #[command(subcommand)]
    command: Option<Command>,
}

/// Subcommands; without one the central serves.
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Import an original ParkAI central's database (the cut-over; stop the original first).
    ImportParkai(import::ImportArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Without RUST_LOG: our own info lines, but not warp's two lines per request (a busy gate
    // would flood the log); refused requests still show at warn.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,warp=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = match load_config(&cli) {
        Ok(c) => c,
        Err(e) => return fail(2, &e),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return fail(
                1,
                &anyhow::Error::from(e).context("cannot start the async runtime"),
            );
        }
    };
    let done = match cli.command {
        Some(Command::ImportParkai(args)) => runtime.block_on(import::run(args, config)),
        None => runtime.block_on(run(cli, config)),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(1, &e),
    }
}

#[allow(clippy::print_stderr)]
fn fail(code: u8, e: &anyhow::Error) -> ExitCode {
    eprintln!("central-server: {e:#}");
    ExitCode::from(code)
}

fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    let loaded = Config::load(&cli.config).map_err(anyhow::Error::msg)?;
    for w in &loaded.warnings {
        tracing::warn!(config = %cli.config.display(), "{w}");
    }
    let mut config = loaded.config;
    if let Some(dir) = &cli.data_dir {
        config = config.with_data_dir_override(dir);
    }
    Ok(config)
}

async fn run(cli: Cli, config: Config) -> anyhow::Result<()> {
    let me = config.this_central().clone();
    if config.admin_token().is_none() {
        tracing::warn!(
            "no admin_token configured: mutating admin endpoints accept requests from this machine only"
        );
    }
    let storage = Storage::open(StorageOptions {
        db_path: config.db_path(),
        origin: me.id.clone(),
        tz: config.timezone().clone(),
    })
    .await
    .with_context(|| format!("cannot open the database {}", config.db_path().display()))?;
    let settings = ApiSettings {
        admin_token: config.admin_token().map(str::to_owned),
        tz: config.timezone().clone(),
        plate_policy: match config.plate_policy() {
            parkmesh_config::PlatePolicy::Strict => parkmesh_parking::plate::PlatePolicy::Strict,
            parkmesh_config::PlatePolicy::Lenient => parkmesh_parking::plate::PlatePolicy::Lenient,
        },
        max_skew_ms: i64::try_from(config.max_clock_skew().as_millis()).unwrap_or(i64::MAX),
    };
    let api_addr = config.api_listen_addr();
    let manager = P2PManager::start(config, Some(cli.config.clone()), storage).await?;
    let listener = bind_nodelay(api_addr)
        .with_context(|| format!("cannot listen for the API on {api_addr}"))?;
    let tls = manager.api_tls().map(|t| t.server.clone());
    tracing::info!(central = %me.id, addr = %api_addr, tls = tls.is_some(), "API listening");
    parkmesh_api::serve(
        listener,
        AppState::new(manager.clone(), settings),
        tls,
        shutdown_signal(),
    )
    .await;
    manager.stop().await;
    tracing::info!("stopped");
    Ok(())
}

/// Binds the API listener with `TCP_NODELAY` set on the listening socket, which accepted sockets
/// inherit on Linux: an answer and a push written back to back to one edge socket must not wait
/// for the edge's delayed ACK (measured: /ws/edge p99 45 ms without it).
fn bind_nodelay(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT: shutting down"),
        () = term => tracing::info!("SIGTERM: shutting down"),
    }
}
