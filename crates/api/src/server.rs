//! The HTTP server loop: accepts connections (plain, or TLS when the configuration has a `tls`
//! section), serves the warp routes on each with HTTP/1.1 and upgrades, and shuts down
//! gracefully.
//!
//! warp's own server cannot take a TLS listener, so the loop is ours: it records each client's
//! address in the request as [`ClientAddr`] (what the admin rule for loopback callers reads), and
//! bounds the graceful shutdown, since a relayed video stream or a WebSocket never ends on its
//! own.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use parkmesh_transport::tls::{Io, TlsServer};
use tokio::sync::Semaphore;

use crate::filters::ClientAddr;
use crate::routes::routes;
use crate::state::AppState;

/// Time a TLS handshake may take before the connection is dropped.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// TLS handshakes in progress at once; more are dropped (a flood must not exhaust the central).
const MAX_TLS_HANDSHAKES: usize = 64;
/// Time open connections get to finish after shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Serves the API on an already-bound listener until `shutdown` completes; with `tls`, every
/// connection must open with a TLS handshake.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    tls: Option<TlsServer>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let service = warp::service(routes(state));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let handshakes = Arc::new(Semaphore::new(MAX_TLS_HANDSHAKES));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, remote) = tokio::select! {
            res = listener.accept() => match res {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "API accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let svc = service.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        let handshakes = handshakes.clone();
        tokio::spawn(async move {
            let io: Box<dyn Io> = match tls {
                None => Box::new(tcp),
                Some(tls) => {
                    let Ok(_permit) = handshakes.try_acquire_owned() else {
                        tracing::warn!(%remote, "too many TLS handshakes in progress; connection dropped");
                        return;
                    };
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, tls.accept(tcp)).await {
                        Ok(Ok(s)) => Box::new(s),
                        Ok(Err(e)) => {
                            tracing::info!(%remote, error = %e, "API TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::info!(%remote, "API TLS handshake timed out");
                            return;
                        }
                    }
                }
            };
            let svc = TowerToHyperService::new(svc);
            let svc = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
                req.extensions_mut().insert(ClientAddr(remote));
                hyper::service::Service::call(&svc, req)
            });
            let builder = Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), svc);
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(%remote, error = %e, "API connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!("open API connections did not finish in time; closing them");
    }
}
