//! Test support: start a real `central-server` process on loopback with temp dirs and free
//! ports, and talk to it over plain HTTP/1.1 (no client library needed).

#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A free loopback port (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// A running central-server process; killed on drop.
pub struct Central {
    pub child: Child,
    pub api_port: u16,
    pub p2p_port: u16,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
}

impl Drop for Central {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes a config file for a central with id `id` into `dir`.
pub fn write_config(dir: &Path, id: &str, api_port: u16, p2p_port: u16, extra: Value) -> PathBuf {
    let mut cfg = serde_json::json!({
        "this_central": { "id": id, "ip": "127.0.0.1", "p2p_port": p2p_port, "api_port": api_port },
        "peer_centrals": [],
        "bind": "127.0.0.1",
        "data_dir": dir.join("data").to_string_lossy(),
    });
    if let (Value::Object(c), Value::Object(e)) = (&mut cfg, extra) {
        c.extend(e);
    }
    let path = dir.join("p2p_config.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
    path
}

/// Starts a standalone central with `extra` config keys and waits until its API answers.
pub fn start(id: &str, extra: Value) -> Central {
    let dir = tempfile::tempdir().unwrap();
    let (api_port, p2p_port) = (free_port(), free_port());
    let config_path = write_config(dir.path(), id, api_port, p2p_port, extra);
    let child = spawn(&config_path);
    let c = Central {
        child,
        api_port,
        p2p_port,
        dir,
        config_path,
    };
    wait_ready(c.api_port);
    c
}

/// Ports of a planned cluster member.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    pub api_port: u16,
    pub p2p_port: u16,
}

/// Plans `ids.len()` centrals on loopback with free ports.
pub fn plan(ids: &[&str]) -> Vec<Member> {
    ids.iter()
        .map(|id| Member {
            id: (*id).to_owned(),
            api_port: free_port(),
            p2p_port: free_port(),
        })
        .collect()
}

/// Starts member `idx` of `members`, peered with the members listed in `peers`, with `secret`.
pub fn start_member(
    members: &[Member],
    idx: usize,
    peers: &[usize],
    secret: &str,
    extra: Value,
) -> Central {
    let m = &members[idx];
    let peer_list: Vec<Value> = peers
        .iter()
        .map(|&p| {
            let p = &members[p];
            serde_json::json!({ "id": p.id, "ip": "127.0.0.1", "p2p_port": p.p2p_port, "api_port": p.api_port })
        })
        .collect();
    let mut cfg = serde_json::json!({ "peer_centrals": peer_list, "cluster_secret": secret, "max_clock_skew_secs": 86400 });
    if let (Value::Object(c), Value::Object(e)) = (&mut cfg, extra) {
        c.extend(e);
    }
    let dir = tempfile::tempdir().unwrap();
    let config_path = write_config(dir.path(), &m.id, m.api_port, m.p2p_port, cfg);
    let child = spawn(&config_path);
    let c = Central {
        child,
        api_port: m.api_port,
        p2p_port: m.p2p_port,
        dir,
        config_path,
    };
    wait_ready(c.api_port);
    c
}

/// Restarts a stopped central on its own config and data.
pub fn restart(c: &mut Central) {
    let _ = c.child.kill();
    let _ = c.child.wait();
    c.child = spawn(&c.config_path);
    wait_ready(c.api_port);
}

/// Polls `f` until it returns `Some` or a generous deadline passes.
pub fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Spawns the binary with a config file.
pub fn spawn(config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_central-server"))
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits (up to a generous deadline) until `GET /` answers.
pub fn wait_ready(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if request(port, "GET", "/", None, &[]).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("central on port {port} did not become ready");
}

/// One HTTP/1.1 request; returns (status, body).
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    headers: &[(&str, &str)],
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    if let Some(b) = body {
        // The server may answer (e.g. 413) and close before reading a large body; the answer
        // is what the test checks, so a failed write of the rest is not an error.
        let _ = s.write_all(b);
    }
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text_end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or(std::io::ErrorKind::InvalidData)?;
    let head = String::from_utf8_lossy(&buf[..text_end]).to_string();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or(std::io::ErrorKind::InvalidData)?;
    let mut body = buf[text_end + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Ok((status, body))
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(pos) = b.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&b[..pos]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[pos + 2..pos + 2 + size]);
        b = &b[pos + 2 + size + 2..];
    }
    out
}

/// A JSON request; returns (status, parsed body).
pub fn json(port: u16, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let bytes = body.map(|b| serde_json::to_vec(b).unwrap());
    let (status, body) = request(port, method, path, bytes.as_deref(), &[]).unwrap();
    let v = serde_json::from_slice(&body).unwrap_or_else(|_| {
        panic!(
            "non-JSON answer {status}: {}",
            String::from_utf8_lossy(&body)
        )
    });
    (status, v)
}
