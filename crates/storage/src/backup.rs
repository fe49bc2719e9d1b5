//! Backups of a live database, and restoring one.
//!
//! A backup is `VACUUM INTO` a temporary file beside the target: one read transaction, so the
//! copy is a consistent snapshot of the log and its projections while the server keeps
//! committing (SQLite WAL lets readers and the writer run side by side), and a compact
//! single file (rollback-journal mode, no `-wal`/`-shm` companions). The copy is checked
//! (`PRAGMA integrity_check`), marked, synced, and only then put in place; without `force` an
//! existing file is never replaced, and an interrupted backup leaves no file under the target
//! name.
//!
//! The mark (`meta.new_incarnation_pending`) is what makes a restore safe. A copy is older than
//! the stream it came from: peers may already hold later seqs of this central's stream. Were the
//! restored database to carry on with its old incarnation, its next events would reuse those
//! seqs, and peers would take them for events they already hold. So the first open of a marked
//! database (see `writer::load_identity`) starts a new incarnation; the old stream becomes an
//! ordinary stream whose missing tail comes back from the peers through catch-up. [`restore`]
//! installs a backup (marking it again, in case it was made by other means) while the server is
//! stopped, and moves the database it replaces aside with its WAL files.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::error::StorageError;

/// `meta` key of the mark: present in a copy that must start a new incarnation when opened.
pub(crate) const PENDING_KEY: &str = "new_incarnation_pending";

/// What a database file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbSummary {
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes (the main file; a live database also has WAL files).
    pub bytes: u64,
    /// The central it belongs to, if it was ever opened as one.
    pub origin: Option<String>,
    /// The incarnation recorded in it.
    pub incarnation: Option<u64>,
    /// Events in its log.
    pub events: u64,
    /// Whether its next open starts a new incarnation (a backup or a restored copy).
    pub new_incarnation_pending: bool,
}

/// The outcome of [`restore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The installed database.
    pub installed: DbSummary,
    /// Where the database it replaced was moved, if there was one.
    pub replaced: Option<PathBuf>,
}

fn file_err(path: &Path, reason: impl std::fmt::Display) -> StorageError {
    StorageError::File {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StorageError::Corrupt(format!("blocking task failed: {e}")))?
}

/// Writes a consistent copy of the database at `db_path` to `dest` while the database may be in
/// use, checks it and returns what it holds. Refuses an existing `dest` unless `force`.
pub async fn backup(db_path: &Path, dest: &Path, force: bool) -> Result<DbSummary, StorageError> {
    let (db, dest) = (db_path.to_owned(), dest.to_owned());
    blocking(move || backup_blocking(&db, &dest, force)).await
}

/// Reads what the database at `path` holds, without changing it.
pub async fn inspect(path: &Path) -> Result<DbSummary, StorageError> {
    let path = path.to_owned();
    blocking(move || {
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| file_err(&path, format!("cannot open as a database: {e}")))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        summary(&conn, &path).map_err(|e| not_ours(&path, e))
    })
    .await
}

/// Installs the backup `file` as the database at `db_path` for central `origin`; the server must
/// be stopped. The backup is checked and marked to start a new incarnation; an existing database
/// (and its WAL files) is moved aside, never deleted.
pub async fn restore(file: &Path, db_path: &Path, origin: &str) -> Result<Restored, StorageError> {
    let (file, db, origin) = (file.to_owned(), db_path.to_owned(), origin.to_owned());
    blocking(move || restore_blocking(&file, &db, &origin)).await
}

fn not_ours(path: &Path, e: StorageError) -> StorageError {
    match e {
        StorageError::Write(rusqlite::Error::SqliteFailure(_, Some(msg)))
            if msg.starts_with("no such table") =>
        {
            file_err(path, "not a parkmesh database (no event log in it)")
        }
        StorageError::Write(rusqlite::Error::SqliteFailure(f, _))
            if f.code == rusqlite::ErrorCode::NotADatabase =>
        {
            file_err(path, "not a database file")
        }
        other => other,
    }
}

fn summary(conn: &Connection, path: &Path) -> Result<DbSummary, StorageError> {
    let meta = |key: &str| -> Result<Option<String>, StorageError> {
        Ok(conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    };
    let origin = meta("origin")?;
    let incarnation = match meta("incarnation")? {
        Some(text) => Some(
            text.parse()
                .map_err(|_| StorageError::Corrupt(format!("meta.incarnation {text:?}")))?,
        ),
        None => None,
    };
    let new_incarnation_pending = meta(PENDING_KEY)?.is_some();
    let events: i64 = conn.query_row("SELECT count(*) FROM events", [], |r| r.get(0))?;
    let bytes = std::fs::metadata(path)
        .map_err(|e| file_err(path, e))?
        .len();
    Ok(DbSummary {
        path: path.to_owned(),
        bytes,
        origin,
        incarnation,
        events: u64::try_from(events).unwrap_or(0),
        new_incarnation_pending,
    })
}

/// `.<name>.<what>-<pid>` beside `target`.
fn temp_beside(target: &Path, what: &str) -> Result<PathBuf, StorageError> {
    let name = target
        .file_name()
        .ok_or_else(|| file_err(target, "names a directory, not a file"))?;
    Ok(target.with_file_name(format!(
        ".{}.{what}-{}",
        name.to_string_lossy(),
        std::process::id()
    )))
}

/// Checks a copy, marks it to start a new incarnation, makes it a self-contained file (no WAL)
/// and syncs it. Returns what it holds.
fn seal(copy: &Path, shown_as: &Path) -> Result<DbSummary, StorageError> {
    let conn = Connection::open_with_flags(
        copy,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| file_err(shown_as, format!("cannot open as a database: {e}")))?;
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| not_ours(shown_as, e.into()))?;
    if check != "ok" {
        return Err(file_err(
            shown_as,
            format!("integrity check failed: {check}"),
        ));
    }
    let mut found = summary(&conn, copy).map_err(|e| not_ours(shown_as, e))?;
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
        rusqlite::params![PENDING_KEY, parkmesh_clock::now_ms().to_string()],
    )?;
    let _: String = conn.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))?;
    conn.close().map_err(|(_, e)| StorageError::Write(e))?;
    std::fs::File::open(copy)
        .and_then(|f| f.sync_all())
        .map_err(|e| file_err(copy, e))?;
    found.bytes = std::fs::metadata(copy)
        .map_err(|e| file_err(copy, e))?
        .len();
    found.new_incarnation_pending = true;
    Ok(found)
}

fn backup_blocking(db: &Path, dest: &Path, force: bool) -> Result<DbSummary, StorageError> {
    if !db.is_file() {
        return Err(file_err(
            db,
            "no database here (check data_dir / --data-dir)",
        ));
    }
    if dest.is_dir() {
        return Err(file_err(dest, "is a directory; name a file"));
    }
    if !force && dest.exists() {
        return Err(file_err(dest, "already exists; pass --force to replace it"));
    }
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        return Err(file_err(
            dest,
            format!("directory {} does not exist", dir.display()),
        ));
    }
    let tmp = temp_beside(dest, "partial")?;
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let source = Connection::open_with_flags(
            db,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| file_err(db, format!("cannot open: {e}")))?;
        source.busy_timeout(std::time::Duration::from_secs(30))?;
        let tmp_text = tmp
            .to_str()
            .ok_or_else(|| file_err(dest, "the path is not valid UTF-8"))?;
        source
            .execute("VACUUM INTO ?1", [tmp_text])
            .map_err(|e| match not_ours(db, e.into()) {
                StorageError::Write(e) => file_err(dest, format!("cannot write the copy: {e}")),
                other => other,
            })?;
        drop(source);
        let mut found = seal(&tmp, dest)?;
        if found.origin.is_none() {
            return Err(file_err(
                db,
                "not a central's database (no origin recorded)",
            ));
        }
        if force {
            std::fs::rename(&tmp, dest).map_err(|e| file_err(dest, e))?;
        } else {
            // A link fails if the name was taken meanwhile: an existing file is never replaced.
            std::fs::hard_link(&tmp, dest).map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => {
                    file_err(dest, "already exists; pass --force to replace it")
                }
                _ => file_err(dest, e),
            })?;
            std::fs::remove_file(&tmp).map_err(|e| file_err(&tmp, e))?;
        }
        sync_parent(dest)?;
        found.path = dest.to_owned();
        Ok(found)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn restore_blocking(file: &Path, db: &Path, origin: &str) -> Result<Restored, StorageError> {
    if !file.is_file() {
        return Err(file_err(file, "no such backup file"));
    }
    crate::sqlite::ensure_parent(db)?;
    let tmp = temp_beside(db, "restore")?;
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        std::fs::copy(file, &tmp).map_err(|e| file_err(file, format!("cannot copy: {e}")))?;
        let mut found = seal(&tmp, file)?;
        match found.origin.as_deref() {
            Some(o) if o == origin => {}
            Some(o) => {
                return Err(file_err(
                    file,
                    format!("is a backup of central {o:?}, but this configuration is {origin:?}"),
                ));
            }
            None => {
                return Err(file_err(
                    file,
                    "not a central's database (no origin recorded)",
                ));
            }
        }
        let replaced = move_aside(db)?;
        std::fs::rename(&tmp, db).map_err(|e| file_err(db, e))?;
        sync_parent(db)?;
        found.path = db.to_owned();
        tracing::info!(db = %db.display(), events = found.events, "backup restored; the next start begins a new incarnation");
        Ok(Restored {
            installed: found,
            replaced,
        })
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Moves `db` and its `-wal`/`-shm` companions to `<name>.replaced-<ms>[-wal|-shm]` (kept
/// together, so SQLite still pairs them). A companion without its database is moved too: a stale
/// WAL beside the restored file would be replayed into it.
fn move_aside(db: &Path) -> Result<Option<PathBuf>, StorageError> {
    let name = db
        .file_name()
        .ok_or_else(|| file_err(db, "names a directory, not a file"))?
        .to_string_lossy()
        .into_owned();
    let aside = db.with_file_name(format!("{name}.replaced-{}", parkmesh_clock::now_ms()));
    let mut moved = None;
    for suffix in ["", "-wal", "-shm"] {
        let from = db.with_file_name(format!("{name}{suffix}"));
        if from.exists() {
            let mut to = aside.clone().into_os_string();
            to.push(suffix);
            let to = PathBuf::from(to);
            std::fs::rename(&from, &to).map_err(|e| file_err(&from, e))?;
            if suffix.is_empty() {
                moved = Some(to);
            }
        }
    }
    Ok(moved)
}

#[cfg(unix)]
fn sync_parent(path: &Path) -> Result<(), StorageError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    std::fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| file_err(&dir, e))
}

#[cfg(not(unix))]
fn sync_parent(_path: &Path) -> Result<(), StorageError> {
    Ok(())
}
