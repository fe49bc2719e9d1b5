//! `central-server`: one parkmesh central — edge ingestion, the seed-compatible HTTP/WS API and
//! mesh replication — in one process, plus the operator's admin commands.
//!
//! Deliberately thin: parse the command line and hand over. Without a subcommand the binary
//! serves (`serve`): load and validate the configuration, open the storage, start the mesh
//! manager, serve the API until SIGINT/SIGTERM. With one it runs an admin command (`cli`)
//! against the central that the same configuration file describes. A bad or missing
//! configuration ends the process with exit code 2 and one line naming the file and the field.

// warp route trees are deep generic types; release builds need more room to evaluate them.
#![recursion_limit = "512"]

mod cli;
mod import;
mod postgres;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use parkmesh_config::Config;

/// `--version`: the package version, the git commit and the UTC build date (from `build.rs`).
const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("PARKMESH_COMMIT"),
    ", built ",
    env!("PARKMESH_BUILD_DATE"),
    ")"
);

/// A parkmesh central server. Without a subcommand it serves; the subcommands are admin tools
/// for the central that the same configuration file describes.
#[derive(Debug, Parser)]
#[command(version = LONG_VERSION, about)]
struct Cli {
    /// Configuration file (the seed's p2p_config.json shape).
    #[arg(long, global = true, default_value = "config/p2p_config.json")]
    config: PathBuf,
    /// Directory of the database; overrides `data_dir` from the configuration.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Log lines on stderr: `text` for people, `json` for one JSON object a line.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    /// An admin command or the import; without one the central serves.
    #[command(subcommand)]
    command: Option<Command>,
}

/// What to do instead of serving.
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Import an original ParkAI central's database (the cut-over; stop the original first).
    ImportParkai(import::ImportArgs),
    #[command(flatten)]
    Admin(cli::Command),
}

/// Format of the log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines; coloured only when stderr is a terminal.
    Text,
    /// One JSON object a line (timestamp, level, target, message and fields at the top level).
    Json,
}

/// Sets up `tracing` on stderr in `format`, filtered by RUST_LOG or else `default_filter`.
pub(crate) fn init_logging(format: LogFormat, default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| default_filter.into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

/// Where the configuration is, the command line's override of its `data_dir`, and the log format.
#[derive(Debug, Clone)]
pub(crate) struct Paths {
    pub(crate) config: PathBuf,
    pub(crate) data_dir: Option<PathBuf>,
    pub(crate) log_format: LogFormat,
}

impl Paths {
    /// Loads and validates the configuration and applies `--data-dir`; logs its warnings when
    /// `warn` (the server does; the admin commands leave them to `check-config`).
    pub(crate) fn load(&self, warn: bool) -> anyhow::Result<Config> {
        let loaded = Config::load(&self.config).map_err(anyhow::Error::msg)?;
        for w in loaded.warnings.iter().filter(|_| warn) {
            tracing::warn!(config = %self.config.display(), "{w}");
        }
        let mut config = loaded.config;
        if let Some(dir) = &self.data_dir {
            config = config.with_data_dir_override(dir);
        }
        Ok(config)
    }
}

/// mimalloc instead of the system allocator: the writer, the import and the JSON paths allocate
/// many small short-lived strings, often freed on another thread than the one that made them,
/// which glibc's allocator serves several times slower (`bench/RESULTS.md` P9).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    parkmesh_protocol::set_build_info(parkmesh_protocol::BuildInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        commit: env!("PARKMESH_COMMIT").to_owned(),
        date: env!("PARKMESH_BUILD_DATE").to_owned(),
    });
    let paths = Paths {
        config: cli.config,
        data_dir: cli.data_dir,
        log_format: cli.log_format,
    };
    match cli.command {
        None => serve::main(&paths),
        Some(Command::ImportParkai(args)) => import::main(args, &paths),
        Some(Command::Admin(command)) => cli::main(command, &paths),
    }
}

/// Builds a multi-threaded tokio runtime.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Prints `central-server: <error>` (the whole context chain on one line) and returns `code`.
#[allow(clippy::print_stderr)]
pub(crate) fn fail(code: u8, e: &anyhow::Error) -> ExitCode {
    eprintln!("central-server: {e:#}");
    ExitCode::from(code)
}
