//! Serving: the central itself. Sets up `tracing`, opens the storage, starts the mesh manager
//! and serves the API until SIGINT/SIGTERM.

use std::process::ExitCode;

use anyhow::Context;
use parkmesh_api::AppState;
use parkmesh_config::Config;
use parkmesh_manager::P2PManager;
use parkmesh_storage::{Storage, StorageOptions};

use crate::{Paths, fail};

/// Runs the central until a signal stops it; exit code 2 for a bad configuration, 1 for any
/// other failure.
pub(crate) fn main(paths: &Paths) -> ExitCode {
    // Without RUST_LOG: our own info lines, but not warp's two lines per request (a busy gate
    // would flood the log); refused requests still show at warn.
    crate::init_logging(paths.log_format, "info,warp=warn");
    let config = match paths.load(true) {
        Ok(c) => c,
        Err(e) => return fail(2, &e),
    };
    let runtime = match crate::runtime() {
        Ok(rt) => rt,
        Err(e) => return fail(1, &e),
    };
    match runtime.block_on(run(paths, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(1, &e),
    }
}

async fn run(paths: &Paths, config: Config) -> anyhow::Result<()> {
    let me = config.this_central().clone();
    if config.admin_token().is_none() {
        let networks: Vec<String> = config
            .admin_networks()
            .iter()
            .map(ToString::to_string)
            .collect();
        tracing::warn!(
            admin_networks = %networks.join(", "),
            "no admin_token configured: mutating admin endpoints accept requests from admin_networks only"
        );
    }
    if let Some(url) = crate::postgres::url(&config) {
        return crate::postgres::start(&config, url).await;
    }
    let storage = Storage::open(StorageOptions {
        db_path: config.db_path(),
        origin: me.id.clone(),
        tz: config.timezone().clone(),
    })
    .await
    .with_context(|| format!("cannot open the database {}", config.db_path().display()))?;
    let api_addr = config.api_listen_addr();
    let manager = P2PManager::start(config, Some(paths.config.clone()), storage).await?;
    let listener = bind_nodelay(api_addr)
        .with_context(|| format!("cannot listen for the API on {api_addr}"))?;
    let tls = manager.api_tls().map(|t| t.server.clone());
    tracing::info!(central = %me.id, addr = %api_addr, tls = tls.is_some(), "API listening");
    parkmesh_api::serve(
        listener,
        AppState::new(manager.clone()),
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
