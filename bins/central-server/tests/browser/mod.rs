//! A headless Chromium driven over the DevTools protocol, for the status and report page tests.
//!
//! Chromium is started with `--remote-debugging-port=0`; the port it picked is read from
//! `DevToolsActivePort` in its profile directory, the page's WebSocket from `/json/list`, and the
//! page is then inspected with `Runtime.evaluate`. Every console error, uncaught exception and
//! failed resource load (the `Log` and `Runtime` domains) is collected in [`Browser::errors`].

#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The browser for a page test named `what`: in CI (`CI=true`) a missing browser fails the
/// test; elsewhere `None`, after a notice that the test is skipped.
#[allow(clippy::print_stderr)] // the skip notice is for the reader
pub fn chromium_or_skip(what: &str) -> Option<PathBuf> {
    let found = find_chromium();
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromium is required in CI for the {what} test (apt-get install chromium)"
        );
        eprintln!(
            "\n*** SKIPPED the {what} browser test: no chromium found (install Debian's \
             `chromium` or set CHROMIUM=/path/to/chrome) ***\n"
        );
    }
    found
}

/// The Chromium binary: `$CHROMIUM`, else `chromium` or `chromium-browser` on the PATH.
pub fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// A running headless Chromium with one page; killed on drop.
pub struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
    ws: Ws,
    next_id: u64,
    /// Console errors, uncaught exceptions and failed loads seen so far.
    pub errors: Vec<String>,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_port(profile: &std::path::Path, child: &mut Child) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(profile.join("DevToolsActivePort"))
            && let Some(port) = text.lines().next().and_then(|l| l.trim().parse().ok())
        {
            return port;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("chromium exited during start-up: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "chromium did not open its DevTools port"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `GET /json/list` of the DevTools server, which keeps the connection open after its answer:
/// the body is read by its `Content-Length`.
fn json_list(port: u16) -> Option<Value> {
    use std::io::{BufRead, Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(b"GET /json/list HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .ok()?;
    let mut r = std::io::BufReader::new(s);
    let mut len = 0;
    loop {
        let mut line = String::new();
        r.read_line(&mut line).ok()?;
        if line.trim().is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

impl Browser {
    /// Starts Chromium on `url` (a phone-sized window) and attaches to the page.
    pub fn open(chromium: &std::path::Path, url: &str) -> Self {
        Self::open_sized(chromium, url, (412, 915))
    }

    /// Starts Chromium on `url` with a window of `(width, height)` and attaches to the page.
    pub fn open_sized(chromium: &std::path::Path, url: &str, size: (u32, u32)) -> Self {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--window-size={},{}", size.0, size.1))
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let port = read_port(profile.path(), &mut child);
        let page_ws = crate::common::eventually("the page in /json/list", || {
            let list = json_list(port)?;
            list.as_array()?
                .iter()
                .find(|t| {
                    t["type"] == "page" && t["url"].as_str().is_some_and(|u| u.starts_with(url))
                })
                .and_then(|t| t["id"].as_str().map(str::to_owned))
        });
        // The listed URL names the host of our request, without its port: build it ourselves.
        let page_ws = format!("ws://127.0.0.1:{port}/devtools/page/{page_ws}");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (ws, _) = rt
            .block_on(tokio_tungstenite::connect_async(page_ws.as_str()))
            .unwrap();
        let mut b = Self {
            child,
            _profile: profile,
            rt,
            ws,
            next_id: 0,
            errors: Vec::new(),
        };
        for domain in ["Runtime.enable", "Log.enable", "Page.enable"] {
            b.call(domain, json!({}));
        }
        b
    }

    fn note(&mut self, msg: &Value) {
        let params = &msg["params"];
        match msg["method"].as_str() {
            Some("Runtime.exceptionThrown") => self
                .errors
                .push(format!("exception: {}", params["exceptionDetails"])),
            Some("Runtime.consoleAPICalled")
                if matches!(params["type"].as_str(), Some("error" | "assert")) =>
            {
                self.errors
                    .push(format!("console.error: {}", params["args"]))
            }
            Some("Log.entryAdded") if params["entry"]["level"] == "error" => self
                .errors
                .push(format!("log: {}", params["entry"]["text"])),
            _ => {}
        }
    }

    /// Sends one DevTools command and returns its result, collecting events seen meanwhile.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let req = json!({ "id": id, "method": method, "params": params }).to_string();
        let msgs: Vec<Value> = self.rt.block_on(async {
            self.ws.send(Message::text(req)).await.unwrap();
            let mut seen = Vec::new();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            loop {
                let next = tokio::time::timeout_at(deadline, self.ws.next())
                    .await
                    .unwrap_or_else(|_| panic!("no answer to {method}"));
                let Some(Ok(Message::Text(text))) = next else {
                    continue;
                };
                let v: Value = serde_json::from_str(text.as_str()).unwrap();
                let done = v["id"] == id;
                seen.push(v);
                if done {
                    return seen;
                }
            }
        });
        let mut result = Value::Null;
        for m in msgs {
            if m["id"] == id {
                assert!(m.get("error").is_none(), "{method} failed: {m}");
                result = m["result"].clone();
            } else {
                self.note(&m);
            }
        }
        result
    }

    /// Evaluates a JavaScript expression in the page and returns its value.
    pub fn eval(&mut self, expr: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": expr, "returnByValue": true }),
        );
        r["result"]["value"].clone()
    }

    /// Reloads the page and waits until it has loaded again.
    pub fn reload(&mut self) {
        self.eval("window.__before_reload = true");
        self.call("Page.reload", json!({ "ignoreCache": true }));
        crate::common::eventually("the page reloaded", || {
            (self.eval("document.readyState === 'complete' && !window.__before_reload") == true)
                .then_some(())
        });
    }

    /// A PNG screenshot of the page.
    pub fn screenshot(&mut self) -> Vec<u8> {
        let r = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        decode_base64(r["data"].as_str().unwrap_or_default())
    }
}

fn decode_base64(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            _ => 63,
        }
    };
    let bytes: Vec<u8> = s
        .bytes()
        .filter(|&c| c != b'=' && !c.is_ascii_whitespace())
        .collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= val(c) << (18 - 6 * i);
        }
        let take = chunk.len().saturating_sub(1);
        for i in 0..take {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}
