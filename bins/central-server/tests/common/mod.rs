//! Test support: start a real `central-server` process on loopback with temp dirs and free
//! ports, and talk to it over plain HTTP/1.1 (no client library needed).

#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A free loopback port below Linux's ephemeral range (32768–60999), so that no outgoing
/// connection of this or another test can take it as its local port while a central that owns it
/// is down for a restart. Ports are handed out from a per-process offset and checked by binding.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    let offset = std::process::id().wrapping_mul(7919) % SPAN;
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = u16::try_from(LOW + (offset + n) % SPAN).unwrap();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {LOW} and {}", LOW + SPAN);
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
    let mut c = Central {
        child,
        api_port,
        p2p_port,
        dir,
        config_path,
    };
    wait_child_ready(&mut c.child, c.api_port);
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

/// Starts member `idx` of `members`, peered with the members listed in `peers`, with `secret`,
/// and waits until its API answers plain HTTP.
pub fn start_member(
    members: &[Member],
    idx: usize,
    peers: &[usize],
    secret: &str,
    extra: Value,
) -> Central {
    let mut c = spawn_member(members, idx, peers, secret, extra);
    wait_child_ready(&mut c.child, c.api_port);
    c
}

/// [`start_member`] without waiting (for centrals whose API speaks TLS).
pub fn spawn_member(
    members: &[Member],
    idx: usize,
    peers: &[usize],
    secret: &str,
    extra: Value,
) -> Central {
    spawn_member_logging(members, idx, peers, secret, extra, "warn")
}

/// [`spawn_member`] with `RUST_LOG=filter` (tests that read the central's log lines).
pub fn spawn_member_logging(
    members: &[Member],
    idx: usize,
    peers: &[usize],
    secret: &str,
    extra: Value,
    filter: &str,
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
    Central {
        child: spawn_logging(&config_path, filter),
        api_port: m.api_port,
        p2p_port: m.p2p_port,
        dir,
        config_path,
    }
}

/// Restarts a stopped central on its own config and data.
pub fn restart(c: &mut Central) {
    stop(c);
    c.child = spawn(&c.config_path);
    wait_child_ready(&mut c.child, c.api_port);
}

/// Kills a central (SIGKILL) and reaps it.
pub fn stop(c: &mut Central) {
    let _ = c.child.kill();
    let _ = c.child.wait();
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

/// Spawns the binary with a config file; its stderr (warnings, panics) is appended to
/// `stderr.log` beside the config file (see [`panics`]).
pub fn spawn(config: &Path) -> Child {
    spawn_logging(config, "warn")
}

/// [`spawn`] with `RUST_LOG=filter`.
pub fn spawn_logging(config: &Path, filter: &str) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(config.with_file_name("stderr.log"))
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_central-server"))
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", filter)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// Panic messages the central wrote to its stderr so far. A panic in a request handler only
/// drops that connection, so tests of bad input check this as well as the answers.
pub fn panics(c: &Central) -> Vec<String> {
    let text =
        std::fs::read_to_string(c.config_path.with_file_name("stderr.log")).unwrap_or_default();
    text.lines()
        .filter(|l| l.contains("panicked"))
        .map(str::to_owned)
        .collect()
}

/// Waits until `GET /` answers, failing at once (with the exit status) if the process exits.
pub fn wait_child_ready(child: &mut Child, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("central on port {port} exited during start-up: {status}");
        }
        if request(port, "GET", "/", None, &[]).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("central on port {port} did not become ready");
}

/// The cluster secret of the test meshes.
pub const SECRET: &str = "test-cluster-secret-0123456789";

/// Now, in Unix seconds (the `timestamp` of an edge event).
pub fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Whether `c` shows at least one peer connected in `/api/p2p/status`.
pub fn connected(c: &Central) -> bool {
    let (_, v) = json(c.api_port, "GET", "/api/p2p/status", None);
    v["peers"]
        .as_array()
        .is_some_and(|p| p.iter().any(|p| p["connected"] == true))
}

/// A camera event (`ENTRY` or `EXIT`) as the original edge cameras post it.
pub fn edge_event(kind: &str, plate: &str, ts: f64) -> Value {
    serde_json::json!({ "type": kind, "camera_id": 1, "camera_name": "Gate", "camera_type": kind,
        "timestamp": ts, "data": { "plate_text": plate, "confidence": 0.9, "source": "auto" } })
}

/// Posts `ev` to `/api/edge/event` at `port`, checks the 200 and returns the answer.
pub fn post_event(port: u16, ev: &Value) -> Value {
    let (status, v) = json(port, "POST", "/api/edge/event", Some(ev));
    assert_eq!(status, 200, "{v}");
    v
}

/// One HTTP/1.1 request; returns (status, body).
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    headers: &[(&str, &str)],
) -> std::io::Result<(u16, Vec<u8>)> {
    request_with_head(port, method, path, body, headers).map(|(status, _, body)| (status, body))
}

/// One HTTP/1.1 request; returns (status, the answer's status line and headers, body).
pub fn request_with_head(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    headers: &[(&str, &str)],
) -> std::io::Result<(u16, String, Vec<u8>)> {
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
    Ok((status, head, body))
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

/// Reads one HTTP/1.1 request from a socket (what the fake edges of the tests need): the request
/// line and the body (by `Content-Length`).
pub fn read_request(stream: &TcpStream) -> (String, Vec<u8>) {
    use std::io::BufRead;
    let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    let _ = reader.read_line(&mut line);
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; len];
    let _ = reader.read_exact(&mut body);
    (line.trim().to_owned(), body)
}

/// Runs `central-server ARGS --config CONFIG` to completion; returns (exit code, stdout, stderr).
pub fn run_cli(config: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_central-server"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
pub mod parkai;

/// Asserts that every acknowledged plate is among `stored` exactly once, and that no plate is
/// stored twice (nothing acknowledged lost, nothing applied twice).
pub fn assert_stored_once<'a>(
    stored: impl IntoIterator<Item = &'a str>,
    acked: &std::collections::BTreeSet<String>,
) {
    let mut per_plate: std::collections::BTreeMap<&str, usize> = Default::default();
    for plate in stored {
        *per_plate.entry(plate).or_default() += 1;
    }
    for plate in acked {
        assert_eq!(
            per_plate.get(plate.as_str()),
            Some(&1),
            "acknowledged entry {plate} must be stored exactly once"
        );
    }
    assert!(per_plate.values().all(|n| *n == 1), "no duplicates");
}
