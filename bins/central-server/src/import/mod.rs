//! `central-server import-parkai`: the cut-over from a running ParkAI central.
//!
//! Reads the original database (refused whole when it is not one, or is in use), plans every
//! session with `parkmesh_parking::parkai`, adds the original's fee table, passes and roster from
//! `--parkai-dir`, then either reports what would be imported (`--dry-run`, nothing written) or
//! imports it in one transaction through `Storage::import_parkai`. Rows that cannot be imported
//! are listed one per line (file, table, row id, reason, what to do); the rest is imported and a
//! summary printed. Running it again imports nothing (import keys); see ARCHITECTURE.md.

mod files;
mod progress;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use parkmesh_config::Config;
use parkmesh_parking::parkai::{self, Rejected};
use parkmesh_storage::{ImportInput, ImportReport, Storage, StorageOptions};

/// Import an original ParkAI central's database (stop the original central first).
#[derive(Debug, clap::Args)]
pub(crate) struct ImportArgs {
    /// The original central's database (backend-central/data/central.db).
    #[arg(long)]
    from: PathBuf,
    /// The original backend-central folder, for data/parking_fees.json, subscriptions.json and
    /// staff.json.
    #[arg(long)]
    parkai_dir: Option<PathBuf>,
    /// Report what would be imported and every row that would be rejected; write nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Runs the import; the error is one line for the user.
/// Runs the import with the central's configuration; exit code 2 for a bad configuration, 1
/// for a refused or failed import.
pub(crate) fn main(args: ImportArgs, paths: &crate::Paths) -> std::process::ExitCode {
    crate::init_logging(paths.log_format, "info,warp=warn");
    let config = match paths.load(true) {
        Ok(c) => c,
        Err(e) => return crate::fail(2, &e),
    };
    let runtime = match crate::runtime() {
        Ok(rt) => rt,
        Err(e) => return crate::fail(1, &e),
    };
    match runtime.block_on(run(args, config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => crate::fail(1, &e),
    }
}

async fn run(args: ImportArgs, config: Config) -> anyhow::Result<()> {
    crate::postgres::refuse_sqlite_only(&config, "import-parkai")?;
    let started = Instant::now();
    let me = config.this_central().id.clone();
    let tz = config.timezone().clone();
    let db_path = config.db_path();
    files::refuse_if_open(
        &args.from,
        "the original central is running; stop it, then import again",
    )?;
    files::refuse_if_open(
        &db_path,
        "a parkmesh central is running on it; stop it, then import again",
    )?;
    let settings = match &args.parkai_dir {
        Some(dir) => files::settings(dir)?,
        None => Vec::new(),
    };
    tracing::info!(from = %args.from.display(), "reading the original database");
    let from = args.from.clone();
    let original = tokio::task::spawn_blocking(move || parkmesh_storage::read_original(&from))
        .await
        .context("the reader stopped")??;
    let plan = parkai::plan(&original.sessions, &original.changes, me.as_str(), &tz);
    let (zones, lot_rejects) = parkai::plan_lots(&original.lots);
    let mut rejected = plan.rejected;
    rejected.extend(lot_rejects);
    let (history_rows, change_rows) = (original.sessions.len(), original.changes.len());
    // The original rows are no longer needed: free them before the import's own memory grows.
    let parkmesh_storage::OriginalDb { cameras, .. } = original;
    tracing::info!(
        history = history_rows,
        changes = change_rows,
        sessions = plan.sessions.len(),
        rejected = rejected.len(),
        "original database read"
    );
    print_rejected(&args.from, &rejected);
    let input = ImportInput {
        sessions: plan.sessions,
        zones,
        cameras,
        settings,
    };
    if args.dry_run {
        let path = db_path.clone();
        let report =
            tokio::task::spawn_blocking(move || parkmesh_storage::preview_import(&path, &input))
                .await
                .context("the preview stopped")?
                .with_context(|| format!("cannot read the database {}", db_path.display()))?;
        print_summary(true, &args.from, &db_path, &report, &rejected, started);
        return Ok(());
    }
    let storage = Storage::open(StorageOptions {
        db_path: db_path.clone(),
        origin: me,
        tz,
    })
    .await
    .with_context(|| format!("cannot open the database {}", db_path.display()))?;
    let total = input.sessions.len() as u64;
    let report = storage
        .import_parkai(input, Some(progress::reporter(total)))
        .await
        .with_context(|| {
            format!(
                "import into {} failed and was rolled back (nothing was written)",
                db_path.display()
            )
        })?;
    print_summary(false, &args.from, &db_path, &report, &rejected, started);
    Ok(())
}

#[allow(clippy::print_stderr)]
fn print_rejected(from: &Path, rejected: &[Rejected]) {
    for r in rejected {
        eprintln!(
            "rejected: {}: table {} row {}: {}",
            from.display(),
            r.table,
            r.row_id,
            r.reason
        );
    }
}

#[allow(clippy::print_stdout)]
fn print_summary(
    dry_run: bool,
    from: &Path,
    db: &Path,
    r: &ImportReport,
    rejected: &[Rejected],
    started: Instant,
) {
    let verb = if dry_run { "would import" } else { "imported" };
    println!(
        "{}{verb} {} into {} ({:.1} s):",
        if dry_run {
            "dry run, nothing written: "
        } else {
            ""
        },
        from.display(),
        db.display(),
        started.elapsed().as_secs_f64()
    );
    let rows = [
        ("sessions IN", r.sessions_in),
        ("sessions OUT", r.sessions_out),
        ("exits added to present sessions", r.exits_added),
        ("edits", r.edits),
        ("deletes", r.deletes),
        ("cameras", r.cameras),
        ("lots", r.zones),
        ("settings (fees, passes, staff)", r.settings),
        ("skipped, already present", r.skipped),
        ("rejected (listed above)", rejected.len() as u64),
        ("events", r.events),
    ];
    for (name, n) in rows {
        println!("  {name:<34}{n:>10}");
    }
}
