//! P10, the writer-cost figure: instructions the storage writer spends per event,
//! counted by callgrind on the `writer_cost` example of the storage crate. Instruction counts do
//! not move with the machine's load, unlike the wall-clock figures. `cargo xtask bench
//! --writer-cost-only` measures it and puts its section into `bench/RESULTS.md`; a full run keeps
//! the section it finds there (it needs valgrind and several minutes).

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

/// Heading of the section in `bench/RESULTS.md`.
pub(crate) const HEADING: &str = "## P10 — writer cost per event";

/// Events per phase of the `writer_cost` runs.
const N: u64 = 2000;

/// Instructions callgrind counted inside `function` (and what it calls) for one run.
fn collected(exe: &Path, dir: &Path, function: &str, args: &[&str]) -> anyhow::Result<u64> {
    let out = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!(
            "--callgrind-out-file={}",
            dir.join("callgrind.out").display()
        ))
        .arg(format!("--toggle-collect={function}"))
        .arg(exe)
        .args(args)
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run valgrind (is it installed?): {e}"))?;
    anyhow::ensure!(
        out.status.success(),
        "writer_cost {args:?} under callgrind failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    stderr
        .lines()
        .find_map(|l| l.split("Collected :").nth(1))
        .map(|n| n.trim().replace(',', ""))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no `Collected` line in callgrind's output"))
}

/// Measures the four figures and returns the report section.
pub(crate) fn measure(root: &Path, tmp: &Path) -> anyhow::Result<String> {
    let status = crate::cargo::cargo(root)
        .args([
            "build",
            "--release",
            "-p",
            "parkmesh-storage",
            "--example",
            "writer_cost",
        ])
        .status()?;
    anyhow::ensure!(status.success(), "building the writer_cost example failed");
    let exe = root.join("target/release/examples/writer_cost");
    let run = "parkmesh_storage::writer::Writer::run";
    let local_fn = "parkmesh_storage::writer::Writer::local";
    let n = N.to_string();
    println!("P10 local events");
    let local = collected(&exe, tmp, run, &["--only", "local", &n])? / (2 * N);
    println!("P10 replicated events");
    let remote = collected(&exe, tmp, run, &["--only", "remote", &n])? / (2 * N);
    println!("P10 fresh and aged plates");
    let fresh = collected(&exe, tmp, local_fn, &["--aged", "0", &n, "2"])? / N;
    let aged = collected(&exe, tmp, local_fn, &["--aged", "10000", &n, "2"])? / N;
    Ok(section(local, remote, fresh, aged))
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "missed" }
}

fn section(local: u64, remote: u64, fresh: u64, aged: u64) -> String {
    let ratio = aged as f64 / fresh.max(1) as f64;
    let mut r = String::new();
    let _ = writeln!(
        r,
        "{HEADING} (the issue's \"P8\", instructions counted by callgrind)\n"
    );
    let _ = writeln!(
        r,
        "| figure | instructions per event | target | |\n|---|---|---|---|"
    );
    let _ = writeln!(
        r,
        "| local event (HTTP edge shape: entry then exit, request keys, 8 in flight; `Writer::run`) | {local} | ≤ 100 000 | {} |",
        verdict(local <= 100_000)
    );
    let _ = writeln!(
        r,
        "| replicated event (catch-up batches of 500; `Writer::run`) | {remote} | ≤ 60 000 | {} |",
        verdict(remote <= 60_000)
    );
    let _ = writeln!(
        r,
        "| local event on plates with 10 000 earlier sessions (`Writer::local`) | {aged} ({ratio:.2}× the next line) | ≤ 1.5× a fresh plate | {} |",
        verdict(ratio <= 1.5)
    );
    let _ = writeln!(
        r,
        "| local event, same shape, plates without earlier sessions (`Writer::local`) | {fresh} | — | |"
    );
    let _ = writeln!(
        r,
        "\nMeasured with `cargo xtask bench --writer-cost-only` ({N} events per phase; the aged pair on 2 plates in rounds of entries then exits, counting only `Writer::local`, since their earlier history is written through the replication path). Earlier: 336 400 / 225 600 at commit 03bcfa8 (before the incremental fold; the cost then grew with a plate's age), 430 900 / 323 300 at commit 03244db (incremental fold plus the reports' change-mark triggers). Setting `WRITER_COST_NO_REPORT_TRIGGERS=1` for the `writer_cost` runs drops those triggers, to tell the writer's own cost from theirs."
    );
    r
}
