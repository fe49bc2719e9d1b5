//! `cargo xtask demo`: three centrals on 127.0.0.1 from `config/demo/central-{a,b,c}.json`, a
//! short scripted day of traffic, and where to look.
//!
//! Cars enter at A and B and leave through any site (so fees are computed from another site's
//! entry), and a car already inside is refused at another site's gate. The demo configs accept
//! edge timestamps up to a day old so the scripted day can be replayed in seconds. The centrals
//! keep running until Ctrl-C unless `--exit` is given.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use serde_json::{Value, json};

/// Run three centrals and a scripted day of traffic.
#[derive(Debug, clap::Args)]
pub(crate) struct Demo {
    /// Stop the centrals after the script instead of waiting for Ctrl-C.
    #[arg(long)]
    exit: bool,
}

const SITES: [(&str, u16); 3] = [("a", 8101), ("b", 8102), ("c", 8103)];

struct Centrals(Vec<Child>);

impl Drop for Centrals {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let payload = body.map(Value::to_string).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{payload}",
        payload.len()
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let start = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no HTTP answer")?
        + 4;
    Ok(serde_json::from_slice(&buf[start..]).unwrap_or(Value::Null))
}

fn event(kind: &str, plate: &str, ts: f64, camera: i64) -> Value {
    json!({ "type": kind, "camera_id": camera, "camera_name": format!("Gate {camera}"), "camera_type": kind,
            "timestamp": ts, "data": { "plate_text": plate, "confidence": 0.95, "source": "auto" } })
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Demo {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        let root = crate::cargo::workspace_root();
        let bin = crate::cargo::build_release_server(&root)?;
        let mut centrals = Centrals(Vec::new());
        for (site, _) in SITES {
            let _ = std::fs::remove_dir_all(root.join(format!("data/demo-{site}")));
            let child = Command::new(&bin)
                .arg("--config")
                .arg(root.join(format!("config/demo/central-{site}.json")))
                .current_dir(&root)
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .spawn()
                .with_context(|| format!("starting central {site}"))?;
            centrals.0.push(child);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        for (site, port) in SITES {
            while http(port, "GET", "/", None).is_err() {
                if Instant::now() > deadline {
                    bail!("central {site} did not start on port {port}");
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        println!("three centrals up; waiting for the mesh to connect");
        while SITES.iter().any(|(_, p)| {
            http(*p, "GET", "/api/p2p/status", None)
                .map(|v| v["connected_peers"] != 2)
                .unwrap_or(true)
        }) {
            if Instant::now() > deadline {
                bail!("the mesh did not connect within a minute");
            }
            std::thread::sleep(Duration::from_millis(200));
        }

        let t0 = now_secs() - 8.0 * 3600.0;
        let ports: Vec<u16> = SITES.iter().map(|(_, p)| *p).collect();
        for i in 0..30u32 {
            let plate = format!("30A{:05}", 10_000 + i);
            let at = ports[(i % 2) as usize];
            http(
                at,
                "POST",
                "/api/edge/event",
                Some(&event("ENTRY", &plate, t0 + f64::from(i) * 600.0, 1)),
            )?;
            if i % 3 != 0 {
                let out = ports[(i % 3) as usize];
                http(
                    out,
                    "POST",
                    "/api/edge/event",
                    Some(&event(
                        "EXIT",
                        &plate,
                        t0 + f64::from(i) * 600.0 + 5400.0,
                        2,
                    )),
                )?;
            }
        }
        // A car still inside (it entered at A) shows up at B's entry gate: B refuses it, since
        // A's entry reached B through the mesh.
        let refused = http(
            ports[1],
            "POST",
            "/api/edge/event",
            Some(&event("ENTRY", "30A10000", now_secs(), 1)),
        )?;
        println!(
            "entry of 30A10000 at B while it is inside (entered at A): {}",
            refused["error"]
        );
        std::thread::sleep(Duration::from_secs(2));
        for (site, port) in SITES {
            let stats = http(port, "GET", "/api/stats", None)?;
            let conflicts = http(port, "GET", "/api/p2p/conflicts", None)?;
            println!(
                "central-{site}: {} in the lot, {} exits today, revenue {} VND, {} conflict(s)",
                stats["vehicles_in_parking"],
                stats["exits_today"],
                stats["revenue_today"],
                conflicts["count"]
            );
        }
        println!("\nlook at:");
        for (site, port) in SITES {
            println!(
                "  central-{site}: http://127.0.0.1:{port}/mesh  /reports  /api/p2p/status  /api/parking/history  /api/p2p/conflicts"
            );
        }
        if self.exit {
            return Ok(());
        }
        println!("\nrunning; Ctrl-C stops the three centrals");
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}
