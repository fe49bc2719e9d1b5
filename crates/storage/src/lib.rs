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
//! - `handle`: the storage handle ([`Storage`]): opening, the writer's commands, and every query,
//!   answered by the read backend it holds (`ReadBackend`, the read half of the storage
//!   contract).
//! - `sqlite`: the SQLite backend: how the database file is opened, and the readers' SQL
//!   (history, stats, catch-up pages, the watch list, ...).
//! - `report`: network reports per site and local day, figures kept in `report_days` and kept
//!   current by change marks that the writer (and triggers, for deletes) set.
//! - `backup`: consistent copies of a live database, and restoring one safely.
//! - `postgres`: a PostgreSQL database's connection, checks and schema (`migrations/postgres/`);
//!   the groundwork of the PostgreSQL backend, which does not serve a central yet.
//! - `stats`: operational figures ([`StorageMetrics`]) and the retention of remembered edge
//!   requests.
//!
//! Reads go through a small sqlx connection pool and never wait for the writer (SQLite WAL);
//! migrations also run through sqlx. Both drivers link the same bundled SQLite. The root only
//! declares the modules, re-exports and opens the migration connection: no module imports it.

mod append;
mod backup;
mod bulk;
mod codec;
mod error;
mod events;
mod group;
mod handle;
mod heads;
mod matching;
mod migrate;
mod parkai;
mod postgres;
mod refold;
mod report;
mod rows;
mod sessions;
mod settings;
mod settled;
mod sqlite;
mod stats;
mod unsettled;
mod work;
mod write_conn;
mod writer;

use std::path::Path;

use sqlx::{Connection, SqliteConnection};

pub use crate::backup::{DbSummary, Restored, backup, inspect, restore};
pub use crate::bulk::{ImportInput, ImportReport, Progress, preview as preview_import};
pub use crate::error::StorageError;
pub use crate::handle::{Storage, StorageOptions};
pub use crate::parkai::{OriginalDb, read_original};
pub use crate::postgres::{
    PgSummary, postgres_check, postgres_migrate, postgres_target, postgres_url_without_password,
};
pub use crate::report::{DailyReport, DailyRow, FlowRow, ReportSite};
pub use crate::rows::{
    CameraRow, ChangeRow, ConflictRow, HistoryQuery, HistoryRow, LocatedRow, SiteCounts, Stats,
    WatchEntry, ZoneRow,
};
pub use crate::stats::{DEFAULT_REQUEST_RETENTION_MS, Labels, StorageMetrics};
pub use crate::writer::{Commit, Ingested, Intent};

/// Applies pending migrations to the database at `db_path` (creating it when missing) and
/// returns the names of the migrations applied; running it again applies nothing.
pub async fn migrate(db_path: &Path) -> Result<Vec<String>, StorageError> {
    sqlite::ensure_parent(db_path)?;
    let mut conn = SqliteConnection::connect_with(&sqlite::connect_options(db_path)).await?;
    let applied = migrate::run(&mut conn).await?;
    conn.close().await?;
    Ok(applied)
}
