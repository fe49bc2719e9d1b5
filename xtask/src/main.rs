//! Project automation, run as `cargo xtask <command>` (the alias lives in `.cargo/config.toml`).
//!
//! Each subcommand is a module with a `run` function returning `anyhow::Result`:
//!
//! - `migrate [--data-dir D | --database-url URL]`: applies the schema migrations to
//!   `D/central.db` (default `data/central.db`, relative to the working directory like the
//!   server's `data_dir`) through `parkmesh_storage::migrate`, or those of `migrations/postgres/`
//!   to a PostgreSQL database through `parkmesh_storage::postgres_migrate`: the same paths the
//!   server runs at start-up.
//!
//! - `bench [--quick]`: black-box benchmarks of real centrals, written to `bench/RESULTS.md`.
//! - `demo [--exit]`: three centrals from `config/demo/`, a scripted day of traffic, and where
//!   to look.
//! - `dist [--debug]`: the tarball and the Debian package in `target/dist/` (`dist`).
//! - `compat REV`: a mesh of a central built at REV and one built from this checkout, with
//!   replication both ways and fees at exits on the other version (`compat`).
//!
//! The project's style rules are checked by the `tidy` test module, so plain `cargo test` catches
//! drift; it is not a subcommand.

// A command-line tool reports to its user on stdout and stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod cargo;
mod compat;
mod demo;
mod dist;
mod migrate;
#[cfg(test)]
mod structure;
#[cfg(test)]
mod tidy;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// parkmesh project automation.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply pending schema migrations to `DIR/central.db` (or a PostgreSQL database) and print
    /// what was applied.
    Migrate(migrate::Migrate),
    /// Run three centrals with a scripted day of traffic and print where to look.
    Demo(demo::Demo),
    /// Benchmark real centrals on loopback and write bench/RESULTS.md.
    Bench(bench::Bench),
    /// Build the tarball and the Debian package into target/dist/.
    Dist(dist::Dist),
    /// Run a mesh of a central built at an earlier commit and one built from this checkout.
    Compat(compat::Compat),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.command {
        Command::Migrate(args) => args.run(),
        Command::Demo(args) => args.run(),
        Command::Bench(args) => args.run(),
        Command::Dist(args) => args.run(),
        Command::Compat(args) => args.run(),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
