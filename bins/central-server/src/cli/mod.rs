//! The operator's admin commands: `status`, `peers`, `conflicts`, `test-connection`,
//! `check-config`, `backup` and `restore`.
//!
//! Each finds its central through the same configuration file the server reads (address, TLS,
//! admin token, database path). The ones that ask the running central call its own API
//! (`local`); `check-config` only reads files and probes ports (`check`); `backup` and `restore`
//! work on the database files (`backup`). Output is a readable table (`table`), or the JSON with
//! `--json`. Any failure (central down, an error answer, a bad file) is one line on stderr and a
//! non-zero exit code: 2 for a configuration that does not load, 1 for everything else.

mod backup;
mod check;
mod local;
mod table;
mod views;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::Value;

use crate::{Paths, fail};

/// Output format shared by every admin command.
#[derive(Debug, Clone, Copy, Args)]
pub(crate) struct Output {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// The admin commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// This central and its mesh at a glance (asks the running central).
    Status(Output),
    /// Every peer: link, round trip, lag and catch-up, per stream (asks the running central).
    Peers(Output),
    /// Conflicts the fold found, newest first (asks the running central).
    Conflicts(Output),
    /// A real round trip from this central to one peer (asks the running central).
    TestConnection {
        /// The peer's id, as in `peer_centrals`.
        peer: String,
        #[command(flatten)]
        out: Output,
    },
    /// Validates the configuration file and what it names (TLS files, data directory or
    /// PostgreSQL database, ports) without starting anything.
    CheckConfig(Output),
    /// Writes a consistent copy of the database to FILE while the central keeps running.
    Backup {
        /// Where to write the copy.
        file: PathBuf,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        out: Output,
    },
    /// Installs a backup as this central's database; the central must be stopped. The restored
    /// database starts a new incarnation of this central's stream at its next start.
    Restore {
        /// A file written by `backup`.
        file: PathBuf,
        #[command(flatten)]
        out: Output,
    },
}

/// Why an admin command failed: the configuration did not load (exit 2), or anything else
/// (exit 1).
pub(crate) enum CliError {
    Config(anyhow::Error),
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> Self {
        CliError::Failed(e)
    }
}

/// Runs one admin command and returns the process exit code.
pub(crate) fn main(command: Command, paths: &Paths) -> ExitCode {
    // The command's own output goes to stdout; only warnings and errors are logged.
    crate::init_logging(paths.log_format, "warn");
    let runtime = match crate::runtime() {
        Ok(rt) => rt,
        Err(e) => return fail(1, &e),
    };
    match runtime.block_on(run(command, paths)) {
        Ok(code) => code,
        Err(CliError::Config(e)) => fail(2, &e),
        Err(CliError::Failed(e)) => fail(1, &e),
    }
}

async fn run(command: Command, paths: &Paths) -> Result<ExitCode, CliError> {
    let config = || paths.load(false).map_err(CliError::Config);
    match command {
        Command::CheckConfig(out) => return check::run(paths, out).await,
        Command::Status(out) => views::status(&config()?, out).await?,
        Command::Peers(out) => views::peers(&config()?, out).await?,
        Command::Conflicts(out) => views::conflicts(&config()?, out).await?,
        Command::TestConnection { peer, out } => {
            views::test_connection(&config()?, &peer, out).await?;
        }
        Command::Backup { file, force, out } => {
            backup::backup(&config()?, &file, force, out).await?;
        }
        Command::Restore { file, out } => backup::restore(&config()?, &file, out).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints a command's result: `json` with `--json`, else the `text` (a table).
#[allow(clippy::print_stdout)]
pub(crate) fn print(out: Output, json: &Value, text: impl FnOnce() -> String) {
    if out.json {
        println!(
            "{}",
            serde_json::to_string_pretty(json).unwrap_or_else(|_| json.to_string())
        );
    } else {
        print!("{}", text());
    }
}
