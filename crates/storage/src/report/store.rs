//! The report figures on disk (migration 0007): one `report_days` row per (site, local day) with
//! traffic, the `report_state` row saying what they were computed with, and the `report_marks`
//! change marks the triggers set. Plain rusqlite on the report's own connection; the callers
//! hold the transactions.

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::Date;
use parkmesh_parking::report::DaySummary;
use rusqlite::{Connection, OptionalExtension, params};

use super::Key;
use crate::error::StorageError;

/// The `report_state` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct State {
    pub rules_version: i64,
    pub zones: String,
    pub built: bool,
    pub generation: i64,
}

pub(super) fn state(conn: &Connection) -> Result<Option<State>, StorageError> {
    Ok(conn
        .prepare_cached(
            "SELECT rules_version, zones, built, generation FROM report_state WHERE id = 1",
        )?
        .query_row([], |r| {
            Ok(State {
                rules_version: r.get(0)?,
                zones: r.get(1)?,
                built: r.get::<_, i64>(2)? != 0,
                generation: r.get(3)?,
            })
        })
        .optional()?)
}

pub(super) fn put_state(conn: &Connection, s: &State) -> Result<(), StorageError> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO report_state (id, rules_version, zones, built, generation)
         VALUES (1, ?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        s.rules_version,
        s.zones,
        i64::from(s.built),
        s.generation
    ])?;
    Ok(())
}

/// The marked UTC days.
pub(super) fn marks(conn: &Connection) -> Result<BTreeSet<i64>, StorageError> {
    let mut stmt = conn.prepare_cached("SELECT uday FROM report_marks")?;
    let rows = stmt.query_map([], |r| r.get::<_, i64>(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The number of marked days, counted up to `limit`.
pub(super) fn mark_count(conn: &Connection, limit: i64) -> Result<i64, StorageError> {
    Ok(conn
        .prepare_cached("SELECT COUNT(*) FROM (SELECT 1 FROM report_marks LIMIT ?1)")?
        .query_row([limit], |r| r.get(0))?)
}

pub(super) fn clear_marks(conn: &Connection) -> Result<(), StorageError> {
    conn.prepare_cached("DELETE FROM report_marks")?
        .execute([])?;
    Ok(())
}

fn count(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn uncount(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Writes (or replaces) the figures of `key`.
pub(super) fn put_day(conn: &Connection, key: &Key, d: &DaySummary) -> Result<(), StorageError> {
    let flows = if d.flows_from.is_empty() {
        None
    } else {
        Some(serde_json::to_string(&d.flows_from)?)
    };
    conn.prepare_cached(
        "INSERT OR REPLACE INTO report_days (site, day, entries, exits, revenue, exempt_exits,
            exits_without_entry, conflicts, stay_count, stay_total_secs, avg_stay_secs,
            p90_stay_secs, net_occupancy, peak_rise, peak_rise_hour, flows_from)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?
    .execute(params![
        key.0,
        key.1.to_string(),
        count(d.entries),
        count(d.exits),
        d.revenue,
        count(d.exempt_exits),
        count(d.exits_without_entry),
        count(d.conflicts),
        count(d.stay_count),
        d.stay_total_secs,
        d.avg_stay_secs,
        d.p90_stay_secs,
        d.net_occupancy,
        d.peak_rise,
        d.peak_rise_hour,
        flows,
    ])?;
    Ok(())
}

pub(super) fn delete_day(conn: &Connection, key: &Key) -> Result<(), StorageError> {
    conn.prepare_cached("DELETE FROM report_days WHERE site = ?1 AND day = ?2")?
        .execute(params![key.0, key.1.to_string()])?;
    Ok(())
}

pub(super) fn delete_all_days(conn: &Connection) -> Result<(), StorageError> {
    conn.prepare_cached("DELETE FROM report_days")?
        .execute([])?;
    Ok(())
}

fn parse_date(text: &str) -> Result<Date, StorageError> {
    text.parse()
        .map_err(|e| StorageError::Corrupt(format!("report day {text:?}: {e}")))
}

/// The stored (site, day) keys with a day from `from` to `to`.
pub(super) fn keys_between(
    conn: &Connection,
    from: Date,
    to: Date,
) -> Result<Vec<Key>, StorageError> {
    let mut stmt =
        conn.prepare_cached("SELECT site, day FROM report_days WHERE day >= ?1 AND day <= ?2")?;
    let mut rows = stmt.query(params![from.to_string(), to.to_string()])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let day: String = r.get(1)?;
        out.push((r.get(0)?, parse_date(&day)?));
    }
    Ok(out)
}

/// The stored figures of every site with a day from `from` to `to`.
pub(super) fn days_between(
    conn: &Connection,
    from: Date,
    to: Date,
) -> Result<BTreeMap<Key, DaySummary>, StorageError> {
    let mut stmt = conn.prepare_cached(
        "SELECT site, day, entries, exits, revenue, exempt_exits, exits_without_entry, conflicts,
                stay_count, stay_total_secs, avg_stay_secs, p90_stay_secs, net_occupancy,
                peak_rise, peak_rise_hour, flows_from
         FROM report_days WHERE day >= ?1 AND day <= ?2",
    )?;
    let mut rows = stmt.query(params![from.to_string(), to.to_string()])?;
    let mut out = BTreeMap::new();
    while let Some(r) = rows.next()? {
        let day: String = r.get(1)?;
        let flows: Option<String> = r.get(15)?;
        let flows_from = match flows {
            Some(text) => serde_json::from_str(&text)?,
            None => BTreeMap::new(),
        };
        let summary = DaySummary {
            entries: uncount(r.get(2)?),
            exits: uncount(r.get(3)?),
            revenue: r.get(4)?,
            exempt_exits: uncount(r.get(5)?),
            exits_without_entry: uncount(r.get(6)?),
            conflicts: uncount(r.get(7)?),
            stay_count: uncount(r.get(8)?),
            stay_total_secs: r.get(9)?,
            avg_stay_secs: r.get(10)?,
            p90_stay_secs: r.get(11)?,
            net_occupancy: r.get(12)?,
            peak_rise: r.get(13)?,
            peak_rise_hour: r.get(14)?,
            flows_from,
        };
        out.insert((r.get(0)?, parse_date(&day)?), summary);
    }
    Ok(out)
}

/// Per site: the sum of the net occupancy of every stored day before `before` (the cars inside
/// at the start of that day).
pub(super) fn levels_before(
    conn: &Connection,
    before: Date,
) -> Result<BTreeMap<String, i64>, StorageError> {
    let mut stmt = conn.prepare_cached(
        "SELECT site, SUM(net_occupancy) FROM report_days WHERE day < ?1 GROUP BY site",
    )?;
    let rows = stmt.query_map([before.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Every site with a stored day.
pub(super) fn sites(conn: &Connection) -> Result<BTreeSet<String>, StorageError> {
    let mut stmt = conn.prepare_cached("SELECT DISTINCT site FROM report_days")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
