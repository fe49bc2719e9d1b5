//! Listening and dialling: TCP plus the WebSocket handshake on [`MESH_PATH`], with size limits,
//! a handshake deadline, and a cap on handshakes in progress so a flood of half-open
//! connections cannot exhaust the central. With [`TlsServer`]/[`TlsClient`] the WebSocket runs
//! inside TLS; the deadline then covers both handshakes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::error::TransportError;
use crate::limits::LinkConfig;
use crate::tls::{Io, TlsClient, TlsServer};

/// The path of the mesh protocol v2 on the `p2p_port`.
pub const MESH_PATH: &str = "/p2p/v2";

/// Handshakes allowed in progress at once.
const MAX_PENDING_HANDSHAKES: usize = 64;

fn ws_config(cfg: &LinkConfig) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(cfg.max_frame))
        .max_frame_size(Some(cfg.max_frame))
}

/// An accepted mesh connection.
pub struct Accepted {
    /// The socket, handshakes done.
    pub ws: WebSocketStream<Box<dyn Io>>,
    /// Remote address.
    pub remote: SocketAddr,
}

/// Accepts mesh connections on `listener` until `accepted` is closed, sending each completed
/// WebSocket handshake to `accepted`. Requests for other paths get a 404. With `tls`, every
/// connection must open with a TLS handshake.
pub fn listen(
    listener: TcpListener,
    cfg: LinkConfig,
    tls: Option<TlsServer>,
    accepted: mpsc::Sender<Accepted>,
) {
    let pending = Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES));
    tokio::spawn(async move {
        loop {
            let (tcp, remote) = tokio::select! {
                res = listener.accept() => match res {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "mesh accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = accepted.closed() => break,
            };
            let Ok(permit) = pending.clone().try_acquire_owned() else {
                tracing::warn!(%remote, "too many mesh handshakes in progress; connection dropped");
                continue;
            };
            let (cfg, accepted, tls) = (cfg.clone(), accepted.clone(), tls.clone());
            tokio::spawn(async move {
                let _permit = permit;
                let _ = tcp.set_nodelay(true);
                let handshake = async {
                    let io: Box<dyn Io> = match &tls {
                        Some(tls) => Box::new(
                            tls.accept(tcp)
                                .await
                                .map_err(|e| format!("TLS handshake failed: {e}"))?,
                        ),
                        None => Box::new(tcp),
                    };
                    tokio_tungstenite::accept_hdr_async_with_config(
                        io,
                        check_path,
                        Some(ws_config(&cfg)),
                    )
                    .await
                    .map_err(|e| e.to_string())
                };
                match tokio::time::timeout(cfg.connect_timeout, handshake).await {
                    Ok(Ok(ws)) => {
                        let _ = accepted.send(Accepted { ws, remote }).await;
                    }
                    Ok(Err(e)) => tracing::info!(%remote, error = %e, "mesh handshake refused"),
                    Err(_) => tracing::info!(%remote, "mesh handshake timed out"),
                }
            });
        }
        tracing::debug!("mesh listener stopped");
    });
}

#[allow(clippy::result_large_err)]
fn check_path(req: &Request, resp: Response) -> Result<Response, ErrorResponse> {
    if req.uri().path() == MESH_PATH {
        Ok(resp)
    } else {
        let mut err = ErrorResponse::new(Some(format!(
            "not a parkmesh mesh endpoint; use {MESH_PATH}"
        )));
        *err.status_mut() = StatusCode::NOT_FOUND;
        Err(err)
    }
}

/// Dials `host` on `port` and performs the WebSocket handshake on [`MESH_PATH`], inside TLS
/// when `tls` is given (the certificate must be valid for `host`).
pub async fn dial(
    host: &str,
    port: u16,
    cfg: &LinkConfig,
    tls: Option<&TlsClient>,
) -> Result<WebSocketStream<Box<dyn Io>>, TransportError> {
    let addr = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let fail = |reason: String| TransportError::Handshake {
        addr: addr.clone(),
        reason,
    };
    let connect = async {
        let tcp = TcpStream::connect(&addr)
            .await
            .map_err(|e| fail(format!("connect failed: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let (io, scheme): (Box<dyn Io>, _) = match tls {
            Some(tls) => (
                Box::new(
                    tls.connect(host, tcp)
                        .await
                        .map_err(|e| fail(format!("TLS handshake failed: {e}")))?,
                ),
                "wss",
            ),
            None => (Box::new(tcp), "ws"),
        };
        let url = format!("{scheme}://{addr}{MESH_PATH}");
        tokio_tungstenite::client_async_with_config(url, io, Some(ws_config(cfg)))
            .await
            .map(|(ws, _)| ws)
            .map_err(|e| fail(e.to_string()))
    };
    match tokio::time::timeout(cfg.connect_timeout, connect).await {
        Ok(res) => res,
        Err(_) => Err(TransportError::Timeout(addr.clone())),
    }
}
