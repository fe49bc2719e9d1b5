//! The mesh's sockets: WebSocket listener and dialer on the `p2p_port` at path `/p2p/v2`, one
//! task per connection that owns the socket, bounded queues, frame-size limits, transport-level
//! round-trip probes and reconnect backoff.
//!
//! This crate knows nothing of events, SQL or the replication protocol: it moves text and binary
//! messages (binary ones hold compressed frames, when the two ends agreed on it) between a socket
//! and the driver (`parkmesh-manager`), which feeds them to the sans-IO engine.
//! Every connection reports to the driver through one [`LinkEvent`] channel and takes
//! [`LinkCmd`]s on its own bounded queue; a full queue means a slow peer and the driver closes it
//! (the engine re-serves it from the log later), so memory stays bounded.
//!
//! # Layout
//! - this file: [`LinkEvent`], [`LinkCmd`], [`Link`], [`spawn_link`].
//! - `socket`: [`listen`], [`dial`] (handshake, path check, limits).
//! - `limits`: [`LinkConfig`]; `error`: [`TransportError`].
//! - `backoff`: [`Backoff`], exponential with jitter.
//! - `tls`: [`tls::Tls`], optional TLS for the mesh and for the HTTP API.

mod backoff;
mod error;
mod limits;
mod socket;
pub mod tls;

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

pub use crate::backoff::Backoff;
pub use crate::error::TransportError;
pub use crate::limits::LinkConfig;
pub use crate::socket::{Accepted, MESH_PATH, dial, listen};

/// A dialled mesh connection (plain or TLS).
pub type ClientStream = WebSocketStream<Box<dyn tls::Io>>;

/// What a connection reports to the driver. `conn` is the driver's id for it.
#[derive(Debug)]
pub enum LinkEvent {
    /// A text frame arrived.
    Text {
        /// Connection.
        conn: u64,
        /// The frame.
        text: String,
    },
    /// A binary message arrived (what it holds is for the driver to decide).
    Binary {
        /// Connection.
        conn: u64,
        /// The message.
        bytes: Vec<u8>,
    },
    /// The connection ended (closed by either side, failed, or sent a frame that broke the
    /// limits); nothing more comes from it.
    Closed {
        /// Connection.
        conn: u64,
        /// Why, for logs.
        reason: String,
    },
}

/// What the driver asks a connection to do.
#[derive(Debug)]
pub enum LinkCmd {
    /// Write a text frame.
    Send(String),
    /// Write a binary message.
    SendBinary(Vec<u8>),
    /// Send a WebSocket close frame with `reason` and drop the socket.
    Close(String),
    /// Measure a round trip with a WebSocket ping; the answer comes on the channel.
    Probe(oneshot::Sender<Duration>),
}

/// The driver's handle to one connection.
#[derive(Debug, Clone)]
pub struct Link {
    /// Driver-chosen id.
    pub conn: u64,
    /// Remote address, for status and logs.
    pub remote: String,
    tx: mpsc::Sender<LinkCmd>,
}

impl Link {
    /// Queues a command without waiting; `false` when the queue is full or the connection gone.
    pub fn try_send(&self, cmd: LinkCmd) -> bool {
        self.tx.try_send(cmd).is_ok()
    }
}

/// Starts the task that owns `ws`, reporting to `events` as connection `conn`.
pub fn spawn_link<S>(
    ws: WebSocketStream<S>,
    conn: u64,
    remote: String,
    events: mpsc::Sender<LinkEvent>,
    cfg: &LinkConfig,
) -> Link
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (tx, rx) = mpsc::channel(cfg.queue);
    let max = cfg.max_frame;
    let r = remote.clone();
    tokio::spawn(async move {
        let reason = run_link(ws, conn, rx, &events, max).await;
        tracing::debug!(conn, remote = %r, reason = %reason, "mesh connection ended");
        let _ = events.send(LinkEvent::Closed { conn, reason }).await;
    });
    Link { conn, remote, tx }
}

async fn run_link<S>(
    ws: WebSocketStream<S>,
    conn: u64,
    mut rx: mpsc::Receiver<LinkCmd>,
    events: &mpsc::Sender<LinkEvent>,
    max: usize,
) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut sink, mut stream) = ws.split();
    let mut probes: Vec<(Vec<u8>, Instant, oneshot::Sender<Duration>)> = Vec::new();
    let mut next_probe: u64 = 0;
    loop {
        tokio::select! {
            msg = stream.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    if t.len() > max {
                        let _ = sink.send(close(CloseCode::Size, "frame too large")).await;
                        return format!("frame of {} bytes over the {max} byte limit", t.len());
                    }
                    if events.send(LinkEvent::Text { conn, text: t.as_str().to_owned() }).await.is_err() {
                        return "driver stopped".into();
                    }
                }
                Some(Ok(Message::Pong(p))) => {
                    if let Some(i) = probes.iter().position(|(id, _, _)| id.as_slice() == p.as_ref()) {
                        let (_, at, reply) = probes.swap_remove(i);
                        let _ = reply.send(at.elapsed());
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    return frame.map(|f| format!("closed by peer: {} {}", u16::from(f.code), f.reason)).unwrap_or_else(|| "closed by peer".into());
                }
                Some(Ok(Message::Binary(b))) => {
                    if events.send(LinkEvent::Binary { conn, bytes: b.to_vec() }).await.is_err() {
                        return "driver stopped".into();
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return format!("socket error: {e}"),
                None => return "socket closed".into(),
            },
            cmd = rx.recv() => match cmd {
                Some(LinkCmd::Send(text)) => {
                    if let Err(e) = sink.send(Message::text(text)).await {
                        return format!("send failed: {e}");
                    }
                }
                Some(LinkCmd::SendBinary(bytes)) => {
                    if let Err(e) = sink.send(Message::binary(bytes)).await {
                        return format!("send failed: {e}");
                    }
                }
                Some(LinkCmd::Close(reason)) => {
                    let _ = sink.send(close(CloseCode::Normal, &reason)).await;
                    let _ = sink.close().await;
                    return format!("closed: {reason}");
                }
                Some(LinkCmd::Probe(reply)) => {
                    next_probe += 1;
                    let id = next_probe.to_be_bytes().to_vec();
                    if sink.send(Message::Ping(id.clone().into())).await.is_err() {
                        return "send failed".into();
                    }
                    probes.push((id, Instant::now(), reply));
                    probes.retain(|(_, at, _)| at.elapsed() < Duration::from_secs(30));
                }
                None => {
                    let _ = sink.send(close(CloseCode::Away, "shutting down")).await;
                    return "driver dropped the connection".into();
                }
            },
        }
    }
}

fn close(code: CloseCode, reason: &str) -> Message {
    // Close reasons are limited to 123 bytes by the protocol.
    let mut r = reason.to_owned();
    while r.len() > 120 {
        r.pop();
    }
    Message::Close(Some(CloseFrame {
        code,
        reason: r.into(),
    }))
}
