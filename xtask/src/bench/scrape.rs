//! P8: time to scrape `GET /metrics` from an idle central of a three-central mesh (keep-alive,
//! one scrape at a time, as Prometheus does), and `cargo xtask bench --metrics-only`, which
//! measures only this figure and puts its section into an existing `bench/RESULTS.md`.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use super::figures::ms;
use super::net::{Central, Http, entry, wait_for};
use super::{p50_p99, spread};

/// Heading of the section in `bench/RESULTS.md`.
const HEADING: &str = "## P8 — `GET /metrics` scrape on an idle central";

/// `n` scrapes of `c`'s `/metrics`, one at a time on one connection; milliseconds each.
pub(crate) fn p8(c: &Central, n: usize) -> anyhow::Result<Vec<f64>> {
    let mut h = Http::connect(c.api)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let (status, body) = h.call("GET", "/metrics", None)?;
        out.push(ms(t.elapsed()));
        anyhow::ensure!(
            status == 200 && body.starts_with(b"# HELP"),
            "/metrics answered {status}"
        );
    }
    Ok(out)
}

/// The report section from per-run samples.
pub(crate) fn section(runs: Vec<Vec<f64>>, bytes: usize) -> String {
    let (mut s50, mut s99) = (vec![], vec![]);
    for samples in runs {
        let (a, b) = p50_p99(samples);
        s50.push(a);
        s99.push(b);
    }
    let mut r = String::new();
    let _ = writeln!(
        r,
        "{HEADING}\n\n| p50 ms (min / median / max) | p99 ms (min / median / max) | target p99 |\n|---|---|---|"
    );
    let _ = writeln!(r, "| {} | {} | ≤ 2 ms |\n", spread(s50), spread(s99));
    let _ = writeln!(
        r,
        "Central A of a full mesh of three, with two peers, a few hundred events and no traffic during the scrapes; one answer is {bytes} bytes.\n"
    );
    r
}

/// Starts three centrals, gives them some history, lets them go idle and measures P8 on one.
pub(crate) fn measure(bin: &Path, tmp: &Path, runs: usize, n: usize) -> anyhow::Result<String> {
    let mut trio: Vec<Central> = (0..3)
        .map(|i| Central::plan(bin, tmp, &format!("scrape-{i}"), &[]))
        .collect::<Result<_, _>>()?;
    let tuples: Vec<_> = trio.iter().map(Central::peer_tuple).collect();
    for (i, c) in trio.iter_mut().enumerate() {
        let others: Vec<_> = tuples
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, t)| t.clone())
            .collect();
        c.set_peers(&others)?;
        c.start()?;
    }
    wait_for("full mesh", Duration::from_secs(60), || {
        trio.iter().all(|c| c.connected_peers() == 2)
    })?;
    for (i, c) in trio.iter().enumerate() {
        let mut h = Http::connect(c.api)?;
        for j in 0..100 {
            h.call(
                "POST",
                "/api/edge/event",
                Some(&entry(&format!("SC{i}{j:05}"), 1)),
            )?;
        }
    }
    wait_for("every event everywhere", Duration::from_secs(60), || {
        trio.iter().all(|c| c.held().unwrap_or(0) == 300)
    })?;
    std::thread::sleep(Duration::from_secs(1));
    let (_, body) = Http::connect(trio[0].api)?.call("GET", "/metrics", None)?;
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        samples.push(p8(&trio[0], n)?);
    }
    Ok(section(samples, body.len()))
}

/// Replaces (or appends) the P8 section of the report at `path`.
pub(crate) fn splice(path: &Path, section: &str) -> anyhow::Result<()> {
    splice_at(path, HEADING, section)
}

/// Replaces the section headed `heading` of the file at `path` by `section` (or appends it).
pub(crate) fn splice_at(path: &Path, heading: &str, section: &str) -> anyhow::Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let new = match old.find(heading) {
        Some(start) => {
            let rest = &old[start + heading.len()..];
            let end = rest
                .find("\n## ")
                .map_or(old.len(), |i| start + heading.len() + i + 1);
            format!("{}{section}{}", &old[..start], &old[end..])
        }
        None => format!("{}\n\n{section}", old.trim_end()),
    };
    std::fs::write(path, new)?;
    Ok(())
}
