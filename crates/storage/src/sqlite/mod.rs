//! The SQLite backend, the embedded default: how a central's database file is opened, and the
//! readers' SQL behind the read contract (`handle::ReadBackend`): [`read`] for the queries of a
//! few rows, [`lists`] for the history lists and the cars seen at a place.
//!
//! The readers run on a small sqlx pool of read-only connections and never wait for the writer
//! (SQLite WAL: a reader sees the last committed state).

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::error::StorageError;

mod lists;
mod read;
mod watch;

pub(crate) use read::Reads;

/// The options every connection to the database at `db_path` opens with.
pub(crate) fn connect_options(db_path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(db_path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: a commit is on disk before the edge gets its answer; group commit amortises it.
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true)
}

/// Creates the folder of `db_path` when missing.
pub(crate) fn ensure_parent(db_path: &Path) -> Result<(), StorageError> {
    if let Some(dir) = db_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StorageError::DataDir {
            path: dir.display().to_string(),
            source,
        })?;
    }
    Ok(())
}

impl Reads {
    /// The readers of the database at `db_path`. Lazy: readers connect on first use, so a
    /// process that only writes (the import) holds no reader connection and the writer may
    /// change the journal mode (`bulk::write`).
    pub(crate) fn open(db_path: &Path, tz: jiff::tz::TimeZone, own: String) -> Self {
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_lazy_with(connect_options(db_path).read_only(true));
        Self {
            pool,
            lists: lists::Lists::new(db_path.to_owned(), tz, own),
        }
    }
}
