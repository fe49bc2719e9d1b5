//! `cargo xtask bench [--quick]`: black-box benchmarks of real `central-server` processes on
//! 127.0.0.1, written to `bench/RESULTS.md` with the machine, the command and the figures.
//!
//! Each latency figure is measured `runs` times (full 5, quick 2); the report gives, across
//! runs, min/median/max of each run's p50 and p99. Targets and the original system's figures
//! (the performance targets of the project) are printed beside the measurements.

mod cost;
mod cpu;
mod figures;
mod import;
pub(crate) mod net;
mod reads;
mod reports;
mod scrape;
mod sections;
mod size;
mod wan;

use std::fmt::Write as _;
use std::process::Command;
use std::time::Duration;

use self::figures::{p1_http, p1_ws, p2, p3, p4};
use self::net::{Central, wait_for};

/// Run the benchmarks and write bench/RESULTS.md.
#[derive(Debug, clap::Args)]
pub(crate) struct Bench {
    /// A reduced run (fewer samples and repeats, a smaller catch-up) for a quick check.
    #[arg(long)]
    quick: bool,
    /// Events in the P4 catch-up backlog (default: 1 000 000, or 5 000 with --quick).
    #[arg(long)]
    catch_up: Option<u64>,
    /// Measure only P8 (`/metrics` scrape time) and update its section of bench/RESULTS.md.
    #[arg(long)]
    metrics_only: bool,
    /// History rows of the P9 import (default: 1 000 000, or 20 000 with --quick).
    #[arg(long)]
    import_rows: Option<u64>,
    /// Run only P9 (the import) and replace its section of bench/RESULTS.md, keeping the rest.
    #[arg(long)]
    only_import: bool,
    /// Sessions in the P11 report database (default: 5 000 000, or 200 000 with --quick).
    #[arg(long)]
    report_sessions: Option<u64>,
    /// Run only P11 (the 90-day network report) and replace its section of bench/RESULTS.md.
    #[arg(long)]
    reports_only: bool,
    /// Sessions of the P12 size figure (default: 100 000, or 10 000 with --quick).
    #[arg(long)]
    size_sessions: Option<u64>,
    /// Run only P12 (bytes per settled session at two centrals, from `dbstat`) and replace its
    /// section of bench/RESULTS.md.
    #[arg(long)]
    size_only: bool,
    /// Measure only P10 (writer instructions per event, with valgrind's callgrind) and replace
    /// its section of bench/RESULTS.md; a full run keeps the section it finds.
    #[arg(long)]
    writer_cost_only: bool,
    /// Events in the P14 backlog caught up through the fault proxy (default: 100 000, or 5 000
    /// with --quick).
    #[arg(long)]
    wan_events: Option<u64>,
    /// Run only P14 (the mesh through a slow site link, and full meshes of 2 and 10 centrals)
    /// and replace its section of bench/RESULTS.md.
    #[arg(long)]
    wan_only: bool,
    /// Run only P17 (the reads a dashboard polls: state, occupancy, history pages and plate
    /// search) and replace its section of bench/RESULTS.md.
    #[arg(long)]
    reads_only: bool,
    /// Sessions of the P17 history (default: 1 000 000, or 50 000 with --quick).
    #[arg(long)]
    reads_rows: Option<u64>,
    /// Also measure P17 with the central built (release) at this earlier commit, in the same run.
    #[arg(long)]
    reads_at: Option<String>,
}

/// "met" or "missed".
fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "missed" }
}

struct Sizes {
    runs: usize,
    p1: usize,
    p2: usize,
    p3_secs: f64,
    p4: u64,
    p5_runs: usize,
}

/// Percentile of sorted samples.
fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// (p50, p99) of samples.
fn p50_p99(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (pct(&v, 0.50), pct(&v, 0.99))
}

/// "min / median / max" of per-run values.
fn spread(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    format!(
        "{:.2} / {:.2} / {:.2}",
        pct(&v, 0.0),
        pct(&v, 0.5),
        pct(&v, 1.0)
    )
}

fn sh(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// Saves the sections measured so far to `target/bench-partial.md`, so a full run that is
/// stopped or fails late still leaves its figures (bench/RESULTS.md is written only at the end).
fn save_partial(root: &std::path::Path, r: &str) {
    let _ = std::fs::write(root.join("target/bench-partial.md"), r);
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().map(str::to_owned))
        .unwrap_or_default();
    format!(
        "{} cores ({cpu}); {}; load at start: {}",
        sh("nproc", &[]),
        mem.split_whitespace().skip(1).collect::<Vec<_>>().join(" "),
        sh("cat", &["/proc/loadavg"])
    )
}

impl Bench {
    /// P17 alone: this checkout's central (and the one at `--reads-at`) in one run.
    fn reads(&self, root: &std::path::Path) -> anyhow::Result<()> {
        let sizes = reads::Sizes {
            inside: 3_000,
            settled: 5_000,
            rows: self
                .reads_rows
                .unwrap_or(if self.quick { 50_000 } else { 1_000_000 }),
            samples: if self.quick { 50 } else { 200 },
        };
        let old = match &self.reads_at {
            Some(rev) => Some((rev.clone(), reads::build_at(root, rev)?)),
            None => None,
        };
        let bin = crate::cargo::build_release_server(root)?;
        if let Some((_, old_bin)) = &old
            && std::fs::read(old_bin)? == std::fs::read(&bin)?
        {
            anyhow::bail!("the binary at --reads-at is this checkout's: nothing to compare");
        }
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        let tmp = tempfile::tempdir()?;
        let original = reads::original(tmp.path(), sizes.rows)?;
        let head = sh("git", &["rev-parse", "--short", "HEAD"]);
        let mut figures = vec![reads::measure(
            &format!("this checkout ({head})"),
            &bin,
            tmp.path(),
            &original,
            sizes,
        )?];
        if let Some((rev, old_bin)) = &old {
            figures.push(reads::measure(rev, old_bin, tmp.path(), &original, sizes)?);
        }
        let stamp = format!(
            "- command: `cargo xtask bench --reads-only{}{}`; commit {head}; {}; machine: {}; load average before: {}",
            self.reads_rows
                .map(|n| format!(" --reads-rows {n}"))
                .unwrap_or_default(),
            self.reads_at
                .as_ref()
                .map(|r| format!(" --reads-at {r}"))
                .unwrap_or_default(),
            sh("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
            machine(),
            load.trim()
        );
        let section = reads::section(sizes, &figures, &stamp);
        sections::splice_file(&root.join("bench/RESULTS.md"), reads::HEADING, &section)?;
        println!("{section}\nwritten to bench/RESULTS.md");
        Ok(())
    }

    pub(crate) fn run(self) -> anyhow::Result<()> {
        let root = crate::cargo::workspace_root();
        let sizes = if self.quick {
            Sizes {
                runs: 2,
                p1: 300,
                p2: 100,
                p3_secs: 1.5,
                p4: 5_000,
                p5_runs: 3,
            }
        } else {
            Sizes {
                runs: 5,
                p1: 2_000,
                p2: 500,
                p3_secs: 5.0,
                p4: 1_000_000,
                p5_runs: 10,
            }
        };
        let sizes = Sizes {
            p4: self.catch_up.unwrap_or(sizes.p4),
            ..sizes
        };
        if self.writer_cost_only {
            let tmp = tempfile::tempdir()?;
            let stamp = format!(
                "at commit {} on {}",
                sh("git", &["rev-parse", "--short", "HEAD"]),
                sh("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
            );
            let section = cost::measure(&root, tmp.path(), &stamp)?;
            sections::splice_file(&root.join("bench/RESULTS.md"), cost::HEADING, &section)?;
            println!("{section}\nwritten to bench/RESULTS.md");
            return Ok(());
        }
        if self.reads_only {
            return self.reads(&root);
        }
        let bin = crate::cargo::build_release_server(&root)?;
        let tmp = tempfile::tempdir()?;
        let p8_scrapes = if self.quick { 500 } else { 2_000 };
        if self.metrics_only {
            println!("P8 /metrics scrape");
            let section = scrape::measure(&bin, tmp.path(), sizes.runs, p8_scrapes)?;
            scrape::splice(&root.join("bench/RESULTS.md"), &section)?;
            println!("{section}\nwritten to bench/RESULTS.md");
            return Ok(());
        }
        let import_rows = self
            .import_rows
            .unwrap_or(if self.quick { 20_000 } else { 1_000_000 });
        let report_sessions =
            self.report_sessions
                .unwrap_or(if self.quick { 200_000 } else { 5_000_000 });
        let wan_events = self
            .wan_events
            .unwrap_or(if self.quick { 5_000 } else { 100_000 });
        let (wan_live, wan_mesh) = if self.quick { (200, 40) } else { (1_000, 200) };
        if self.wan_only {
            let stamp = format!(
                "\nMeasured alone (`cargo xtask bench --wan-only`) at commit {} on {}; machine: {}.\n",
                sh("git", &["rev-parse", "--short", "HEAD"]),
                sh("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
                machine()
            );
            let section = wan::measure(&bin, tmp.path(), wan_events, wan_live, wan_mesh)? + &stamp;
            sections::splice_file(&root.join("bench/RESULTS.md"), wan::HEADING, &section)?;
            println!("{section}\nwritten to bench/RESULTS.md");
            return Ok(());
        }
        if self.reports_only {
            println!("P11 network report over {report_sessions} sessions");
            let m = reports::measure(&bin, &root, report_sessions)?;
            let section = reports::section(&m);
            sections::splice_file(&root.join("bench/RESULTS.md"), reports::HEADING, &section)?;
            println!("{section}\nwritten to bench/RESULTS.md");
            return Ok(());
        }
        if self.size_only {
            let sessions = self
                .size_sessions
                .unwrap_or(if self.quick { 10_000 } else { 100_000 });
            println!("P12 bytes per settled session, {sessions} sessions");
            let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
            let files = size::measure(&bin, tmp.path(), sessions)?;
            let stamp = format!(
                "- command: `cargo xtask bench --size-only{}`; commit {}; {}; load average before: {}",
                self.size_sessions
                    .map(|n| format!(" --size-sessions {n}"))
                    .unwrap_or_default(),
                sh("git", &["rev-parse", "--short", "HEAD"]),
                sh("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
                load.trim()
            );
            let section = size::section(sessions, &files, &stamp);
            sections::splice_file(&root.join("bench/RESULTS.md"), size::HEADING, &section)?;
            println!("{section}\nwritten to bench/RESULTS.md");
            return Ok(());
        }
        if self.only_import {
            println!("P9 import of {import_rows} rows");
            let m = import::measure(&bin, tmp.path(), import_rows)?;
            let out = root.join("bench/RESULTS.md");
            let old = std::fs::read_to_string(&out).unwrap_or_default();
            let section = import::section(import_rows, &m);
            std::fs::write(&out, import::splice(&old, &section))?;
            println!("{section}\nwritten to {}", out.display());
            return Ok(());
        }
        let mut r = String::new();
        let command = if self.quick {
            "cargo xtask bench --quick"
        } else {
            "cargo xtask bench"
        };
        writeln!(r, "# parkmesh benchmark results\n")?;
        writeln!(r, "- command: `{command}`")?;
        writeln!(r, "- date: {}", sh("date", &["-u", "+%Y-%m-%d %H:%M UTC"]))?;
        writeln!(
            r,
            "- commit: {}",
            sh("git", &["rev-parse", "--short", "HEAD"])
        )?;
        writeln!(r, "- machine: {}", machine())?;
        writeln!(
            r,
            "- method: real `central-server` release processes on 127.0.0.1, temp data dirs, driven like edges (keep-alive HTTP/1.1 and `/ws/edge`); every latency run gives a p50 and a p99; tables show min / median / max over {} runs.\n",
            sizes.runs
        )?;

        // P7 first: the limits of this machine, for comparison.
        println!("P7 machine limits");
        let (mut f50, mut f99, mut single, mut batched, mut l50, mut l99) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for _ in 0..sizes.runs {
            let (a, b) = p50_p99(figures::fsync(tmp.path(), 200)?);
            f50.push(a);
            f99.push(b);
            let (s, b) = figures::sqlite(tmp.path(), 20_000)?;
            single.push(s);
            batched.push(b);
            let (a, b) = p50_p99(figures::loopback(5_000)?);
            l50.push(a * 1000.0);
            l99.push(b * 1000.0);
        }
        writeln!(
            r,
            "## P7 — limits of this machine\n\n| figure | min / median / max |\n|---|---|"
        )?;
        writeln!(
            r,
            "| fsync of a 512 B write, p50 (ms) | {} |\n| fsync, p99 (ms) | {} |",
            spread(f50),
            spread(f99)
        )?;
        let limit = {
            let mut b = batched.clone();
            b.sort_by(f64::total_cmp);
            pct(&b, 0.5)
        };
        writeln!(
            r,
            "| SQLite WAL FULL, one insert per transaction (/s) | {} |\n| SQLite, 20 000 inserts in one transaction (/s) | {} |",
            spread(single),
            spread(batched)
        )?;
        writeln!(
            r,
            "| loopback TCP round trip, p50 (µs) | {} |\n| loopback TCP round trip, p99 (µs) | {} |\n",
            spread(l50),
            spread(l99)
        )?;

        save_partial(&root, &r);
        // P1, P3, P6 on one central.
        println!("P1/P3/P6 single central");
        let mut c = Central::plan(&bin, tmp.path(), "bench-1", &[])?;
        c.start()?;
        std::thread::sleep(Duration::from_secs(2));
        let idle_rss = c.rss_kb().unwrap_or(0);
        let (mut h50, mut h99, mut w50, mut w99) = (vec![], vec![], vec![], vec![]);
        for run in 0..sizes.runs {
            let (a, b) = p50_p99(p1_http(&c, sizes.p1, &format!("R{run}"))?);
            h50.push(a);
            h99.push(b);
            let (a, b) = p50_p99(p1_ws(&c, sizes.p1, &format!("R{run}"))?);
            w50.push(a);
            w99.push(b);
        }
        writeln!(
            r,
            "## P1 — edge event committed (fsync'd) and answered, one edge\n\n| transport | p50 ms (min / median / max) | p99 ms (min / median / max) | target p99 | original system |\n|---|---|---|---|---|"
        )?;
        writeln!(
            r,
            "| HTTP `POST /api/edge/event` | {} | {} | ≤ 5 ms | p50 2.9 / p99 4.2 ms |",
            spread(h50),
            spread(h99)
        )?;
        writeln!(
            r,
            "| `/ws/edge` (until `event_result`) | {} | {} | ≤ 5 ms | — |\n",
            spread(w50),
            spread(w99)
        )?;

        writeln!(
            r,
            "## P3 — sustained ingestion, concurrent edges ({} s per step)\n\n| edges | events/s (min / median / max) | p50 ms (median) | p99 ms (min / median / max) | ÷ P7 batched |\n|---|---|---|---|---|",
            sizes.p3_secs
        )?;
        // 32 and 64 edges show how far group commit scales once batches can fill up; the
        // client threads share the machine with the central. 32 edges also over `/ws/edge`.
        let (mut http32, mut ws32, mut p99_8) = (0f64, 0f64, 0f64);
        // CPU time of the 32-edge steps (HTTP, `/ws/edge`) and the events it bought.
        let mut cpu32 = [(cpu::Ticks::default(), 0u64); 2];
        for (edges, over_ws) in [
            (1usize, false),
            (2, false),
            (4, false),
            (8, false),
            (32, false),
            (64, false),
            (32, true),
        ] {
            let (mut rates, mut q50, mut q99) = (vec![], vec![], vec![]);
            for run in 0..sizes.runs {
                let tag = format!("{}{edges}{run}", if over_ws { "W" } else { "E" });
                let ticks = || cpu::Ticks::read(c.pid()?, std::process::id());
                let before = ticks();
                let (rate, lat) = p3(&c, edges, sizes.p3_secs, &tag, over_ws)?;
                let after = ticks();
                if let (32, Some(before), Some(after)) = (edges, before, after) {
                    let (ticks, events) = &mut cpu32[usize::from(over_ws)];
                    after.add_since(&before, ticks);
                    *events += lat.len() as u64;
                }
                let (a, b) = p50_p99(lat);
                rates.push(rate);
                q50.push(a);
                q99.push(b);
            }
            q50.sort_by(f64::total_cmp);
            let median = |v: &[f64]| {
                let mut v = v.to_vec();
                v.sort_by(f64::total_cmp);
                pct(&v, 0.5)
            };
            match (edges, over_ws) {
                (32, false) => http32 = median(&rates),
                (32, true) => ws32 = median(&rates),
                (8, false) => p99_8 = median(&q99),
                _ => {}
            }
            writeln!(
                r,
                "| {edges}{} | {} | {:.2} | {} | {:.1} % |",
                if over_ws { " (`/ws/edge`)" } else { "" },
                spread(rates.clone()),
                pct(&q50, 0.5),
                spread(q99),
                100.0 * median(&rates) / limit
            )?;
        }
        let share = |rate: f64| 100.0 * rate / limit;
        writeln!(
            r,
            "\nTargets (issue 17): with 32 edges ≥ 10 % of this run's P7 batched-insert rate (median {limit:.0}/s): over HTTP {:.1} % ({http32:.0} events/s) — {}; over `/ws/edge` {:.1} % ({ws32:.0} events/s) — {}. p99 ≤ 10 ms with 8 edges: {p99_8:.2} ms — {}. The last column is the median rate ÷ P7's batched-insert median. Original system: 248 events/s with 8 edges, p99 42 ms.\n",
            share(http32),
            verdict(share(http32) >= 10.0),
            share(ws32),
            verdict(share(ws32) >= 10.0),
            verdict(p99_8 <= 10.0)
        )?;
        writeln!(r, "{}\n", cpu::p3_note(&cpu32, limit))?;
        let loaded_rss = c.rss_kb().unwrap_or(0);
        std::thread::sleep(Duration::from_secs(3));
        let after_rss = c.rss_kb().unwrap_or(0);
        writeln!(
            r,
            "## P6 — resident memory of `central-server`\n\n| state | RSS |\n|---|---|"
        )?;
        writeln!(
            r,
            "| idle after start-up | {:.1} MB |\n| right after the P1/P3 load | {:.1} MB |\n| 3 s later | {:.1} MB |\n\nTarget: idle ≤ 30 MB.\n",
            idle_rss as f64 / 1024.0,
            loaded_rss as f64 / 1024.0,
            after_rss as f64 / 1024.0
        )?;
        c.kill();

        save_partial(&root, &r);
        // P2 on three centrals, full mesh.
        println!("P2 three centrals");
        let mut trio: Vec<Central> = (0..3)
            .map(|i| Central::plan(&bin, tmp.path(), &format!("mesh-{i}"), &[]))
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
        let (mut v50, mut v99) = (vec![], vec![]);
        for run in 0..sizes.runs {
            let (a, b) = p50_p99(p2(&trio[0], &trio[1], sizes.p2, &format!("R{run}"))?);
            v50.push(a);
            v99.push(b);
        }
        writeln!(
            r,
            "## P2 — event visible on a peer (3 centrals, full mesh), edge POST at A → push on B's `/ws/history`\n\n| p50 ms (min / median / max) | p99 ms (min / median / max) | target p99 | original system |\n|---|---|---|---|"
        )?;
        writeln!(
            r,
            "| {} | {} | ≤ 10 ms | p99 8.6 ms (2 centrals), 19 ms (3 centrals) |\n",
            spread(v50),
            spread(v99)
        )?;
        drop(trio);

        save_partial(&root, &r);
        // P4 catch-up.
        println!("P4 catch-up of {} events", sizes.p4);
        let mut a = Central::plan(&bin, tmp.path(), "cu-a", &[])?;
        let mut b = Central::plan(&bin, tmp.path(), "cu-b", &[])?;
        a.set_peers(&[b.peer_tuple()])?;
        b.set_peers(&[a.peer_tuple()])?;
        a.start()?;
        let cu = p4(&mut a, &mut b, sizes.p4)?;
        writeln!(
            r,
            "## P4 — catch-up after an outage (2 centrals)\n\n| figure | value |\n|---|---|"
        )?;
        writeln!(
            r,
            "| events written at A while B was offline | {} (in {:.1} s, {:.0} events/s with 8 edges) |",
            cu.events,
            cu.fill_secs,
            cu.events as f64 / cu.fill_secs
        )?;
        writeln!(
            r,
            "| time for B to hold all of them after it starts | {:.2} s ({:.0} events/s) |",
            cu.full_secs,
            cu.events as f64 / cu.full_secs
        )?;
        writeln!(
            r,
            "| resume: B killed half-way through a second backlog of {} | held {} at the kill, {} right after restart (resumes from its stored vector, not from zero) |",
            cu.events, cu.held_at_kill, cu.held_after_restart
        )?;
        writeln!(
            r,
            "| resume: time from restart to holding everything | {:.2} s |\n",
            cu.resume_secs
        )?;
        let catch_up = cu.events as f64 / cu.full_secs;
        writeln!(
            r,
            "Target (issue 17): catch-up rate ≥ 10 % of this run's P7 batched-insert rate (median {limit:.0}/s): {catch_up:.0} events/s = {:.1} % — {}; resumable, nothing lost. Original system: catch-up loses events.\n",
            100.0 * catch_up / limit,
            verdict(catch_up / limit >= 0.10)
        )?;
        writeln!(r, "{}\n", cpu::p4_note(&cu.cpu, cu.events, limit))?;
        drop((a, b));

        save_partial(&root, &r);
        println!("P8 /metrics scrape");
        r.push_str(&scrape::measure(&bin, tmp.path(), sizes.runs, p8_scrapes)?);

        save_partial(&root, &r);
        println!("P5 convergence simulation");
        writeln!(
            r,
            "## P5 — convergence after a partition heals (in-process deterministic simulation over the real engine, virtual time)\n"
        )?;
        for line in figures::p5(&root, sizes.p5_runs)? {
            writeln!(r, "{line}")?;
        }
        writeln!(
            r,
            "\nTarget: 50 centrals converge ≤ 5 s after the partition heals."
        )?;

        save_partial(&root, &r);
        println!("P9 import of {import_rows} rows");
        let m = import::measure(&bin, tmp.path(), import_rows)?;
        writeln!(r, "\n{}", import::section(import_rows, &m))?;

        save_partial(&root, &r);
        println!("P11 network report over {report_sessions} sessions");
        let m = reports::measure(&bin, &root, report_sessions)?;
        writeln!(r, "\n{}", reports::section(&m))?;
        save_partial(&root, &r);

        let size_sessions = self
            .size_sessions
            .unwrap_or(if self.quick { 10_000 } else { 100_000 });
        println!("P12 bytes per settled session, {size_sessions} sessions");
        let files = size::measure(&bin, tmp.path(), size_sessions)?;
        let stamp = format!("- part of the run above ({size_sessions} sessions)");
        writeln!(r, "\n{}", size::section(size_sessions, &files, &stamp))?;

        save_partial(&root, &r);
        println!("P14 the mesh across a site link");
        let section = wan::measure(&bin, tmp.path(), wan_events, wan_live, wan_mesh)?;
        writeln!(r, "\n{}", section.trim_end())?;

        let out = root.join("bench/RESULTS.md");
        let old = std::fs::read_to_string(&out).unwrap_or_default();
        if let Some(p10) = sections::find(&old, cost::HEADING) {
            writeln!(r, "\n{}", p10.trim_end())?;
        }
        writeln!(r, "\n- load at the end: {}", sh("cat", &["/proc/loadavg"]))?;
        if let Some(history) = sections::find(&old, sections::HISTORY) {
            writeln!(r, "\n{}", history.trim_end())?;
        }
        std::fs::create_dir_all(root.join("bench"))?;
        std::fs::write(&out, &r)?;
        println!("{r}\nwritten to {}", out.display());
        Ok(())
    }
}
