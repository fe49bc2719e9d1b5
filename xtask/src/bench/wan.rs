//! P14: the mesh across a site link. Two release centrals whose link runs through the fault
//! proxy (`parkmesh-faultproxy`) at a set bandwidth and round trip: the time a backlog takes to
//! catch up beside the floor the link sets (bytes on the wire ÷ bandwidth), and the bytes per
//! event in catch-up and live replication, from the per-peer byte counters in `/metrics`. Then
//! full meshes of 2 and 10 centrals on loopback: the bytes each central receives per event it
//! receives, to show that they do not grow with the size of the mesh.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use parkmesh_faultproxy::{Faults, Proxy};

use super::figures::fill;
use super::net::{Central, Http, entry, wait_for};

/// The heading of the section in `bench/RESULTS.md`.
pub(crate) const HEADING: &str = "## P14";

/// One sample of `/metrics` with `peer`'s label (0 when absent).
fn peer_metric(c: &Central, name: &str, peer: &str) -> anyhow::Result<f64> {
    let (_, body) = Http::connect(c.api)?.call("GET", "/metrics", None)?;
    let prefix = format!("{name}{{peer=\"{peer}\"}} ");
    Ok(String::from_utf8_lossy(&body)
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0))
}

/// Sum of `name` over every peer of `c`.
fn all_peers_metric(c: &Central, name: &str) -> anyhow::Result<f64> {
    let (_, body) = Http::connect(c.api)?.call("GET", "/metrics", None)?;
    let prefix = format!("{name}{{peer=\"");
    Ok(String::from_utf8_lossy(&body)
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

/// One link to measure.
struct Link {
    rtt_ms: u64,
    bps: u64,
    compression: bool,
}

/// Figures of one link.
struct LinkRun {
    link: Link,
    events: u64,
    catch_up_secs: f64,
    /// Bytes A sent B during the catch-up (its counter), and B sent A (acks, pings).
    catch_up_out: f64,
    catch_up_back: f64,
    /// TCP payload the proxy carried A → B during the catch-up.
    proxy_bytes: u64,
    resent: f64,
    live_events: u64,
    live_out: f64,
    live_back: f64,
}

fn with_compression(c: &Central, on: bool) -> anyhow::Result<()> {
    let mut cfg: serde_json::Value = serde_json::from_slice(&std::fs::read(&c.config)?)?;
    cfg["mesh"] = serde_json::json!({ "compression": on });
    std::fs::write(&c.config, serde_json::to_vec_pretty(&cfg)?)?;
    Ok(())
}

fn run_link(bin: &Path, dir: &Path, link: Link, events: u64, live: u64) -> anyhow::Result<LinkRun> {
    let dir = dir.join(format!(
        "wan-{}-{}-{}",
        link.rtt_ms, link.bps, link.compression
    ));
    let mut a = Central::plan(bin, &dir, "central-a", &[])?;
    let mut b = Central::plan(bin, &dir, "central-b", &[a.peer_tuple()])?;
    let faults = Faults::wan(Duration::from_millis(link.rtt_ms), link.bps);
    let proxy = Proxy::start(
        "127.0.0.1:0".parse()?,
        format!("127.0.0.1:{}", b.p2p).parse()?,
        faults,
    )?;
    a.set_peers(&[(b.id.clone(), b.api, proxy.addr().port())])?;
    for c in [&a, &b] {
        with_compression(c, link.compression)?;
    }
    a.start()?;
    fill(&a, events, "W")?;
    let total = a.held()?;
    let up0 = proxy.stats().up_bytes;
    b.start()?;
    let t = Instant::now();
    wait_for(
        "catch-up through the proxy",
        Duration::from_secs(3600),
        || b.held().unwrap_or(0) >= total,
    )?;
    let catch_up_secs = t.elapsed().as_secs_f64();
    // Let the last acks arrive before reading the counters.
    std::thread::sleep(Duration::from_secs(1));
    let catch_up_out = peer_metric(&a, "parkmesh_peer_sent_bytes_total", "central-b")?;
    let catch_up_back = peer_metric(&b, "parkmesh_peer_sent_bytes_total", "central-a")?;
    let proxy_bytes = proxy.stats().up_bytes - up0;
    let resent = peer_metric(&a, "parkmesh_peer_resent_events_total", "central-b")?;

    // Live: one edge at A posting at a steady 50 events/s, B following.
    let mut h = Http::connect(a.api)?;
    for i in 0..live {
        let (status, _) = h.call(
            "POST",
            "/api/edge/event",
            Some(&entry(&format!("LIVE{i:06}"), 1)),
        )?;
        anyhow::ensure!(status == 200, "live event refused with {status}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let total = a.held()?;
    wait_for("live events on b", Duration::from_secs(600), || {
        b.held().unwrap_or(0) >= total
    })?;
    std::thread::sleep(Duration::from_secs(1));
    let live_out = peer_metric(&a, "parkmesh_peer_sent_bytes_total", "central-b")? - catch_up_out;
    let live_back = peer_metric(&b, "parkmesh_peer_sent_bytes_total", "central-a")? - catch_up_back;
    Ok(LinkRun {
        link,
        events: total - live,
        catch_up_secs,
        catch_up_out,
        catch_up_back,
        proxy_bytes,
        resent,
        live_events: live,
        live_out,
        live_back,
    })
}

/// Bytes a central receives per event it receives, averaged over the centrals of a full mesh of
/// `n` on loopback where each central's edge posts `per` events at 20 events/s.
fn mesh(bin: &Path, dir: &Path, n: usize, per: u64) -> anyhow::Result<f64> {
    let dir = dir.join(format!("mesh-{n}"));
    let mut cs: Vec<Central> = (0..n)
        .map(|i| Central::plan(bin, &dir, &format!("mesh-{i:02}"), &[]))
        .collect::<anyhow::Result<_>>()?;
    let tuples: Vec<_> = cs.iter().map(Central::peer_tuple).collect();
    for (i, c) in cs.iter().enumerate() {
        let peers: Vec<_> = tuples
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, t)| t.clone())
            .collect();
        c.set_peers(&peers)?;
    }
    for c in &mut cs {
        c.start()?;
    }
    let want = (n - 1) as u64;
    wait_for("full mesh", Duration::from_secs(120), || {
        cs.iter().all(|c| c.connected_peers() == want)
    })?;
    let before: Vec<f64> = cs
        .iter()
        .map(|c| all_peers_metric(c, "parkmesh_peer_received_bytes_total"))
        .collect::<anyhow::Result<_>>()?;
    let held0: Vec<u64> = cs
        .iter()
        .map(Central::held)
        .collect::<anyhow::Result<_>>()?;
    let threads: Vec<_> = cs
        .iter()
        .map(|c| {
            let (api, id) = (c.api, c.id.clone());
            std::thread::spawn(move || -> anyhow::Result<()> {
                let mut h = Http::connect(api)?;
                for i in 0..per {
                    let (status, _) = h.call(
                        "POST",
                        "/api/edge/event",
                        Some(&entry(&format!("{id}M{i:05}"), 1)),
                    )?;
                    anyhow::ensure!(status == 200, "refused with {status}");
                    std::thread::sleep(Duration::from_millis(50));
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join()
            .map_err(|_| anyhow::anyhow!("edge thread panicked"))??;
    }
    let total = held0[0] + per * n as u64;
    wait_for("mesh converged", Duration::from_secs(600), || {
        cs.iter().all(|c| c.held().unwrap_or(0) >= total)
    })?;
    std::thread::sleep(Duration::from_secs(1));
    let mut per_event = Vec::new();
    for (i, c) in cs.iter().enumerate() {
        let got = all_peers_metric(c, "parkmesh_peer_received_bytes_total")? - before[i];
        per_event.push(got / (per * (n as u64 - 1)) as f64);
    }
    Ok(per_event.iter().sum::<f64>() / per_event.len() as f64)
}

/// Measures P14 and returns its section.
pub(crate) fn measure(
    bin: &Path,
    dir: &Path,
    events: u64,
    live: u64,
    mesh_per: u64,
) -> anyhow::Result<String> {
    let mut runs = Vec::new();
    for (rtt_ms, bps, compression) in [
        (200, 1_000_000, true),
        (20, 10_000_000, true),
        (20, 10_000_000, false),
    ] {
        println!("P14 link {rtt_ms} ms / {bps} bit/s, compression {compression}");
        runs.push(run_link(
            bin,
            dir,
            Link {
                rtt_ms,
                bps,
                compression,
            },
            events,
            live,
        )?);
    }
    println!("P14 full meshes of 2 and 10 centrals");
    let m2 = mesh(bin, dir, 2, mesh_per)?;
    let m10 = mesh(bin, dir, 10, mesh_per)?;
    let mut s = String::new();
    writeln!(
        s,
        "{HEADING} — the mesh across a site link (two centrals through the fault proxy)\n"
    )?;
    writeln!(
        s,
        "A holds a backlog written while B was down; B starts and catches up through `parkmesh-faultproxy` (delay = half the round trip each way, the bandwidth capped each way). Bytes are A's `parkmesh_peer_sent_bytes_total` for B (frames as sent, compressed when both ends offer `deflate`); the floor is those bytes ÷ the bandwidth. Live: one edge at A posting 50 events/s while B follows.\n"
    )?;
    writeln!(
        s,
        "| link | compression | backlog | catch-up time | floor (bytes ÷ bandwidth) | ÷ floor (target ≤ 1.5) | bytes/event catch-up (A→B + B→A) | TCP payload A→B / event | events resent | bytes/event live (A→B + B→A, target ≤ 250) |\n|---|---|---|---|---|---|---|---|---|---|"
    )?;
    for r in &runs {
        let floor = r.catch_up_out * 8.0 / r.link.bps as f64;
        let ev = r.events as f64;
        writeln!(
            s,
            "| {} ms, {} Mbit/s | {} | {} | {:.1} s | {:.1} s | {:.2} | {:.0} + {:.0} = {:.0} | {:.0} | {} | {:.0} + {:.0} = {:.0} |",
            r.link.rtt_ms,
            r.link.bps / 1_000_000,
            if r.link.compression { "deflate" } else { "off" },
            r.events,
            r.catch_up_secs,
            floor,
            r.catch_up_secs / floor,
            r.catch_up_out / ev,
            r.catch_up_back / ev,
            (r.catch_up_out + r.catch_up_back) / ev,
            r.proxy_bytes as f64 / ev,
            r.resent,
            r.live_out / r.live_events as f64,
            r.live_back / r.live_events as f64,
            (r.live_out + r.live_back) / r.live_events as f64,
        )?;
    }
    writeln!(
        s,
        "\nTargets (issue 30): catch-up ≤ 110 bytes per event, live ≤ 250, catch-up time ≤ 1.5 × the floor. Before (486d226, measured the same way): 376 bytes per event in catch-up, 464 live.\n"
    )?;
    writeln!(
        s,
        "Full mesh on loopback, each central's edge posting {mesh_per} events at 20 events/s: bytes a central receives per event it receives (`parkmesh_peer_received_bytes_total` over all its peers ÷ events of other centrals), mean over the centrals.\n"
    )?;
    writeln!(
        s,
        "| centrals | bytes received per event per central | ÷ 2-central figure (target ≤ 1.2) |\n|---|---|---|"
    )?;
    writeln!(
        s,
        "| 2 | {m2:.0} | 1.00 |\n| 10 | {m10:.0} | {:.2} |",
        m10 / m2
    )?;
    writeln!(
        s,
        "\nBefore (486d226): 443 bytes with 2 centrals, 629 with 10, 815 with 20."
    )?;
    Ok(s)
}
