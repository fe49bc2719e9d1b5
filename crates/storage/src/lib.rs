//! SQLite storage of a central: the replicated event log, its projections and local tables.
//!
//! Only this crate has SQL. The event log is the truth; `history`, `conflicts`, `settings`,
//! `zones` and `history_changes` are projections re-derived from it with the pure fold of
//! `parkmesh-parking`, in the same transaction as the events that change them.
//!
//! # Layout
//! The write path runs one way, each step calling only the steps below it:
//! - `writer`: the single writer thread (rusqlite) with group commit; every mutation goes
//!   through it. A command becomes events here (the parking rules for a local intent).
//! - `append`: an event becomes a row of the log, with the projections that follow the event
//!   itself (`settings`, zones, the audit of operator changes).
//! - `refold`: the affected groups' events are folded by the pure fold of `parkmesh-parking`,
//!   from their settled point (`settled`) when the new events allow it.
//! - `sessions`: the fold's result becomes `history` and `conflicts` rows (only real changes).
//!
//! Below them, modules that call none of the above: `work` (the command's working set),
//! `write_conn` (the writer's connection and stream state, lent to the import), `events` (event
//! rows and loads), `codec` (the compact stored form of payloads and the kind codes), `group` (group keys: the plate each vehicle event is folded under after
//! operator corrections), `settled` (per group, the settled point: the point up to which its
//! sessions are settled), `unsettled` (the writer's memory of what follows each group's settled
//! point), `settings`, `heads` (stream heads, the version vector), `rows` (plain row types handed
//! to the API and manager) and `error`.
//!
//! Beside the write path:
//! - `migrate`: embedded schema migrations (`migrations/` at the workspace root) and, in
//!   `migrate::data`, the start-up data migrations some of them leave for the writer.
//! - `bulk`: the bulk import of an original ParkAI database's sessions (one command, one
//!   transaction, plates folded in memory).
//! - `parkai`: reading an original ParkAI database (read-only, refusing one in use).
//! - `read`: queries over the projections and the log (history, stats, catch-up pages, ...).
//! - `watch`: the watch list and a plate's open session, for the watch-list endpoints and an
//!   edge's detection preview.
//! - `report`: network reports per site and local day, figures kept in `report_days` and kept
//!   current by change marks that the writer (and triggers, for deletes) set.
//! - `backup`: consistent copies of a live database, and restoring one safely.
//! - `postgres`: a PostgreSQL database's connection, checks and schema (`migrations/postgres/`);
//!   the groundwork of the PostgreSQL backend, which does not serve a central yet.
//! - `stats`: operational figures ([`StorageMetrics`]) and the retention of remembered edge
//!   requests.
//!
//! Reads go through a small sqlx connection pool and never wait for the writer (SQLite WAL);
//! migrations also run through sqlx. Both drivers link the same bundled SQLite.

mod append;
mod backup;
mod bulk;
mod codec;
mod error;
mod events;
mod group;
mod heads;
mod matching;
mod migrate;
mod parkai;
mod postgres;
mod read;
mod refold;
mod report;
mod rows;
mod sessions;
mod settings;
mod settled;
mod stats;
mod unsettled;
mod watch;
mod work;
mod write_conn;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parkmesh_clock::now_ms;
use parkmesh_protocol::{CentralId, Event, StreamId};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, SqliteConnection, SqlitePool};
use tokio::sync::{broadcast, mpsc};

pub use crate::backup::{DbSummary, Restored, backup, inspect, restore};
pub use crate::bulk::{ImportInput, ImportReport, Progress, preview as preview_import};
pub use crate::error::StorageError;
pub use crate::parkai::{OriginalDb, read_original};
pub use crate::postgres::{
    PgSummary, postgres_check, postgres_migrate, postgres_target, postgres_url_without_password,
};
pub use crate::read::{HistoryQuery, SiteCounts};
pub use crate::report::{DailyReport, DailyRow, FlowRow, ReportSite};
pub use crate::rows::{CameraRow, ChangeRow, ConflictRow, HistoryRow, Stats, ZoneRow};
pub use crate::stats::{DEFAULT_REQUEST_RETENTION_MS, Labels, StorageMetrics};
pub use crate::watch::WatchEntry;
pub use crate::writer::{Commit, Ingested, Intent};

/// How to open a central's storage.
#[derive(Debug, Clone)]
pub struct StorageOptions {
    /// SQLite database file (created with its directory when missing).
    pub db_path: PathBuf,
    /// This central's id; the database remembers it and refuses another.
    pub origin: CentralId,
    /// Site time zone, for the seed's local-time text columns.
    pub tz: jiff::tz::TimeZone,
}

/// Handle to a central's storage. Cheap to clone; all clones share one writer task.
#[derive(Clone)]
pub struct Storage {
    pool: SqlitePool,
    writer: mpsc::Sender<writer::Command>,
    commits: broadcast::Sender<Arc<Commit>>,
    stream: StreamId,
    tz: jiff::tz::TimeZone,
    metrics: StorageMetrics,
    reports: Arc<report::Reports>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

fn connect_options(db_path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(db_path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: a commit is on disk before the edge gets its answer; group commit amortises it.
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true)
}

fn ensure_parent(db_path: &Path) -> Result<(), StorageError> {
    if let Some(dir) = db_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StorageError::DataDir {
            path: dir.display().to_string(),
            source,
        })?;
    }
    Ok(())
}

/// Applies pending migrations to the database at `db_path` (creating it when missing) and
/// returns the names of the migrations applied; running it again applies nothing.
pub async fn migrate(db_path: &Path) -> Result<Vec<String>, StorageError> {
    ensure_parent(db_path)?;
    let mut conn = SqliteConnection::connect_with(&connect_options(db_path)).await?;
    let applied = migrate::run(&mut conn).await?;
    conn.close().await?;
    Ok(applied)
}

impl Storage {
    /// Opens (creating and migrating when needed) the storage and starts its writer task.
    /// Must be called within a tokio runtime.
    pub async fn open(opts: StorageOptions) -> Result<Self, StorageError> {
        ensure_parent(&opts.db_path)?;
        let conn_opts = connect_options(&opts.db_path);
        let mut conn = SqliteConnection::connect_with(&conn_opts).await?;
        migrate::run(&mut conn).await?;
        let stream = writer::load_identity(&mut conn, &opts.db_path, &opts.origin).await?;
        conn.close().await?;
        // Lazy: readers connect on first use, so a process that only writes (the import) holds
        // no reader connection and the writer may change the journal mode (`bulk::write`).
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_lazy_with(conn_opts.read_only(true));
        let (commits, _) = broadcast::channel(1024);
        let metrics = StorageMetrics::default();
        let writer = writer::spawn(
            &opts.db_path,
            stream.clone(),
            opts.tz.clone(),
            commits.clone(),
            metrics.clone(),
        )?;
        tracing::info!(origin = %stream.origin, incarnation = stream.incarnation, db = %opts.db_path.display(), "storage open");
        Ok(Self {
            pool,
            writer,
            commits,
            stream,
            tz: opts.tz,
            metrics,
            reports: Arc::new(report::Reports::new(opts.db_path.clone())),
        })
    }

    /// The storage's operational figures (events stored, group commits, edge request rows).
    pub fn metrics(&self) -> &StorageMetrics {
        &self.metrics
    }

    /// Sets how long answers to edge requests are remembered (default three days); older ones
    /// are deleted by the writer, so a repeat after that is treated as a new request.
    pub fn set_request_retention(&self, retention: Duration) {
        self.metrics
            .set_retention_ms(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX));
    }

    /// This central's own stream (origin id and incarnation).
    pub fn stream(&self) -> &StreamId {
        &self.stream
    }

    /// The site time zone used for local-time text.
    pub fn tz(&self) -> &jiff::tz::TimeZone {
        &self.tz
    }

    /// What the readers of `history` rows need to complete them (`rows::RowContext`).
    pub(crate) fn row_context(&self) -> rows::RowContext<'_> {
        rows::RowContext {
            tz: &self.tz,
            own: self.stream.origin.as_str(),
        }
    }

    /// Subscribes to commit notices (sent after each write transaction commits). A slow
    /// subscriber may miss notices (`RecvError::Lagged`) and must then re-read the log.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Commit>> {
        self.commits.subscribe()
    }

    /// Runs a local mutation (edge event or operator change) through the parking rules, appends
    /// its event and updates projections in one transaction; answers after commit with the typed
    /// outcome. A repeat of an idempotency key gets the first request's outcome and writes
    /// nothing. Embedders append through `P2PManager::append`, which calls this.
    pub async fn ingest(&self, intent: Intent) -> Result<Ingested, StorageError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.writer
            .send(writer::Command::Local {
                intent: Box::new(intent),
                reply,
            })
            .await
            .map_err(|_| StorageError::Closed)?;
        rx.await.map_err(|_| StorageError::Closed)?
    }

    /// Imports sessions, zones, cameras and settings of an original ParkAI central in one
    /// transaction (nothing is written on error); what is already present is skipped. `progress`
    /// is called from the writer thread. The events are not pushed live to peers: they reach
    /// them through catch-up (an import runs while the central is stopped).
    pub async fn import_parkai(
        &self,
        input: ImportInput,
        progress: Option<Progress>,
    ) -> Result<ImportReport, StorageError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.writer
            .send(writer::Command::Import {
                input: Box::new(input),
                progress,
                reply,
            })
            .await
            .map_err(|_| StorageError::Closed)?;
        rx.await.map_err(|_| StorageError::Closed)?
    }

    /// Stores events received from peers (ignoring ones already held), advances the version
    /// vector and updates projections in one transaction. Returns the events newly stored.
    pub async fn apply_remote(&self, events: Vec<Event>) -> Result<Vec<Event>, StorageError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.writer
            .send(writer::Command::Remote { events, reply })
            .await
            .map_err(|_| StorageError::Closed)?;
        rx.await.map_err(|_| StorageError::Closed)?
    }
}
