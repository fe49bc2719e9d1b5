//! Aggregation rules of the network reports: which local day a moment belongs to in a site's
//! time zone, the figures of one site and day, the stay percentile and the peak occupancy.
//!
//! Pure: storage feeds the facts of sessions (times, sites, fee, flags) into a [`DayAcc`] per
//! (site, local day) and keeps the finished [`DaySummary`]; the report then walks the days of a
//! range and carries the occupancy level from one day to the next ([`peak_of_day`]).
//!
//! Rules (the README's API section states them for users):
//! - an entry counts at the site that recorded it, on the local day of its gate time there;
//! - an exit counts at the site that recorded it, on the local day of its gate time there, with
//!   its fee (revenue), its subscription exemption and its stay (exit time − entry time, whole
//!   seconds, never negative; only when the session has an entry);
//! - occupancy of a site is the number of cars that entered there and have not left (wherever
//!   they left); its peak on a day is the highest level at any moment of that day, counting the
//!   level at midnight, with departures before arrivals at the same millisecond; the peak hour is
//!   the local hour in which that level is first reached;
//! - the p90 stay is the nearest-rank percentile: the ⌈0.9·n⌉-th smallest of n stays.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

/// Version of these rules. Stored figures computed under another version are recomputed; bump it
/// whenever a change here changes any figure.
pub const RULES_VERSION: i64 = 1;

/// Longest report range accepted, in days (both ends included).
pub const MAX_RANGE_DAYS: i64 = 366;

/// The local date of the instant `ms` in `tz`.
pub fn local_date(ms: i64, tz: &TimeZone) -> Date {
    let ts = Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH);
    ts.to_zoned(tz.clone()).date()
}

/// The local hour (0–23) of the instant `ms` in `tz`.
pub fn local_hour(ms: i64, tz: &TimeZone) -> u8 {
    let ts = Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH);
    u8::try_from(ts.to_zoned(tz.clone()).hour()).unwrap_or(0)
}

/// `[start, end)` of the local day `date` in `tz`, in ms since the epoch (23 or 25 hours long on
/// the days a daylight-saving zone changes its offset).
pub fn day_bounds(date: Date, tz: &TimeZone) -> (i64, i64) {
    let start = |d: Date| {
        d.to_zoned(tz.clone())
            .map(|z| z.timestamp().as_millisecond())
            .unwrap_or(i64::MAX)
    };
    let end = date.tomorrow().map(start).unwrap_or(i64::MAX);
    (start(date), end)
}

/// Nearest-rank percentile `p` (1–100) of ascending `sorted` values: the ⌈p·n/100⌉-th smallest.
/// `None` for no values.
pub fn percentile(sorted: &[i64], p: u32) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len() as u64;
    let rank = (u64::from(p.clamp(1, 100)) * n).div_ceil(100).max(1);
    sorted.get(usize::try_from(rank - 1).ok()?).copied()
}

/// Integer mean rounded half up; `None` for no values.
pub fn mean(total: i64, count: u64) -> Option<i64> {
    if count == 0 {
        return None;
    }
    let n = i64::try_from(count).ok()?;
    Some((2 * total + n).div_euclid(2 * n))
}

/// What one exit contributes to its site and day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitFacts {
    /// Gate time of the exit (ms).
    pub exit_ms: i64,
    /// Site and gate time of the entry, when the session has one.
    pub entry: Option<(String, i64)>,
    /// Fee charged (VND).
    pub fee: i64,
    /// The fee was waived by a subscription.
    pub exempt: bool,
    /// The exit matched no entry (an exception session).
    pub without_entry: bool,
}

/// Collects the facts of one site and local day.
#[derive(Debug, Clone, Default)]
pub struct DayAcc {
    entries: u64,
    exits: u64,
    revenue: i64,
    exempt: u64,
    without_entry: u64,
    conflicts: u64,
    stays: Vec<i64>,
    /// Moves of the cars of this site: `2·ms + 1` an arrival, `2·ms` a departure (so that a
    /// departure sorts before an arrival at the same millisecond).
    moves: Vec<i64>,
    flows: BTreeMap<String, u64>,
}

impl DayAcc {
    /// A car entered at this site at `at_ms`.
    pub fn entry(&mut self, at_ms: i64) {
        self.entries += 1;
        self.moves.push(at_ms.saturating_mul(2) | 1);
    }

    /// A car that entered at this site left (at any site) at `at_ms`.
    pub fn departure(&mut self, at_ms: i64) {
        self.moves.push(at_ms.saturating_mul(2) & !1);
    }

    /// A car left through this site's gate.
    pub fn exit(&mut self, site: &str, x: ExitFacts) {
        self.exits += 1;
        self.revenue += x.fee;
        self.exempt += u64::from(x.exempt);
        self.without_entry += u64::from(x.without_entry);
        if let Some((entry_site, entry_ms)) = x.entry {
            self.stays.push(((x.exit_ms - entry_ms) / 1000).max(0));
            if entry_site != site {
                *self.flows.entry(entry_site).or_default() += 1;
            }
        }
    }

    /// The fold set an event of this site aside in a conflict.
    pub fn conflict(&mut self) {
        self.conflicts += 1;
    }

    /// The day's figures; `tz` gives the hour of the peak.
    pub fn finish(mut self, tz: &TimeZone) -> DaySummary {
        self.stays.sort_unstable();
        self.moves.sort_unstable();
        let (mut level, mut rise, mut rise_at) = (0i64, 0i64, None);
        for m in &self.moves {
            level += if m & 1 == 1 { 1 } else { -1 };
            if level > rise {
                rise = level;
                rise_at = Some(m >> 1);
            }
        }
        DaySummary {
            entries: self.entries,
            exits: self.exits,
            revenue: self.revenue,
            exempt_exits: self.exempt,
            exits_without_entry: self.without_entry,
            conflicts: self.conflicts,
            stay_count: self.stays.len() as u64,
            stay_total_secs: self.stays.iter().sum(),
            avg_stay_secs: mean(self.stays.iter().sum(), self.stays.len() as u64),
            p90_stay_secs: percentile(&self.stays, 90),
            net_occupancy: level,
            peak_rise: rise,
            peak_rise_hour: rise_at.map(|ms| local_hour(ms, tz)),
            flows_from: self.flows,
        }
    }
}

/// The finished figures of one site and local day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaySummary {
    /// Entries recorded at the site.
    pub entries: u64,
    /// Exits recorded at the site.
    pub exits: u64,
    /// Sum of the fees of those exits (VND).
    pub revenue: i64,
    /// Exits whose fee a subscription waived.
    pub exempt_exits: u64,
    /// Exits that matched no entry.
    pub exits_without_entry: u64,
    /// Events of the site the fold set aside in a conflict.
    pub conflicts: u64,
    /// Exits with an entry (the stays measured).
    pub stay_count: u64,
    /// Sum of those stays (s).
    pub stay_total_secs: i64,
    /// Mean stay (s), rounded half up.
    pub avg_stay_secs: Option<i64>,
    /// Nearest-rank 90th percentile of the stays (s).
    pub p90_stay_secs: Option<i64>,
    /// Arrivals minus departures of the site's cars over the day.
    pub net_occupancy: i64,
    /// Highest level above the midnight level during the day (0 when it never rose).
    pub peak_rise: i64,
    /// Local hour in which that highest level was first reached (`None` when it never rose).
    pub peak_rise_hour: Option<u8>,
    /// Exits here of cars that entered at another site, by entry site.
    pub flows_from: BTreeMap<String, u64>,
}

impl DaySummary {
    /// Exception sessions: exits without entry plus conflicts.
    pub fn exception_sessions(&self) -> u64 {
        self.exits_without_entry + self.conflicts
    }
}

/// Peak occupancy and its local hour on a day that starts with `level` cars inside.
pub fn peak_of_day(level: i64, day: Option<&DaySummary>) -> (i64, u8) {
    match day {
        Some(d) if d.peak_rise > 0 => (level + d.peak_rise, d.peak_rise_hour.unwrap_or(0)),
        _ => (level, 0),
    }
}

/// Every date from `from` to `to`, both included.
pub fn dates(from: Date, to: Date) -> Vec<Date> {
    let mut out = Vec::new();
    let mut d = from;
    while d <= to {
        out.push(d);
        match d.tomorrow() {
            Ok(n) => d = n,
            Err(_) => break,
        }
    }
    out
}

/// Days from `from` to `to`, both included (0 or less when `to` is before `from`).
pub fn range_days(from: Date, to: Date) -> i64 {
    i64::from((to - from).get_days()) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tz(name: &str) -> TimeZone {
        crate::time::parse_tz(name).unwrap()
    }

    fn ms(text: &str, zone: &TimeZone) -> i64 {
        crate::time::parse_local(text, zone).unwrap()
    }

    #[test]
    fn nearest_rank_percentile() {
        assert_eq!(percentile(&[], 90), None);
        assert_eq!(percentile(&[7], 90), Some(7));
        let ten: Vec<i64> = (1..=10).collect();
        assert_eq!(percentile(&ten, 90), Some(9));
        let eleven: Vec<i64> = (1..=11).collect();
        assert_eq!(percentile(&eleven, 90), Some(10));
        assert_eq!(percentile(&ten, 100), Some(10));
        assert_eq!(mean(5, 2), Some(3));
        assert_eq!(mean(4, 3), Some(1));
        assert_eq!(mean(0, 0), None);
    }

    #[test]
    fn berlin_days_around_the_october_change_are_25_and_23_hours() {
        let z = tz("Europe/Berlin");
        let d = |s: &str| s.parse::<Date>().unwrap();
        let (s, e) = day_bounds(d("2026-10-25"), &z);
        assert_eq!(e - s, 25 * 3_600_000);
        let (s, e) = day_bounds(d("2026-03-29"), &z);
        assert_eq!(e - s, 23 * 3_600_000);
        // 00:30 UTC on the 25th is 02:30 CEST; 23:30 UTC is 00:30 CET of the 26th.
        let utc = tz("UTC");
        assert_eq!(
            local_date(ms("2026-10-25 00:30:00", &utc), &z),
            d("2026-10-25")
        );
        assert_eq!(
            local_date(ms("2026-10-25 23:30:00", &utc), &z),
            d("2026-10-26")
        );
        assert_eq!(local_hour(ms("2026-10-25 01:30:00", &utc), &z), 2);
        let hcm = tz("Asia/Ho_Chi_Minh");
        let (s, e) = day_bounds(d("2026-10-25"), &hcm);
        assert_eq!(e - s, 24 * 3_600_000);
        assert_eq!(
            local_date(ms("2026-10-24 17:00:00", &utc), &hcm),
            d("2026-10-25")
        );
    }

    #[test]
    fn day_figures_and_peak() {
        let z = tz("Asia/Ho_Chi_Minh");
        let t = |h: &str| ms(&format!("2026-01-02 {h}"), &z);
        let mut acc = DayAcc::default();
        acc.entry(t("08:00:00"));
        acc.entry(t("09:00:00"));
        acc.departure(t("09:00:00"));
        acc.entry(t("10:15:00"));
        acc.exit(
            "a",
            ExitFacts {
                exit_ms: t("09:00:00"),
                entry: Some(("a".into(), t("08:00:00"))),
                fee: 5000,
                exempt: false,
                without_entry: false,
            },
        );
        acc.exit(
            "a",
            ExitFacts {
                exit_ms: t("11:00:00"),
                entry: Some(("b".into(), t("07:00:00"))),
                fee: 0,
                exempt: true,
                without_entry: false,
            },
        );
        acc.exit(
            "a",
            ExitFacts {
                exit_ms: t("12:00:00"),
                entry: None,
                fee: 0,
                exempt: false,
                without_entry: true,
            },
        );
        acc.conflict();
        let s = acc.finish(&z);
        assert_eq!((s.entries, s.exits, s.revenue), (3, 3, 5000));
        assert_eq!((s.exempt_exits, s.exception_sessions()), (1, 2));
        assert_eq!(
            (s.avg_stay_secs, s.p90_stay_secs),
            (Some(9000), Some(14400))
        );
        // Levels: 1 at 08:00, 09:00 departure first (0) then arrival (1), 2 at 10:15.
        assert_eq!(
            (s.net_occupancy, s.peak_rise, s.peak_rise_hour),
            (2, 2, Some(10))
        );
        assert_eq!(s.flows_from.get("b"), Some(&1));
        assert_eq!(peak_of_day(3, Some(&s)), (5, 10));
        assert_eq!(peak_of_day(3, None), (3, 0));
    }

    #[test]
    fn ranges() {
        let d = |s: &str| s.parse::<Date>().unwrap();
        assert_eq!(range_days(d("2026-01-01"), d("2026-12-31")), 365);
        assert_eq!(range_days(d("2026-01-02"), d("2026-01-01")), 0);
        assert_eq!(dates(d("2026-02-27"), d("2026-03-01")).len(), 3);
    }
}
