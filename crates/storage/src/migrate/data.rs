//! Start-up data migrations: the steps a schema migration cannot take in SQL alone, run by the
//! writer once at start-up, each in its own transaction, before it takes commands.
//!
//! A schema migration (`migrate`) that changes what the fold derives sets a `meta` key; the
//! writer then re-folds the plates concerned through the normal fold (`refold`) and deletes the
//! key in the same transaction. An interrupted start-up leaves the key, and the next one
//! finishes the work.

use std::collections::BTreeSet;

use parkmesh_protocol::{EventKind, StreamId};
use rusqlite::{Connection, OptionalExtension};

use crate::error::StorageError;
use crate::work::WorkingSet;

/// Re-folds that migrations leave for the writer's start-up: the `meta` key a migration sets,
/// the operator event kind whose targets' raw plates are re-folded in full, and what is logged.
/// - 0002: group keys of databases written before it are stale (plates that an edit targets).
/// - 0009: the fold keeps an exit made before its session's delete in that session (plates that
///   a delete targets).
const PENDING_REFOLDS: [(&str, EventKind, &str); 2] = [
    (
        "regroup_pending",
        EventKind::HistoryEdit,
        "group keys recomputed for corrected plates",
    ),
    (
        "refold_deleted_pending",
        EventKind::HistoryDelete,
        "plates with deleted sessions re-folded",
    ),
];

/// Finishes the migrations of [`PENDING_REFOLDS`] on a database written before them: re-folds
/// in full, in one transaction per migration, the raw plates whose events an operator event of
/// its kind targets (recomputing their group keys). Does nothing once done (the marker is
/// deleted).
pub(crate) fn finish_pending(
    conn: &Connection,
    own: &StreamId,
    tz: &jiff::tz::TimeZone,
) -> Result<(), StorageError> {
    for (marker, kind, done_msg) in PENDING_REFOLDS {
        let pending: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [marker], |r| {
                r.get(0)
            })
            .optional()?;
        if pending.is_none() {
            continue;
        }
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let done = (|| {
            let plates: BTreeSet<String> = conn
                .prepare(
                    "SELECT DISTINCT v.plate_key FROM events a JOIN events v ON v.id_text = a.session_ref
                      WHERE a.kind = ?1 AND v.plate_key IS NOT NULL",
                )?
                .query_map([kind.as_str()], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let count = plates.len();
            let mut dirty = WorkingSet {
                plates,
                full: true,
                ..WorkingSet::default()
            };
            crate::refold::refold(conn, own, tz, parkmesh_clock::now_ms(), &mut dirty)?;
            conn.execute("DELETE FROM meta WHERE key = ?1", [marker])?;
            tracing::info!(plates = count, "{done_msg}");
            Ok::<_, StorageError>(())
        })();
        match done {
            Ok(()) => conn.execute_batch("COMMIT")?,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        }
    }
    Ok(())
}
