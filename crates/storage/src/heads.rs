//! Stream heads: per stream, the highest contiguous seq held (the version vector), moved once
//! per writer command over the seqs that command stored rather than once per event; this
//! central's own head once per batch of local commands.

use std::collections::BTreeSet;
use std::ops::Range;

use parkmesh_protocol::StreamId;
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::StorageError;
use crate::work::WorkingSet;

/// This central's own stream is written only by this writer, in consecutive seqs (events of it
/// coming back from peers are skipped), so nothing beyond the last seq stored is held: when the
/// seqs stored continue the head, one conditional update moves it. Returns false (nothing
/// written) when they do not (first event of a new stream, or anything unexpected), for the
/// general walk.
fn own_head(
    conn: &Connection,
    seqs: &BTreeSet<u64>,
    origin: &str,
    inc: i64,
) -> Result<bool, StorageError> {
    let (Some(&lo), Some(&hi)) = (seqs.first(), seqs.last()) else {
        return Ok(true);
    };
    if hi - lo + 1 != seqs.len() as u64 {
        return Ok(false);
    }
    let moved = conn
        .prepare_cached(
            "UPDATE streams SET head_seq = ?1 WHERE origin = ?2 AND incarnation = ?3 AND head_seq = ?4",
        )?
        .execute(params![hi as i64, origin, inc, lo as i64 - 1])?;
    Ok(moved == 1)
}

/// Moves the contiguous head of every stream that got events in this command forward over them
/// and any already-held successors (once per stream, not per event). A gap keeps the head where
/// it is, so the vector never claims an event that is missing. A stream seen for the first time
/// gets a row even when a gap keeps its head at 0.
pub(crate) fn advance_heads(
    conn: &Connection,
    own: &StreamId,
    dirty: &mut WorkingSet,
) -> Result<(), StorageError> {
    for (stream, seqs) in std::mem::take(&mut dirty.stored) {
        let (origin, inc) = (stream.origin.as_str(), stream.incarnation as i64);
        if stream == *own && own_head(conn, &seqs, origin, inc)? {
            continue;
        }
        let old: Option<i64> = conn
            .prepare_cached("SELECT head_seq FROM streams WHERE origin = ?1 AND incarnation = ?2")?
            .query_row(params![origin, inc], |r| r.get(0))
            .optional()?;
        let mut head = old.unwrap_or(0);
        let mut next = conn.prepare_cached(
            "SELECT 1 FROM events WHERE origin = ?1 AND incarnation = ?2 AND seq = ?3",
        )?;
        // The seqs just stored are held: only the first one missing from them is looked up.
        while seqs.contains(&(head as u64 + 1)) || next.exists(params![origin, inc, head + 1])? {
            head += 1;
        }
        if old.is_none() {
            conn.prepare_cached(
                "INSERT INTO streams (origin, incarnation, head_seq) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![origin, inc, head])?;
        } else if old != Some(head) {
            conn.prepare_cached(
                "UPDATE streams SET head_seq = ?1 WHERE origin = ?2 AND incarnation = ?3",
            )?
            .execute(params![head, origin, inc])?;
        }
    }
    Ok(())
}

/// Moves this central's own head over `seqs`, the seqs a batch of commands stored in its stream
/// (nothing when empty).
pub(crate) fn advance_own(
    conn: &Connection,
    own: &StreamId,
    seqs: Range<u64>,
) -> Result<(), StorageError> {
    if seqs.is_empty() {
        return Ok(());
    }
    let mut dirty = WorkingSet {
        stored: vec![(own.clone(), seqs.collect())],
        ..WorkingSet::default()
    };
    advance_heads(conn, own, &mut dirty)
}
