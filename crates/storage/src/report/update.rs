//! Bringing the stored report figures up to date: a full recompute from `history` when they are
//! missing or were computed with other rules or zones (or too many days are marked), else a
//! recompute of the local days that overlap the days the triggers marked.

use std::collections::BTreeMap;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use parkmesh_parking::report as rules;
use rusqlite::Connection;

use super::{Buckets, DAY_MS, Key, Zones, announced_zones, scan, store};
use crate::error::StorageError;

/// More marked days than this (an import, a long catch-up) are brought up to date by a full
/// recompute, which scans without holding the write lock, instead of a recompute of the marked
/// days inside one write transaction.
const MAX_MARKED_DAYS: i64 = 31;

/// What the stored figures must have been computed with: the rules version and every zone used.
fn zones_key(names: &BTreeMap<String, String>, own: &TimeZone) -> Result<String, StorageError> {
    let own = own
        .iana_name()
        .map_or_else(|| format!("{own:?}"), str::to_owned);
    Ok(serde_json::to_string(&(own, names))?)
}

fn parse_zones(names: &BTreeMap<String, String>) -> BTreeMap<String, TimeZone> {
    names
        .iter()
        .filter_map(|(s, n)| Some((s.clone(), parkmesh_parking::time::parse_tz(n).ok()?)))
        .collect()
}

/// Brings the stored figures up to date with `history` and returns the announced zones: a full
/// recompute when they are missing or were computed with other rules or zones, else a recompute
/// of the marked days.
pub(super) fn bring_up_to_date(
    conn: &mut Connection,
    own: &TimeZone,
) -> Result<BTreeMap<String, String>, StorageError> {
    // A full recompute gives way when another handle starts one meanwhile; a few rounds settle.
    for _ in 0..5 {
        let names = announced_zones(conn)?;
        let key = zones_key(&names, own)?;
        let current = store::state(conn)?
            .is_some_and(|s| s.built && s.rules_version == rules::RULES_VERSION && s.zones == key);
        let marked = if current {
            store::mark_count(conn, MAX_MARKED_DAYS + 1)?
        } else {
            0
        };
        if current && marked <= MAX_MARKED_DAYS {
            if marked == 0 || apply_marks(conn, own, &key)? {
                return Ok(names);
            }
        } else {
            rebuild(conn, own)?;
        }
    }
    Err(StorageError::Corrupt(
        "report figures: the full recompute kept being restarted by another handle".into(),
    ))
}

/// Recomputes every (site, local day) from `history`. The marks are cleared and the state set to
/// "building" first (so that every change after that start is marked again); the scan runs in a
/// read transaction without blocking the writer; the rows are written only when no other
/// recompute started meanwhile (`generation`).
fn rebuild(conn: &mut Connection, own: &TimeZone) -> Result<(), StorageError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let generation = store::state(&tx)?.map_or(0, |s| s.generation) + 1;
    store::put_state(
        &tx,
        &store::State {
            rules_version: rules::RULES_VERSION,
            zones: String::new(),
            built: false,
            generation,
        },
    )?;
    store::clear_marks(&tx)?;
    tx.commit()?;

    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Deferred)?;
    let names = announced_zones(&tx)?;
    let zones = Zones {
        by_site: parse_zones(&names),
        own,
    };
    let all = |_: &Key| true;
    let mut b = Buckets::new(&zones, &all);
    scan(&tx, None, &mut b)?;
    let days = b.finish();
    tx.commit()?;

    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    if store::state(&tx)?.map(|s| s.generation) != Some(generation) {
        tracing::debug!("report recompute superseded by another one");
        return Ok(());
    }
    store::delete_all_days(&tx)?;
    for (k, d) in &days {
        store::put_day(&tx, k, d)?;
    }
    store::put_state(
        &tx,
        &store::State {
            rules_version: rules::RULES_VERSION,
            zones: zones_key(&names, own)?,
            built: true,
            generation,
        },
    )?;
    tx.commit()?;
    tracing::info!(days = days.len(), "report figures recomputed from history");
    Ok(())
}

/// Recomputes the local days that overlap a marked UTC day, writes them and removes the marks,
/// all in one write transaction (so no mark set meanwhile is lost). `false` when the stored
/// figures turned out not to be current (another handle started a full recompute).
fn apply_marks(conn: &mut Connection, own: &TimeZone, key: &str) -> Result<bool, StorageError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let current = store::state(&tx)?
        .is_some_and(|s| s.built && s.rules_version == rules::RULES_VERSION && s.zones == key);
    if !current {
        return Ok(false);
    }
    let dirty = store::marks(&tx)?;
    let names = announced_zones(&tx)?;
    let zones = Zones {
        by_site: parse_zones(&names),
        own,
    };
    // A key is stale when its local day overlaps a marked UTC day.
    let stale = |key: &Key| {
        let (s, e) = rules::day_bounds(key.1, zones.of(&key.0));
        dirty
            .range(s.div_euclid(DAY_MS)..=(e - 1).div_euclid(DAY_MS))
            .next()
            .is_some()
    };
    // The sessions to read: those in the local days (in any zone in use) that overlap a marked
    // day; consecutive windows merged.
    let in_use: Vec<&TimeZone> = std::iter::once(own).chain(zones.by_site.values()).collect();
    let mut windows: Vec<(i64, i64)> = Vec::new();
    for d in &dirty {
        let (mut lo, mut hi) = (d * DAY_MS, (d + 1) * DAY_MS);
        for tz in &in_use {
            lo = lo.min(rules::day_bounds(rules::local_date(d * DAY_MS, tz), tz).0);
            hi = hi.max(rules::day_bounds(rules::local_date((d + 1) * DAY_MS - 1, tz), tz).1);
        }
        match windows.last_mut() {
            Some(w) if w.1 >= lo => w.1 = w.1.max(hi),
            _ => windows.push((lo, hi)),
        }
    }
    let mut b = Buckets::new(&zones, &stale);
    for w in &windows {
        scan(&tx, Some(*w), &mut b)?;
    }
    let fresh = b.finish();
    // Stored days that are stale but have no session left are removed.
    let utc = TimeZone::UTC;
    for (lo, hi) in &windows {
        let from = rules::local_date(*lo, &utc)
            .yesterday()
            .unwrap_or(Date::MIN);
        let to = rules::local_date(*hi, &utc).tomorrow().unwrap_or(Date::MAX);
        for k in store::keys_between(&tx, from, to)? {
            if stale(&k) && !fresh.contains_key(&k) {
                store::delete_day(&tx, &k)?;
            }
        }
    }
    for (k, d) in &fresh {
        store::put_day(&tx, k, d)?;
    }
    store::clear_marks(&tx)?;
    tx.commit()?;
    tracing::debug!(
        marked_days = dirty.len(),
        recomputed = fresh.len(),
        "report figures updated"
    );
    Ok(true)
}
