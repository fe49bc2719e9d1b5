//! The storage crate's error type.

use parkmesh_parking::ParkingError;

/// Everything that can go wrong in `parkmesh-storage`.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database could not be opened, read or written.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// The writer's database connection failed.
    #[error("database error: {0}")]
    Write(#[from] rusqlite::Error),
    /// A stored row could not be decoded (corrupt or written by a newer version).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The database belongs to another central id than the configuration says.
    #[error(
        "database {path} belongs to central {found:?} but the configuration says {expected:?}; \
         point data_dir at that central's own data or fix this_central.id"
    )]
    WrongOrigin {
        /// Database file.
        path: String,
        /// Origin stored in the database.
        found: String,
        /// Origin from the configuration.
        expected: String,
    },
    /// The parking rules rejected the request (e.g. the vehicle is already inside).
    #[error(transparent)]
    Rejected(#[from] ParkingError),
    /// The vehicle already has an open session at this central.
    #[error("vehicle {plate_id} is already inside since {entry_time}")]
    AlreadyInside {
        /// Plate.
        plate_id: String,
        /// Entry time (site-local text) of the open session.
        entry_time: String,
        /// Event id of the open session's entry.
        event_id: String,
    },
    /// An original ParkAI database cannot be imported as a whole (not SQLite, missing tables,
    /// in use by a running original central); `problem` says what to do.
    #[error("{path}: {problem}")]
    Original {
        /// The original database file.
        path: String,
        /// What is wrong and what to do.
        problem: String,
    },
    /// The request named something that does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The writer task is gone (the storage is shutting down).
    #[error("storage is shut down")]
    Closed,
    /// A backup, restore or inspection could not use a file; `reason` says why and what to do.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The database was migrated by a newer build to a schema this binary does not know: it
    /// refuses to run on it rather than misread or damage it.
    #[error(
        "the database schema is version {found} ({name}), newer than this binary ({binary}) \
         knows (up to {known}): run the newer version, or restore a backup taken by this one"
    )]
    SchemaTooNew {
        /// Schema version recorded in the database.
        found: i64,
        /// Name of that migration.
        name: String,
        /// Newest schema version this binary has.
        known: i64,
        /// This binary's software version.
        binary: String,
    },
    /// A PostgreSQL database could not be used: a bad URL, an unreachable server, a refused
    /// login, a missing database or missing rights; `problem` names it and the fix.
    #[error("PostgreSQL {target}: {problem}")]
    Postgres {
        /// `user@host:port/database` (never the password).
        target: String,
        /// What is wrong and what to do.
        problem: String,
    },
    /// Creating the data directory failed.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// Directory.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
}

impl From<serde_json::Error> for StorageError {
    fn from(e: serde_json::Error) -> Self {
        Self::Corrupt(e.to_string())
    }
}
