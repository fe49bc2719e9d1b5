//! A minimal HTTP/1.1 JSON client for the few calls a central makes to a peer's API
//! (`/api/p2p/info`, `/api/p2p/register-peer`, `/api/p2p/unregister-peer`): one request per
//! connection, a hard timeout, a bounded answer. Runs on the async runtime, never blocking it.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Time allowed for one call, connect included.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Largest answer read.
const MAX_ANSWER: u64 = 256 * 1024;

/// Calls `method path` on `host:port` with an optional JSON body; returns status and JSON body.
pub(crate) async fn call(
    host: &str,
    port: u16,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), String> {
    let work = async {
        let mut s = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| format!("cannot reach {host}:{port}: {e}"))?;
        let payload = body.map(Value::to_string).unwrap_or_default();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\nAccept: application/json\r\n"
        );
        if body.is_some() {
            req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                payload.len()
            ));
        }
        req.push_str("\r\n");
        req.push_str(&payload);
        s.write_all(req.as_bytes())
            .await
            .map_err(|e| format!("send to {host}:{port} failed: {e}"))?;
        let mut buf = Vec::new();
        s.take(MAX_ANSWER)
            .read_to_end(&mut buf)
            .await
            .map_err(|e| format!("read from {host}:{port} failed: {e}"))?;
        parse(&buf).ok_or_else(|| format!("{host}:{port} did not answer with HTTP and JSON"))
    };
    tokio::time::timeout(TIMEOUT, work)
        .await
        .map_err(|_| format!("{host}:{port} did not answer within {TIMEOUT:?}"))?
}

fn parse(buf: &[u8]) -> Option<(u16, Value)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let mut body = buf[end + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body)?;
    }
    Some((status, serde_json::from_slice(&body).ok()?))
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let pos = b.windows(2).position(|w| w == b"\r\n")?;
        let size = usize::from_str_radix(std::str::from_utf8(&b[..pos]).ok()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(pos + 2..pos + 2 + size)?);
        b = b.get(pos + 4 + size..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked_answers() {
        let plain = b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n{\"a\":true}\n";
        assert_eq!(parse(plain), Some((200, serde_json::json!({"a": true}))));
        let chunked = b"HTTP/1.1 400 Bad\r\ntransfer-encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n";
        assert_eq!(parse(chunked), Some((400, serde_json::json!({"a": 1}))));
        assert_eq!(parse(b"garbage"), None);
    }
}
