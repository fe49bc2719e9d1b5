//! Settled points: per group key, the point up to which its sessions are settled (table
//! `settled_points`).
//!
//! After every fold of a group the writer stores the fold's settled point
//! ([`SettledPoint`], computed by `parkmesh_parking::incremental`): the fold-order key of the last event
//! before it, the ids of the vehicle events after it and the ids of the sessions after it. The
//! `history` and `conflicts` rows of the sessions before it are final for as long as new events
//! sort after it, so the fold (`refold`) can start there. Settled points are written in the same
//! transaction as the rows they describe, so they never run ahead of or behind them. Derived
//! data: a missing one only makes the group's next fold a full one. A leaf: reads and writes one
//! table.

use parkmesh_parking::incremental::SortKey;
use parkmesh_protocol::{CentralId, Hlc};
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::StorageError;

/// The point up to which a group's sessions are settled, as the parking crate's incremental
/// fold computes it.
pub(crate) use parkmesh_parking::incremental::SettledPoint;

/// The stored settled point of `group`, if any.
pub(crate) fn settled_point(
    conn: &Connection,
    group: &str,
) -> Result<Option<SettledPoint>, StorageError> {
    type Raw = (
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<String>,
        Option<i64>,
        Option<i64>,
        String,
        String,
    );
    let raw: Option<Raw> = conn
        .prepare_cached(
            "SELECT at_ms, rank, hlc_ms, hlc_counter, origin, incarnation, seq, suffix, sessions
               FROM settled_points WHERE group_key = ?1",
        )?
        .query_row([group], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
            ))
        })
        .optional()?;
    let Some((at_ms, rank, hlc_ms, counter, origin, incarnation, seq, suffix, sessions)) = raw
    else {
        return Ok(None);
    };
    let after = match (at_ms, rank, hlc_ms, counter, origin, incarnation, seq) {
        (
            Some(at_ms),
            Some(rank),
            Some(hlc_ms),
            Some(counter),
            Some(origin),
            Some(inc),
            Some(seq),
        ) => Some(SortKey {
            at_ms,
            rank: u8::try_from(rank)
                .map_err(|_| StorageError::Corrupt(format!("settled point of {group}: rank")))?,
            hlc: Hlc {
                wall_ms: hlc_ms as u64,
                counter: counter as u32,
            },
            origin: CentralId::new(origin)
                .map_err(|e| StorageError::Corrupt(format!("settled point of {group}: {e}")))?,
            incarnation: inc as u64,
            seq: seq as u64,
        }),
        _ => None,
    };
    Ok(Some(SettledPoint {
        after,
        suffix: serde_json::from_str(&suffix)?,
        sessions: serde_json::from_str(&sessions)?,
    }))
}

/// Settled sessions a group needs before its settled point is stored. A group with fewer (a car
/// seen once: most plates) is folded in full at its next event, which loads no more events than
/// the settled point would have saved, and its row of `settled_points` (~60 bytes a plate) is
/// not written.
const MIN_SETTLED: usize = 2;

/// Stores `settled` as the settled point of `group`, when it is worth keeping: `settled_sessions`
/// sessions of the group lie before it (`usize::MAX` when the group had a settled point before).
/// One before every event, or before fewer than [`MIN_SETTLED`] sessions, is not stored (the
/// group's next fold is a full one, which then costs no more than the settled point would
/// save).
pub(crate) fn write_settled_point(
    conn: &Connection,
    group: &str,
    settled: &SettledPoint,
    settled_sessions: usize,
) -> Result<(), StorageError> {
    let Some(a) = settled
        .after
        .as_ref()
        .filter(|_| settled_sessions >= MIN_SETTLED)
    else {
        return forget_settled_point(conn, group);
    };
    let a = Some(a);
    conn.prepare_cached(
        "INSERT OR REPLACE INTO settled_points
            (group_key, at_ms, rank, hlc_ms, hlc_counter, origin, incarnation, seq, suffix, sessions)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        group,
        a.map(|k| k.at_ms),
        a.map(|k| i64::from(k.rank)),
        a.map(|k| k.hlc.wall_ms as i64),
        a.map(|k| i64::from(k.hlc.counter)),
        a.map(|k| k.origin.as_str()),
        a.map(|k| k.incarnation as i64),
        a.map(|k| k.seq as i64),
        serde_json::to_string(&settled.suffix)?,
        serde_json::to_string(&settled.sessions)?,
    ])?;
    Ok(())
}

/// Forgets the mark of `group` (its next fold is a full one).
pub(crate) fn forget_settled_point(conn: &Connection, group: &str) -> Result<(), StorageError> {
    conn.prepare_cached("DELETE FROM settled_points WHERE group_key = ?1")?
        .execute([group])?;
    Ok(())
}
