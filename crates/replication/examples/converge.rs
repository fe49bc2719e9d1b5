//! P5 of the benchmarks: how long after a partition heals do 10 and 50 simulated centrals hold
//! the same events? Runs the deterministic simulation (the real engine and parking fold over an
//! in-memory network with latency, loss and partitions) and prints a Markdown table.
//!
//! `cargo run --release -p parkmesh-replication --example converge -- [runs]`

// The example prints its report on stdout: that is its job.
#![allow(clippy::print_stdout)]

#[path = "../tests/sim/mod.rs"]
mod sim;

use std::time::Instant;

use sim::{SimParams, Topology, World};

fn main() {
    let runs: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    println!(
        "| centrals | runs | events minted | convergence after heal, virtual ms (min / median / max) | wall-clock per run, s (median) |"
    );
    println!("|---|---|---|---|---|");
    for n in [10usize, 50] {
        let mut after = Vec::new();
        let mut wall = Vec::new();
        let mut minted = 0;
        for seed in 0..runs {
            let mut p = SimParams::random(seed);
            p.n_nodes = n;
            p.topology = Topology::Full;
            p.chaos_ms = 8_000;
            p.event_gap_ms = 100;
            p.fault_gap_ms = 1_000;
            p.p_drop = 0.01;
            p.p_dup = 0.01;
            p.p_reorder = 0.01;
            let t = Instant::now();
            let mut w = World::new(seed, p.clone());
            w.run();
            if let Err(e) = w.check() {
                println!("| {n} | seed {seed} FAILED: {e} | | | |");
                std::process::exit(1);
            }
            wall.push(t.elapsed().as_secs_f64());
            after.push(w.outcome.converged_at_ms.saturating_sub(p.chaos_ms));
            minted += w.outcome.minted;
        }
        after.sort_unstable();
        wall.sort_by(f64::total_cmp);
        println!(
            "| {n} | {runs} | {minted} | {} / {} / {} | {:.2} |",
            after[0],
            after[after.len() / 2],
            after[after.len() - 1],
            wall[wall.len() / 2]
        );
    }
    println!(
        "\nConvergence is checked every 250 virtual ms, so figures are rounded up to that step; simulated links have 1–20 ms latency and the chaos phase includes partitions, crashes and frame loss."
    );
}
