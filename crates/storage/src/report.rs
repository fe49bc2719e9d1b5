//! Network reports: per site and local day figures (entries, exits, revenue, stays, occupancy)
//! and cross-site flows, over the replicated `history` and `conflicts` projections.
//!
//! The figures of every (site, local day) are kept on disk (`report_days`, see [`store`]): a
//! projection of `history` like the others, recomputed in full when it is missing or was
//! computed with other rules or zones. Each change marks, in the same transaction, which UTC
//! days it touched (`report_marks`, migration 0007): the writer through [`mark_days`] for the
//! `history` rows it inserts or updates, triggers for deleted rows and conflicts. A report first recomputes, in one write transaction, the local days
//! that overlap a marked day (from `history` through its covering time indexes), writes them and
//! removes the marks; then it reads the rows of its range.
//!
//! Each site's days are in that site's time zone, which each central announces as a
//! `site.timezone` event (`EventKind::SiteTimezone`) when it starts with a zone its stream has not
//! announced yet; the newest announcement of a site wins. A site that never announced one (a
//! central of an older version) is reported in this central's own zone.
//!
//! The reports use their own rusqlite connection inside `spawn_blocking`: a full recompute reads
//! every session once, which through the async pool's row-at-a-time hops would take several
//! times longer.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use jiff::civil::Date;
use jiff::tz::TimeZone;
use parkmesh_parking::report::{self as rules, DayAcc, DaySummary, ExitFacts};
use rusqlite::{Connection, OpenFlags};

use crate::error::StorageError;

mod store;
mod update;

const DAY_MS: i64 = 86_400_000;

type Key = (String, Date);

/// Marks the UTC days of `times` (ms) as changed for the reports, in the caller's transaction.
/// The writer calls it for every `history` row it inserts, and for every update that changes a
/// column the reports read, with the old and the new times.
pub(crate) fn mark_days(conn: &Connection, times: &[Option<i64>]) -> Result<(), StorageError> {
    let mut done: [Option<i64>; 4] = [None; 4];
    for (i, day) in times.iter().flatten().map(|&ms| utc_day(ms)).enumerate() {
        if done.contains(&Some(day)) {
            continue;
        }
        if let Some(slot) = done.get_mut(i) {
            *slot = Some(day);
        }
        mark_day(conn, day)?;
    }
    Ok(())
}

/// The UTC day (days since 1970-01-01) of a time in ms, as the change marks count days.
pub(crate) fn utc_day(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

/// Marks one UTC day as changed (the bulk import collects its rows' days and marks each once).
pub(crate) fn mark_day(conn: &Connection, day: i64) -> Result<(), StorageError> {
    conn.prepare_cached("INSERT OR IGNORE INTO report_marks (uday) VALUES (?1)")?
        .execute([day])?;
    Ok(())
}

/// A site of the network and the time zone its days are counted in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSite {
    /// Central id.
    pub id: String,
    /// IANA time zone name.
    pub timezone: String,
}

/// One site and local day of a daily report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyRow {
    /// Local date at the site.
    pub date: Date,
    /// Central id.
    pub site: String,
    /// The day's figures (all zero on a day without traffic).
    pub figures: DaySummary,
    /// Highest number of the site's cars inside at any moment of the day.
    pub peak_occupancy: i64,
    /// Local hour in which the peak was first reached.
    pub peak_hour: u8,
}

/// Per site and local day figures over a range of dates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyReport {
    /// Every site known to this central, by id.
    pub sites: Vec<ReportSite>,
    /// One row per date and site, by date then site.
    pub rows: Vec<DailyRow>,
}

/// Sessions that entered at one site and left at another on one local day of the exit site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRow {
    /// Local date of the exits at `to_site`.
    pub date: Date,
    /// Site of the entries.
    pub from_site: String,
    /// Site of the exits.
    pub to_site: String,
    /// Sessions.
    pub sessions: u64,
}

/// The report connection of one storage handle (shared by its clones; one report at a time).
#[derive(Debug)]
pub(crate) struct Reports {
    db_path: PathBuf,
    conn: Mutex<Option<Connection>>,
}

impl Reports {
    pub(crate) fn new(db_path: PathBuf) -> Self {
        Self {
            db_path,
            conn: Mutex::new(None),
        }
    }
}

/// Site time zones as announced, newest announcement per site; bad names are skipped.
fn announced_zones(conn: &Connection) -> Result<BTreeMap<String, String>, StorageError> {
    // The kind's code written in, as the partial index `events_site_timezone` names it.
    let mut stmt = conn.prepare(&format!(
        "SELECT origin, payload FROM events WHERE kind = {}
         ORDER BY hlc_ms, hlc_counter, origin, incarnation, seq",
        crate::codec::kind_sql(&parkmesh_protocol::EventKind::SiteTimezone)
    ))?;
    let mut out = BTreeMap::new();
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let origin: String = r.get(0)?;
        let name = crate::codec::StoredPayload::of(r.get_ref(1)?)
            .and_then(|p| crate::codec::decode_stored(p, &String::new).ok())
            .and_then(|v| v.get("timezone")?.as_str().map(str::to_owned));
        match name {
            Some(n) if parkmesh_parking::time::parse_tz(&n).is_ok() => {
                out.insert(origin, n);
            }
            _ => tracing::warn!(site = %origin, "site.timezone event without a valid zone ignored"),
        }
    }
    Ok(out)
}

/// Time zones by site, falling back to `own` for sites that announced none.
struct Zones<'a> {
    by_site: BTreeMap<String, TimeZone>,
    own: &'a TimeZone,
}

impl Zones<'_> {
    fn of(&self, site: &str) -> &TimeZone {
        self.by_site.get(site).unwrap_or(self.own)
    }
}

fn site_of(event_id: &str) -> &str {
    event_id.split(':').next().unwrap_or(event_id)
}

/// Sorts facts into per-(site, local day) accumulators. Each site's day intervals are
/// remembered, so most rows cost one map lookup instead of a time zone conversion.
struct Buckets<'a> {
    zones: &'a Zones<'a>,
    keep: &'a dyn Fn(&Key) -> bool,
    /// Per site: day start → (day end, index in `slots`, or `None` for a day not kept).
    days: HashMap<String, BTreeMap<i64, (i64, Option<usize>)>>,
    slots: Vec<(Key, DayAcc)>,
}

impl<'a> Buckets<'a> {
    fn new(zones: &'a Zones<'a>, keep: &'a dyn Fn(&Key) -> bool) -> Self {
        Self {
            zones,
            keep,
            days: HashMap::new(),
            slots: Vec::new(),
        }
    }

    /// The accumulator of `site`'s local day holding `ms`, when that day is kept.
    fn slot(&mut self, site: &str, ms: i64) -> Option<&mut DayAcc> {
        let known = self.days.get(site).and_then(|m| {
            let (_, (end, idx)) = m.range(..=ms).next_back()?;
            (ms < *end).then_some(*idx)
        });
        let idx = match known {
            Some(idx) => idx,
            None => {
                let tz = self.zones.of(site);
                let date = rules::local_date(ms, tz);
                let (start, end) = rules::day_bounds(date, tz);
                let key = (site.to_owned(), date);
                let idx = (self.keep)(&key).then(|| {
                    self.slots.push((key, DayAcc::default()));
                    self.slots.len() - 1
                });
                self.days
                    .entry(site.to_owned())
                    .or_default()
                    .insert(start, (end, idx));
                idx
            }
        };
        idx.and_then(|i| self.slots.get_mut(i)).map(|s| &mut s.1)
    }

    fn entry_side(&mut self, site: Option<String>, at: i64) {
        if let Some(a) = site.and_then(|s| self.slot(&s, at)) {
            a.entry(at);
        }
    }

    fn exit_side(&mut self, entry: Option<(String, i64)>, exit_id: Option<String>, x: ExitRow) {
        if let Some((site, _)) = &entry
            && let Some(a) = self.slot(site, x.exit_ms)
        {
            a.departure(x.exit_ms);
        }
        let Some(exit_id) = exit_id else { return };
        let site = site_of(&exit_id);
        if let Some(a) = self.slot(site, x.exit_ms) {
            a.exit(
                site,
                ExitFacts {
                    exit_ms: x.exit_ms,
                    entry,
                    fee: x.fee,
                    exempt: x.exempt,
                    without_entry: x.exception,
                },
            );
        }
    }

    fn finish(self) -> BTreeMap<Key, DaySummary> {
        let zones = self.zones;
        self.slots
            .into_iter()
            .map(|(k, a)| {
                let s = a.finish(zones.of(&k.0));
                (k, s)
            })
            .collect()
    }
}

/// The exit columns of a history row.
struct ExitRow {
    exit_ms: i64,
    fee: i64,
    exempt: bool,
    exception: bool,
}

fn exit_row(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Option<ExitRow>> {
    let exit_ms: Option<i64> = r.get(at)?;
    let Some(exit_ms) = exit_ms else {
        return Ok(None);
    };
    Ok(Some(ExitRow {
        exit_ms,
        fee: r.get(at + 1)?,
        exempt: r.get::<_, Option<String>>(at + 2)?.is_some(),
        exception: r.get::<_, i64>(at + 3)? != 0,
    }))
}

/// Reads the facts of every session (`window` `None`: one pass over the table) or of those with
/// an entry (resp. exit, conflict) time in `window` (through the time indexes).
fn scan(
    conn: &Connection,
    window: Option<(i64, i64)>,
    b: &mut Buckets<'_>,
) -> Result<(), StorageError> {
    let cols = "source_central, entry_ms, exit_event_id, exit_ms, fee, exempt, exception";
    let Some((lo, hi)) = window else {
        let mut stmt =
            conn.prepare_cached(&format!("SELECT {cols} FROM history WHERE deleted = 0"))?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let site: Option<String> = r.get(0)?;
            let entry_ms: Option<i64> = r.get(1)?;
            if let Some(at) = entry_ms {
                b.entry_side(site.clone(), at);
            }
            if let Some(x) = exit_row(r, 3)? {
                b.exit_side(site.zip(entry_ms), r.get(2)?, x);
            }
        }
        drop(rows);
        return scan_conflicts(conn, (i64::MIN, i64::MAX), b);
    };
    let mut stmt = conn.prepare_cached(
        "SELECT source_central, entry_ms FROM history
         WHERE deleted = 0 AND entry_ms >= ?1 AND entry_ms < ?2",
    )?;
    let mut rows = stmt.query([lo, hi])?;
    while let Some(r) = rows.next()? {
        b.entry_side(r.get(0)?, r.get(1)?);
    }
    drop(rows);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {cols} FROM history WHERE deleted = 0 AND exit_ms >= ?1 AND exit_ms < ?2"
    ))?;
    let mut rows = stmt.query([lo, hi])?;
    while let Some(r) = rows.next()? {
        let site: Option<String> = r.get(0)?;
        let entry_ms: Option<i64> = r.get(1)?;
        if let Some(x) = exit_row(r, 3)? {
            b.exit_side(site.zip(entry_ms), r.get(2)?, x);
        }
    }
    drop(rows);
    scan_conflicts(conn, (lo, hi), b)
}

/// Conflicts count at the site of the first event set aside, on the day of its time.
fn scan_conflicts(
    conn: &Connection,
    (lo, hi): (i64, i64),
    b: &mut Buckets<'_>,
) -> Result<(), StorageError> {
    let mut stmt = conn
        .prepare_cached("SELECT losers, at_ms FROM conflicts WHERE at_ms >= ?1 AND at_ms < ?2")?;
    let mut rows = stmt.query([lo, hi])?;
    while let Some(r) = rows.next()? {
        let losers: String = r.get(0)?;
        let at: i64 = r.get(1)?;
        let first = serde_json::from_str::<Vec<String>>(&losers)
            .ok()
            .and_then(|l| l.into_iter().next());
        if let Some(loser) = first
            && let Some(a) = b.slot(site_of(&loser), at)
        {
            a.conflict();
        }
    }
    Ok(())
}

/// The figures a report reads, once brought up to date.
struct View {
    zones: BTreeMap<String, String>,
    days: BTreeMap<Key, DaySummary>,
    levels: BTreeMap<String, i64>,
    stored_sites: BTreeSet<String>,
}

/// The storage handle's reports: the report connection and this central's own site and zone.
#[derive(Debug, Clone)]
pub(crate) struct SiteReports {
    pub(crate) reports: Arc<Reports>,
    pub(crate) own_tz: TimeZone,
    pub(crate) own_site: String,
}

impl SiteReports {
    /// Brings the stored figures up to date and reads those from `from` to `to` (on a blocking
    /// thread, with the report's own connection), then runs `f` over them.
    async fn with_report<T: Send + 'static>(
        &self,
        from: Date,
        to: Date,
        f: impl FnOnce(&View, &TimeZone, &str) -> T + Send + 'static,
    ) -> Result<T, StorageError> {
        let reports = self.reports.clone();
        let own_tz = self.own_tz.clone();
        let own_site = self.own_site.clone();
        tokio::task::spawn_blocking(move || {
            let mut slot = reports
                .conn
                .lock()
                .map_err(|_| StorageError::Corrupt("report connection poisoned".into()))?;
            if slot.is_none() {
                let conn = Connection::open_with_flags(
                    &reports.db_path,
                    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                conn.busy_timeout(std::time::Duration::from_secs(10))?;
                *slot = Some(conn);
            }
            let conn = slot
                .as_mut()
                .ok_or_else(|| StorageError::Corrupt("report connection missing".into()))?;
            let zones = update::bring_up_to_date(conn, &own_tz)?;
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Deferred)?;
            let view = View {
                zones,
                days: store::days_between(&tx, from, to)?,
                levels: store::levels_before(&tx, from)?,
                stored_sites: store::sites(&tx)?,
            };
            tx.commit()?;
            Ok(f(&view, &own_tz, &own_site))
        })
        .await
        .map_err(|e| StorageError::Corrupt(format!("report task failed: {e}")))?
    }

    /// Every site known here (this central, every site that announced a time zone or has
    /// sessions), with the zone its days are counted in.
    pub(crate) async fn report_sites(&self) -> Result<Vec<ReportSite>, StorageError> {
        let today = Date::MAX;
        self.with_report(today, today, sites).await
    }

    /// Per site and local day figures for every date from `from` to `to` (both included).
    pub(crate) async fn daily_report(
        &self,
        from: Date,
        to: Date,
    ) -> Result<DailyReport, StorageError> {
        self.with_report(from, to, move |v, tz, own| {
            let sites = sites(v, tz, own);
            let dates = rules::dates(from, to);
            let mut rows = Vec::with_capacity(sites.len() * dates.len());
            for site in &sites {
                // Cars inside at the start of `from`: every earlier day's arrivals − departures.
                let mut level: i64 = v.levels.get(&site.id).copied().unwrap_or(0);
                for date in &dates {
                    let day = v.days.get(&(site.id.clone(), *date));
                    let (peak_occupancy, peak_hour) = rules::peak_of_day(level, day);
                    level += day.map_or(0, |d| d.net_occupancy);
                    rows.push(DailyRow {
                        date: *date,
                        site: site.id.clone(),
                        figures: day.cloned().unwrap_or_default(),
                        peak_occupancy,
                        peak_hour,
                    });
                }
            }
            rows.sort_by(|a, b| (a.date, &a.site).cmp(&(b.date, &b.site)));
            DailyReport { sites, rows }
        })
        .await
    }

    /// Sessions that entered at one site and left at another, per local day of the exit site,
    /// for every date from `from` to `to`; by date, then entry site, then exit site.
    pub(crate) async fn cross_site_report(
        &self,
        from: Date,
        to: Date,
    ) -> Result<(Vec<ReportSite>, Vec<FlowRow>), StorageError> {
        self.with_report(from, to, move |v, tz, own| {
            let mut flows = Vec::new();
            for ((site, date), day) in &v.days {
                for (origin, n) in &day.flows_from {
                    flows.push(FlowRow {
                        date: *date,
                        from_site: origin.clone(),
                        to_site: site.clone(),
                        sessions: *n,
                    });
                }
            }
            flows.sort_by(|a, b| {
                (a.date, &a.from_site, &a.to_site).cmp(&(b.date, &b.from_site, &b.to_site))
            });
            (sites(v, tz, own), flows)
        })
        .await
    }
}

fn sites(v: &View, own_tz: &TimeZone, own: &str) -> Vec<ReportSite> {
    let mut ids: BTreeSet<&str> = v.zones.keys().map(String::as_str).collect();
    ids.extend(v.stored_sites.iter().map(String::as_str));
    ids.insert(own);
    ids.into_iter()
        .map(|id| ReportSite {
            id: id.to_owned(),
            timezone: v
                .zones
                .get(id)
                .cloned()
                .or_else(|| own_tz.iana_name().map(str::to_owned))
                .unwrap_or_else(|| "UTC".to_owned()),
        })
        .collect()
}
