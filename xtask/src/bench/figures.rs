//! The measured figures P1–P7. Each returns raw samples; `mod.rs` repeats, summarises and
//! writes the report.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio_tungstenite::tungstenite::Message;

use super::cpu::Ticks;
use super::net::{Central, Http, entry, wait_for, ws, ws_until};

/// Milliseconds of a duration.
pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// P1 over HTTP: one edge, one event at a time, keep-alive; latency of each answer.
pub(crate) fn p1_http(c: &Central, n: usize, tag: &str) -> anyhow::Result<Vec<f64>> {
    let mut h = Http::connect(c.api)?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let body = entry(&format!("{tag}H{i:06}"), 1);
        let t = Instant::now();
        let (status, _) = h.call("POST", "/api/edge/event", Some(&body))?;
        out.push(ms(t.elapsed()));
        anyhow::ensure!(status == 200, "edge event refused with {status}");
    }
    Ok(out)
}

/// P1 over `/ws/edge`: one edge; latency from send to the `event_result` frame.
pub(crate) fn p1_ws(c: &Central, n: usize, tag: &str) -> anyhow::Result<Vec<f64>> {
    let mut sock = ws(c.api, "/ws/edge")?;
    sock.send(Message::text(r#"{"edge_id": 1}"#))?;
    ws_until(&mut sock, |v| v["type"] == "connected")?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let body = entry(&format!("{tag}W{i:06}"), 1);
        let t = Instant::now();
        sock.send(Message::text(body))?;
        let r = ws_until(&mut sock, |v| v["type"] == "event_result")?;
        out.push(ms(t.elapsed()));
        anyhow::ensure!(r["result"]["success"] == true, "ws event refused: {r}");
    }
    Ok(out)
}

/// One edge's connection for P3: keep-alive HTTP or `/ws/edge`.
enum Edge {
    Http(Http),
    Ws(Box<tokio_tungstenite::tungstenite::WebSocket<std::net::TcpStream>>),
}

impl Edge {
    fn open(api: u16, over_ws: bool, edge: usize) -> anyhow::Result<Self> {
        if !over_ws {
            return Ok(Self::Http(Http::connect(api)?));
        }
        let mut sock = ws(api, "/ws/edge")?;
        sock.send(Message::text(format!(r#"{{"edge_id": {}}}"#, edge + 1)))?;
        ws_until(&mut sock, |v| v["type"] == "connected")?;
        Ok(Self::Ws(Box::new(sock)))
    }

    /// Sends one event and waits for its answer.
    fn send(&mut self, body: String) -> anyhow::Result<()> {
        match self {
            Self::Http(h) => {
                let (status, _) = h.call("POST", "/api/edge/event", Some(&body))?;
                anyhow::ensure!(status == 200, "refused with {status}");
            }
            Self::Ws(sock) => {
                sock.send(Message::text(body))?;
                let r = ws_until(sock, |v| v["type"] == "event_result")?;
                anyhow::ensure!(r["result"]["success"] == true, "ws event refused: {r}");
            }
        }
        Ok(())
    }
}

/// P3: `edges` concurrent edges (HTTP, or `/ws/edge` when `over_ws`) pushing as fast as they
/// can for `secs`; returns (events per second, answer latencies).
pub(crate) fn p3(
    c: &Central,
    edges: usize,
    secs: f64,
    tag: &str,
    over_ws: bool,
) -> anyhow::Result<(f64, Vec<f64>)> {
    let stop = Arc::new(AtomicBool::new(false));
    let lat = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let mut handles = Vec::new();
    for e in 0..edges {
        let (stop, lat, api, tag) = (stop.clone(), lat.clone(), c.api, tag.to_owned());
        handles.push(std::thread::spawn(move || -> anyhow::Result<()> {
            let mut edge = Edge::open(api, over_ws, e)?;
            let mut mine = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // At most 12 characters (the lenient plate rule): tag ≤ 4, edge ≤ 2, X, 5 digits.
                let body = entry(&format!("{tag}{e}X{i:05}"), e as i64 + 1);
                let t = Instant::now();
                edge.send(body)?;
                mine.push(ms(t.elapsed()));
                i += 1;
            }
            lat.lock()
                .map_err(|_| anyhow::anyhow!("poisoned"))?
                .extend(mine);
            Ok(())
        }));
    }
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join()
            .map_err(|_| anyhow::anyhow!("edge thread panicked"))??;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let lat = std::mem::take(&mut *lat.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
    Ok((lat.len() as f64 / elapsed, lat))
}

/// P2: entry posted at `a`, time until `b` pushes it on `/ws/history`.
pub(crate) fn p2(a: &Central, b: &Central, n: usize, tag: &str) -> anyhow::Result<Vec<f64>> {
    let mut h = Http::connect(a.api)?;
    let mut sock = ws(b.api, "/ws/history")?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let plate = format!("{tag}P{i:06}");
        let t = Instant::now();
        let (status, _) = h.call("POST", "/api/edge/event", Some(&entry(&plate, 1)))?;
        anyhow::ensure!(status == 200);
        ws_until(&mut sock, |v| {
            v["data"]["plate_id"].as_str() == Some(plate.as_str())
        })?;
        out.push(ms(t.elapsed()));
    }
    Ok(out)
}

/// Writes `n` entries at `c` with 8 concurrent edges (setup for P4).
pub(crate) fn fill(c: &Central, n: u64, tag: &str) -> anyhow::Result<()> {
    let next = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for e in 0..8 {
        let (next, api, tag) = (next.clone(), c.api, tag.to_owned());
        handles.push(std::thread::spawn(move || -> anyhow::Result<()> {
            let mut h = Http::connect(api)?;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok(());
                }
                let (status, _) = h.call(
                    "POST",
                    "/api/edge/event",
                    Some(&entry(&format!("{tag}F{i:08}"), e + 1)),
                )?;
                anyhow::ensure!(status == 200, "fill refused with {status}");
            }
        }));
    }
    for h in handles {
        h.join()
            .map_err(|_| anyhow::anyhow!("fill thread panicked"))??;
    }
    Ok(())
}

/// P4 result.
pub(crate) struct CatchUp {
    pub(crate) events: u64,
    pub(crate) fill_secs: f64,
    pub(crate) full_secs: f64,
    pub(crate) held_at_kill: u64,
    pub(crate) held_after_restart: u64,
    pub(crate) resume_secs: f64,
    /// CPU ticks of the first catch-up (`other`: A, the sender).
    pub(crate) cpu: Ticks,
}

/// P4: `b` offline while `n` events are written at `a`; time for `b` to hold all of them; then
/// the same again with `b` killed half-way, measuring where it resumes.
pub(crate) fn p4(a: &mut Central, b: &mut Central, n: u64) -> anyhow::Result<CatchUp> {
    let limit = Duration::from_secs(1800);
    let t = Instant::now();
    fill(a, n, "C1")?;
    let fill_secs = t.elapsed().as_secs_f64();
    let total = a.held()?;
    b.start()?;
    let ticks = || Ticks::read(b.pid()?, a.pid()?);
    let before = ticks();
    let full = wait_for("catch-up", limit, || b.held().unwrap_or(0) >= total)?;
    let mut cpu = Ticks::default();
    if let (Some(before), Some(after)) = (before, ticks()) {
        after.add_since(&before, &mut cpu);
    }
    // Resume: B goes away again, A writes another n, B comes back and is killed half-way.
    b.kill();
    fill(a, n, "C2")?;
    let total2 = a.held()?;
    b.start()?;
    let half = total + n / 2;
    wait_for("half-way", limit, || b.held().unwrap_or(0) >= half)?;
    let held_at_kill = b.held()?;
    b.kill();
    let t = Instant::now();
    b.start()?;
    let held_after_restart = b.held()?;
    wait_for("resumed catch-up", limit, || {
        b.held().unwrap_or(0) >= total2
    })?;
    Ok(CatchUp {
        events: n,
        fill_secs,
        full_secs: full.as_secs_f64(),
        held_at_kill,
        held_after_restart,
        resume_secs: t.elapsed().as_secs_f64(),
        cpu,
    })
}

/// P7: fsync latency of a small write in `dir`.
pub(crate) fn fsync(dir: &std::path::Path, n: usize) -> anyhow::Result<Vec<f64>> {
    use std::io::Write;
    let mut f = std::fs::File::create(dir.join("fsync.probe"))?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f.write_all(&[0u8; 512])?;
        f.sync_data()?;
        out.push(ms(t.elapsed()));
    }
    Ok(out)
}

/// P7: SQLite (WAL, synchronous=FULL) inserts per second, one per transaction and batched.
pub(crate) fn sqlite(dir: &std::path::Path, n: usize) -> anyhow::Result<(f64, f64)> {
    let conn = rusqlite::Connection::open(dir.join("probe.db"))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
         CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, payload TEXT NOT NULL);",
    )?;
    let payload = "x".repeat(300);
    let t = Instant::now();
    for _ in 0..n / 10 {
        conn.execute("INSERT INTO t (payload) VALUES (?1)", [&payload])?;
    }
    let single = (n / 10) as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    conn.execute_batch("BEGIN")?;
    {
        let mut stmt = conn.prepare("INSERT INTO t (payload) VALUES (?1)")?;
        for _ in 0..n {
            stmt.execute([&payload])?;
        }
    }
    conn.execute_batch("COMMIT")?;
    Ok((single, n as f64 / t.elapsed().as_secs_f64()))
}

/// P7: loopback TCP round trip (1-byte echo).
pub(crate) fn loopback(n: usize) -> anyhow::Result<Vec<f64>> {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let echo = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut s, _) = listener.accept()?;
        s.set_nodelay(true)?;
        let mut b = [0u8; 1];
        while s.read_exact(&mut b).is_ok() {
            s.write_all(&b)?;
        }
        Ok(())
    });
    let mut c = std::net::TcpStream::connect(addr)?;
    c.set_nodelay(true)?;
    let mut out = Vec::with_capacity(n);
    let mut b = [0u8; 1];
    for _ in 0..n {
        let t = Instant::now();
        c.write_all(b"x")?;
        c.read_exact(&mut b)?;
        out.push(ms(t.elapsed()));
    }
    drop(c);
    let _ = echo.join();
    Ok(out)
}

/// P5: runs the in-process convergence simulation and returns its report lines.
pub(crate) fn p5(root: &std::path::Path, runs: usize) -> anyhow::Result<Vec<String>> {
    let out = crate::cargo::cargo(root)
        .args([
            "run",
            "--quiet",
            "--release",
            "-p",
            "parkmesh-replication",
            "--example",
            "converge",
            "--",
        ])
        .arg(runs.to_string())
        .output()
        .context("running the convergence simulation")?;
    anyhow::ensure!(
        out.status.success(),
        "convergence simulation failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect())
}
