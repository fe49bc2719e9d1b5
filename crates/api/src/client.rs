//! The HTTP/1.1 client a central uses toward its edges (config push, WebRTC offers, the MJPEG
//! relay) and its peers' APIs (`/api/p2p/info`, `register-peer`, `unregister-peer`), on hyper's
//! connection-level client: one request per connection, a hard timeout until the answer's head,
//! bounded JSON answers. Runs on the async runtime, never blocking it. The binary's admin
//! commands call their own central's API through [`call_with_token`].

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::sync::mpsc;

/// Time allowed for one JSON call, connect included.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed for a stream's head, and for each chunk of it (the seed's 30 s).
pub(crate) const STREAM_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest JSON answer read.
const MAX_ANSWER: usize = 256 * 1024;

/// Where a request goes: host, port and whether to speak TLS (peers with TLS enabled).
#[derive(Clone, Copy)]
pub struct Target<'a> {
    /// Host name or IP address (IPv6 without brackets); with TLS, the name the server's
    /// certificate must carry.
    pub host: &'a str,
    /// TCP port.
    pub port: u16,
    /// TLS client verifying the server against the cluster CA, or `None` for plain HTTP.
    pub tls: Option<&'a parkmesh_transport::tls::TlsClient>,
}

impl<'a> Target<'a> {
    /// A plain-HTTP target (edges always are).
    pub fn plain(host: &'a str, port: u16) -> Self {
        Self {
            host,
            port,
            tls: None,
        }
    }

    fn name(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// Opens a connection and sends one request; returns the answer's head and streaming body.
async fn send(
    target: Target<'_>,
    method: &str,
    path: &str,
    body: Option<&Value>,
    token: Option<&str>,
) -> Result<hyper::Response<Incoming>, String> {
    let name = target.name();
    let tcp = tokio::net::TcpStream::connect((target.host, target.port))
        .await
        .map_err(|e| format!("cannot reach {name}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let io: Box<dyn parkmesh_transport::tls::Io> = match target.tls {
        Some(tls) => Box::new(
            tls.connect(target.host, tcp)
                .await
                .map_err(|e| format!("TLS with {name} failed: {e}"))?,
        ),
        None => Box::new(tcp),
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP with {name} failed: {e}"))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "outgoing HTTP connection ended");
        }
    });
    let payload = body.map(Value::to_string).unwrap_or_default();
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", &name);
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    if body.is_some() {
        req = req
            .header("content-type", "application/json")
            .header("accept", "application/json");
    }
    let req = req
        .body(Full::new(Bytes::from(payload)))
        .map_err(|e| format!("bad request to {name}: {e}"))?;
    sender
        .send_request(req)
        .await
        .map_err(|e| format!("{name} did not answer: {e}"))
}

/// Calls `method path` on `target` with an optional JSON body; returns status and JSON body.
pub(crate) async fn call(
    target: Target<'_>,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), String> {
    call_with_token(target, method, path, body, None).await
}

/// Calls `method path` on `target` with an optional JSON body and, when a token is given (a
/// central's `admin_token`), `Authorization: Bearer <token>`; returns status and JSON body.
/// Every failure is one line naming the target: not reachable, no answer within 5 s, or an
/// answer that is not JSON.
pub async fn call_with_token(
    target: Target<'_>,
    method: &str,
    path: &str,
    body: Option<&Value>,
    token: Option<&str>,
) -> Result<(u16, Value), String> {
    let name = target.name();
    let work = async {
        let answer = send(target, method, path, body, token).await?;
        let status = answer.status().as_u16();
        let bytes = Limited::new(answer.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| format!("reading the answer of {name} failed: {e}"))?
            .to_bytes();
        let value = serde_json::from_slice(&bytes)
            .map_err(|_| format!("{name} did not answer with JSON (HTTP {status})"))?;
        Ok((status, value))
    };
    tokio::time::timeout(TIMEOUT, work)
        .await
        .map_err(|_| format!("{name} did not answer within {TIMEOUT:?}"))?
}

/// A streaming answer relayed chunk by chunk: status, content type and the chunks.
pub(crate) struct Relay {
    pub(crate) status: u16,
    pub(crate) content_type: Option<String>,
    pub(crate) chunks: ChunkStream,
}

/// `GET path` on `target`, relaying the body as it arrives. The head must come within
/// [`STREAM_TIMEOUT`], and so must every chunk; a slow reader slows the upstream (bounded
/// queue), and a reader that goes away closes the upstream connection.
pub(crate) async fn relay(target: Target<'_>, path: &str) -> Result<Relay, String> {
    let name = target.name();
    let answer = tokio::time::timeout(STREAM_TIMEOUT, send(target, "GET", path, None, None))
        .await
        .map_err(|_| format!("{name} did not answer within {STREAM_TIMEOUT:?}"))??;
    let status = answer.status().as_u16();
    let content_type = answer
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (tx, rx) = mpsc::channel(8);
    let mut body = answer.into_body();
    tokio::spawn(async move {
        loop {
            let frame = match tokio::time::timeout(STREAM_TIMEOUT, body.frame()).await {
                Ok(Some(Ok(frame))) => frame,
                Ok(Some(Err(e))) => {
                    tracing::debug!(upstream = %name, error = %e, "relayed stream failed");
                    break;
                }
                Ok(None) => break,
                Err(_) => {
                    tracing::debug!(upstream = %name, "relayed stream stalled; closing it");
                    break;
                }
            };
            if let Ok(data) = frame.into_data()
                && tx.send(data).await.is_err()
            {
                break; // the reader went away
            }
        }
    });
    Ok(Relay {
        status,
        content_type,
        chunks: ChunkStream(rx),
    })
}

/// The chunks of a [`Relay`] as a `Stream` (what `warp::reply::stream` takes).
pub(crate) struct ChunkStream(mpsc::Receiver<Bytes>);

impl futures_util::Stream for ChunkStream {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|c| c.map(Ok))
    }
}
