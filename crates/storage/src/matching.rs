//! Exit matching: the open sessions an exit whose plate has none could close.
//!
//! With `exit_match = "confusable"` the writer asks, for an exit of a plate with no open
//! session, which open sessions belong to a plate that differs from it only by look-alike
//! characters (`parkmesh_parking::plate::confusable`). Their plates share the exit's skeleton
//! (each look-alike letter replaced by its digit), so the candidates are one search of the
//! partial expression index `history_open_skeleton` (migration 0013) — the cost does not grow
//! with the number of cars inside. The writer records the decision on the exit itself (the
//! matched session's plate, the plate read, or the candidates), so every central folds the
//! exit the same way. Reads only; called by the writer.

use std::sync::LazyLock;

use parkmesh_parking::payload::{ExitPayload, MAX_CANDIDATES, PlateMatch};
use parkmesh_parking::plate::{CONFUSABLE, ExitMatch, MATCH_CONFUSABLE, confusable, skeleton};
use rusqlite::Connection;

use crate::error::StorageError;
use crate::rows::{HistoryRow, RowContext, history_row_w, select_history};

/// The SQL expression of column `col`'s skeleton, written from the one table of look-alike
/// characters; migration 0013 indexes exactly this expression of `plate_key`.
pub(crate) fn skeleton_sql(col: &str) -> String {
    CONFUSABLE
        .iter()
        .fold(col.to_owned(), |sql, (letter, digit)| {
            format!("replace({sql}, '{letter}', '{digit}')")
        })
}

static BY_SKELETON: LazyLock<String> = LazyLock::new(|| {
    select_history(&format!(
        "WHERE {} = ?1 AND status = 'IN'",
        skeleton_sql("plate_key")
    ))
});

/// The open sessions (IN, not deleted, opened by an entry) of plates confusable with `plate`
/// (never `plate` itself), in plate order.
pub(crate) fn confusable_open(
    conn: &Connection,
    cx: &RowContext<'_>,
    plate: &str,
) -> Result<Vec<HistoryRow>, StorageError> {
    let mut out = Vec::new();
    for row in conn
        .prepare_cached(&BY_SKELETON)?
        .query_map([skeleton(plate)], |r| history_row_w(r, cx))?
    {
        let row = row?;
        if row.deleted || row.is_anomaly || !confusable(&row.plate_key, plate) {
            continue;
        }
        out.push(row);
    }
    out.sort_by(|a, b| a.plate_key.cmp(&b.plate_key));
    Ok(out)
}

/// Decides how exit `x` is matched under `mode`, before it becomes an event: when its plate has
/// no open session and it names no held entry, the one open session of a confusable plate makes
/// it that plate's exit (`plate_id`, with the plate read kept in `exit_plate`); several make it
/// an exception that lists them. Anything else leaves it as it is.
pub(crate) fn match_exit(
    conn: &Connection,
    cx: &RowContext<'_>,
    mode: ExitMatch,
    x: &mut ExitPayload,
) -> Result<(), StorageError> {
    if mode == ExitMatch::Exact || x.matched != PlateMatch::default() {
        return Ok(());
    }
    let plate = x.gate.plate_id.clone();
    if has_open(conn, &plate)?
        || x.entry_ref
            .as_deref()
            .map_or(Ok(false), |r| names_held(conn, r))?
    {
        return Ok(());
    }
    let candidates = confusable_open(conn, cx, &plate)?;
    match candidates.as_slice() {
        [] => {}
        [one] => {
            x.matched = PlateMatch {
                exit_plate: Some(plate),
                exit_plate_view: Some(std::mem::take(&mut x.gate.plate_view)),
                plate_match: Some(MATCH_CONFUSABLE.to_owned()),
                match_candidates: Vec::new(),
            };
            x.gate.plate_id.clone_from(&one.plate_key);
            x.gate.plate_view.clone_from(&one.plate_view);
        }
        many => {
            x.matched.match_candidates = many
                .iter()
                .take(MAX_CANDIDATES)
                .map(|r| r.plate_key.clone())
                .collect();
        }
    }
    Ok(())
}

/// Whether plate `plate` has an open session (IN, not deleted; an anomaly counts: the exit
/// closes it).
fn has_open(conn: &Connection, plate: &str) -> Result<bool, StorageError> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM history WHERE plate_key = ?1 AND status = 'IN' AND deleted = 0)",
        )?
        .query_row([plate], |r| r.get(0))?)
}

/// Whether `r` (an exit's `entry_ref`) names a session this central holds, by its id or its
/// entry's edge event id.
fn names_held(conn: &Connection, r: &str) -> Result<bool, StorageError> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM history WHERE session_id = ?1)
                 OR EXISTS (SELECT 1 FROM history WHERE event_id = ?1)",
        )?
        .query_row([r], |r| r.get(0))?)
}

#[cfg(test)]
mod tests {
    use super::{BY_SKELETON, skeleton_sql};

    /// The index of migration 0013 is on exactly the expression the query uses (else SQLite
    /// would scan every open session).
    #[test]
    fn the_migration_indexes_the_query_expression() {
        let migration = include_str!("../../../migrations/0013_exit_matching.sql");
        assert!(
            migration.contains(&skeleton_sql("plate_key")),
            "migration 0013 must index {}",
            skeleton_sql("plate_key")
        );
    }

    /// SQLite answers the candidates' query from that index, whatever the number of open
    /// sessions (a search, not a scan).
    #[test]
    fn the_candidates_query_searches_the_index() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        // The columns before migration 0013, which adds the other four.
        let added = [
            "exit_plate",
            "exit_plate_view",
            "plate_match",
            "match_candidates",
        ];
        let columns: Vec<&str> = crate::rows::HISTORY_COLUMNS
            .split(',')
            .map(str::trim)
            .filter(|c| !added.contains(c))
            .collect();
        let columns = columns.join(", ");
        conn.execute_batch(&format!("CREATE TABLE history ({columns});"))
            .unwrap();
        conn.execute_batch(include_str!("../../../migrations/0013_exit_matching.sql"))
            .unwrap();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", *BY_SKELETON))
            .unwrap()
            .query_map(["51612345"], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            plan.iter()
                .any(|p| p.contains("USING INDEX history_open_skeleton")),
            "{plan:?}"
        );
    }
}
