//! Start-up data migrations: the steps a schema migration cannot take in SQL alone, run by the
//! writer once at start-up, each in its own transaction, before it takes commands.
//!
//! A schema migration (`migrate`) that changes what the fold derives sets a `meta` key; the
//! writer then re-folds the plates concerned through the normal fold (`refold`) and deletes the
//! key in the same transaction. An interrupted start-up leaves the key, and the next one
//! finishes the work.

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

/// The `meta` key migration 0011 sets: the payloads of the events it copied are still JSON text.
const COMPACT_PENDING: &str = "compact_payloads_pending";

/// Finishes migration 0011: re-encodes, in one transaction, every payload still stored as JSON
/// text into the compact form (`codec`), then deletes the marker. Both forms read the same, so
/// the database answers identically before, during and after; an interrupted run rolls back
/// and the next start-up does it again.
fn compact_payloads(conn: &Connection) -> Result<(), StorageError> {
    let pending: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = ?1",
            [COMPACT_PENDING],
            |r| r.get(0),
        )
        .optional()?;
    if pending.is_none() {
        return Ok(());
    }
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let done = (|| {
        let mut count = 0u64;
        // In pages by row key, each read before it is rewritten (no update under an open scan).
        let mut after = i64::MIN;
        loop {
            let page: Vec<(i64, String)> = conn
                .prepare_cached(
                    "SELECT pk, payload FROM events WHERE pk > ?1 AND typeof(payload) = 'text'
                      ORDER BY pk LIMIT 1000",
                )?
                .query_map([after], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            let Some(last) = page.last() else { break };
            after = last.0;
            let mut write = conn.prepare_cached("UPDATE events SET payload = ?2 WHERE pk = ?1")?;
            for (pk, text) in page {
                // A damaged payload stays as it is: its event fails to read as it did before.
                match serde_json::from_str::<serde_json::Value>(&text) {
                    Ok(value) => {
                        write.execute(rusqlite::params![pk, crate::codec::encode(&value)])?;
                        count += 1;
                    }
                    Err(e) => {
                        tracing::warn!(row = pk, error = %e, "event payload is not JSON; left as it is")
                    }
                }
            }
        }
        conn.execute("DELETE FROM meta WHERE key = ?1", [COMPACT_PENDING])?;
        tracing::info!(
            events = count,
            "event payloads re-encoded in the compact form"
        );
        Ok::<_, StorageError>(())
    })();
    match done {
        Ok(()) => Ok(conn.execute_batch("COMMIT")?),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// Finishes the migrations of [`PENDING_REFOLDS`] on a database written before them: re-folds
/// in full, in one transaction per migration, the raw plates whose events an operator event of
/// its kind targets (recomputing their group keys). Does nothing once done (the marker is
/// deleted).
pub(crate) fn finish_pending(
    conn: &Connection,
    own: &StreamId,
    tz: &jiff::tz::TimeZone,
) -> Result<(), StorageError> {
    compact_payloads(conn)?;
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
            let plates = crate::group::targets_plates(conn, &kind)?;
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
