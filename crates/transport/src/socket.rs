//! Listening and dialling: TCP plus the WebSocket handshake on [`MESH_PATH`], with size limits,
//! a handshake deadline, and a cap on handshakes in progress so a flood of half-open
//! connections cannot exhaust the central.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::{LinkConfig, TransportError};

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
    /// The socket, handshake done.
    pub ws: WebSocketStream<TcpStream>,
    /// Remote address.
    pub remote: SocketAddr,
}

/// Accepts mesh connections on `listener` until `accepted` is closed, sending each completed
/// WebSocket handshake to `accepted`. Requests for other paths get a 404.
pub fn listen(listener: TcpListener, cfg: LinkConfig, accepted: mpsc::Sender<Accepted>) {
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
            let (cfg, accepted) = (cfg.clone(), accepted.clone());
            tokio::spawn(async move {
                let _permit = permit;
                let _ = tcp.set_nodelay(true);
                let handshake = tokio_tungstenite::accept_hdr_async_with_config(
                    tcp,
                    check_path,
                    Some(ws_config(&cfg)),
                );
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

/// Dials `host:port` and performs the WebSocket handshake on [`MESH_PATH`].
pub async fn dial(
    addr: &str,
    cfg: &LinkConfig,
) -> Result<WebSocketStream<MaybeTlsStream<TcpStream>>, TransportError> {
    let url = format!("ws://{addr}{MESH_PATH}");
    let connect = tokio_tungstenite::connect_async_with_config(url, Some(ws_config(cfg)), true);
    match tokio::time::timeout(cfg.connect_timeout, connect).await {
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(e)) => Err(TransportError::Handshake {
            addr: addr.to_owned(),
            reason: e.to_string(),
        }),
        Err(_) => Err(TransportError::Timeout(addr.to_owned())),
    }
}
