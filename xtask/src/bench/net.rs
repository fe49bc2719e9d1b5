//! Black-box drivers of a running central: a keep-alive HTTP/1.1 client, a synchronous
//! WebSocket client, and process management (start on free ports, wait, read RSS, stop).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{self, Message, WebSocket};

/// A keep-alive HTTP/1.1 connection.
pub(crate) struct Http {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Http {
    pub(crate) fn connect(port: u16) -> anyhow::Result<Self> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Self {
            reader: BufReader::new(s.try_clone()?),
            writer: s,
        })
    }

    /// Sends one request and reads the answer; returns (status, body).
    pub(crate) fn call(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        let body = body.unwrap_or("");
        // One write per request, as an HTTP client library sends it: `write!` on the socket
        // would send each formatted piece as its own segment (`TCP_NODELAY`), and the central
        // would wake for every one of them.
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.writer.write_all(request.as_bytes())?;
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .context("bad status line")?;
        let mut len = 0usize;
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse()?;
            }
        }
        let mut buf = vec![0; len];
        self.reader.read_exact(&mut buf)?;
        Ok((status, buf))
    }

    pub(crate) fn json(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let text = body.map(Value::to_string);
        let (_, b) = self.call(method, path, text.as_deref())?;
        Ok(serde_json::from_slice(&b)?)
    }
}

/// A synchronous WebSocket client.
pub(crate) fn ws(port: u16, path: &str) -> anyhow::Result<WebSocket<TcpStream>> {
    let s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let (ws, _) = tungstenite::client(format!("ws://127.0.0.1:{port}{path}"), s)
        .map_err(|e| anyhow::anyhow!("ws handshake: {e}"))?;
    Ok(ws)
}

/// Reads text frames until one satisfies `pred`.
pub(crate) fn ws_until(
    ws: &mut WebSocket<TcpStream>,
    pred: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    loop {
        if let Message::Text(t) = ws.read()? {
            let v: Value = serde_json::from_str(t.as_str()).unwrap_or(Value::Null);
            if pred(&v) {
                return Ok(v);
            }
        }
    }
}

/// An edge event for `plate` (now, or at `ts` seconds).
pub(crate) fn entry(plate: &str, camera: i64) -> String {
    json!({ "type": "ENTRY", "camera_id": camera, "camera_name": "bench", "camera_type": "ENTRY",
            "timestamp": now_secs(), "data": { "plate_text": plate, "confidence": 0.9, "source": "auto" } })
    .to_string()
}

pub(crate) fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A central-server process on loopback with its own temp data dir; killed on drop.
pub(crate) struct Central {
    pub(crate) id: String,
    pub(crate) api: u16,
    pub(crate) p2p: u16,
    pub(crate) config: PathBuf,
    child: Option<Child>,
    bin: PathBuf,
}

impl Central {
    /// Writes the config for `id` with `peers` (id, api, p2p) into `dir`.
    pub(crate) fn plan(
        bin: &Path,
        dir: &Path,
        id: &str,
        peers: &[(String, u16, u16)],
    ) -> anyhow::Result<Self> {
        let (api, p2p) = (free_port()?, free_port()?);
        let data = dir.join(id);
        std::fs::create_dir_all(&data)?;
        let config = data.join("config.json");
        let peer_list: Vec<Value> =
            peers.iter().map(|(pid, papi, pp2p)| json!({ "id": pid, "ip": "127.0.0.1", "api_port": papi, "p2p_port": pp2p })).collect();
        let cfg = json!({
            "this_central": { "id": id, "ip": "127.0.0.1", "api_port": api, "p2p_port": p2p },
            "peer_centrals": peer_list, "bind": "127.0.0.1", "data_dir": data.join("db").to_string_lossy(),
            "cluster_secret": "bench-cluster-secret-0123456789", "admin_token": "bench-admin-token",
            "max_clock_skew_secs": 86400,
        });
        std::fs::write(&config, serde_json::to_vec_pretty(&cfg)?)?;
        Ok(Self {
            id: id.to_owned(),
            api,
            p2p,
            config,
            child: None,
            bin: bin.to_owned(),
        })
    }

    pub(crate) fn set_peers(&self, peers: &[(String, u16, u16)]) -> anyhow::Result<()> {
        let mut cfg: Value = serde_json::from_slice(&std::fs::read(&self.config)?)?;
        cfg["peer_centrals"] =
            peers.iter().map(|(pid, papi, pp2p)| json!({ "id": pid, "ip": "127.0.0.1", "api_port": papi, "p2p_port": pp2p })).collect();
        std::fs::write(&self.config, serde_json::to_vec_pretty(&cfg)?)?;
        Ok(())
    }

    pub(crate) fn start(&mut self) -> anyhow::Result<()> {
        let child = Command::new(&self.bin)
            .arg("--config")
            .arg(&self.config)
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting central-server")?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Http::connect(self.api)
            .and_then(|mut h| h.call("GET", "/", None))
            .is_err()
        {
            if Instant::now() > deadline {
                bail!("central {} did not start", self.id);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    pub(crate) fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The process id while it runs.
    pub(crate) fn pid(&self) -> Option<u32> {
        Some(self.child.as_ref()?.id())
    }

    /// Resident set size in kB (Linux `/proc`).
    pub(crate) fn rss_kb(&self) -> Option<u64> {
        let pid = self.pid()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
    }

    pub(crate) fn peer_tuple(&self) -> (String, u16, u16) {
        (self.id.clone(), self.api, self.p2p)
    }

    /// Events this central holds (sum of its version vector).
    pub(crate) fn held(&self) -> anyhow::Result<u64> {
        let v = Http::connect(self.api)?.json("GET", "/api/p2p/sync-state", None)?;
        Ok(v["local_vector"]
            .as_object()
            .map(|m| m.values().filter_map(Value::as_u64).sum())
            .unwrap_or(0))
    }

    pub(crate) fn connected_peers(&self) -> u64 {
        Http::connect(self.api)
            .and_then(|mut h| h.json("GET", "/api/p2p/status", None))
            .map(|v| v["connected_peers"].as_u64().unwrap_or(0))
            .unwrap_or(0)
    }
}

impl Drop for Central {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Posts `bodies(i)` to `POST /api/edge/event` on `port` for every `i` in `range`, from
/// `clients` keep-alive connections (each takes every `clients`-th `i`); every answer must be a
/// 200.
pub(crate) fn post_each(
    port: u16,
    range: std::ops::Range<u64>,
    clients: u64,
    bodies: fn(u64) -> Vec<String>,
) -> anyhow::Result<()> {
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let range = range.clone();
            std::thread::spawn(move || -> anyhow::Result<()> {
                let mut h = Http::connect(port)?;
                let mut i = range.start + c;
                while i < range.end {
                    for body in bodies(i) {
                        let (status, answer) = h.call("POST", "/api/edge/event", Some(&body))?;
                        if status != 200 {
                            bail!("{status}: {}", String::from_utf8_lossy(&answer));
                        }
                    }
                    i += clients;
                }
                Ok(())
            })
        })
        .collect();
    for h in handles {
        h.join().map_err(|_| anyhow::anyhow!("poster panicked"))??;
    }
    Ok(())
}

/// Waits until `f` holds (polling), up to `limit`.
pub(crate) fn wait_for(
    what: &str,
    limit: Duration,
    mut f: impl FnMut() -> bool,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    while !f() {
        if start.elapsed() > limit {
            bail!("timed out after {limit:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(start.elapsed())
}
