//! The storage handle's reads: every public query of [`Storage`], each answered by the backend
//! the handle holds ([`ReadBackend`]), and the network reports.

use std::sync::Arc;

use jiff::civil::Date;
use parkmesh_protocol::{Event, StreamId, VersionVector};

use super::Storage;
use crate::error::StorageError;
use crate::report::{DailyReport, FlowRow, ReportSite};
use crate::rows::{
    CameraRow, ChangeRow, ConflictRow, HistoryQuery, HistoryRow, LocatedRow, SiteCounts, Stats,
    WatchEntry, ZoneRow,
};
use crate::sqlite;

/// The read half of the storage contract: the backend whose SQL answers the handle's queries.
/// A second backend is one more arm (and a sibling of `sqlite::Reads`); the queries' types are
/// backend-neutral ([`crate::rows`]).
#[derive(Debug, Clone)]
pub(crate) enum ReadBackend {
    /// The embedded default: a read-only sqlx pool on the central's SQLite file.
    Sqlite(sqlite::Reads),
}

/// Runs `$call` with `$r` bound to the backend of `$storage`.
macro_rules! on_backend {
    ($storage:expr, $r:ident => $call:expr) => {
        match &$storage.reads {
            ReadBackend::Sqlite($r) => $call,
        }
    };
}

impl Storage {
    /// Sessions matching `q`, newest entry first; tombstoned sessions are not listed.
    pub async fn history(&self, q: &HistoryQuery) -> Result<Vec<HistoryRow>, StorageError> {
        on_backend!(self, r => r.history(q).await)
    }

    /// Open sessions last seen at a place (an in-lot camera's zone), newest first: what
    /// `GET /api/parking/occupancy` lists per zone. Reads only those sessions;
    /// the list is kept while the database is unchanged (a dashboard polls it).
    pub async fn located(&self) -> Result<Arc<Vec<LocatedRow>>, StorageError> {
        on_backend!(self, r => r.located().await)
    }

    /// One session by its local history id (tombstoned ones included).
    pub async fn session(&self, id: i64) -> Result<Option<HistoryRow>, StorageError> {
        on_backend!(self, r => r.session(id).await)
    }

    /// One session by its global session id.
    pub async fn session_by_session_id(
        &self,
        session_id: &str,
    ) -> Result<Option<HistoryRow>, StorageError> {
        on_backend!(self, r => r.session_by_session_id(session_id).await)
    }

    /// The live session whose entry carried the edge `event_id` (the seed's cross-node key).
    pub async fn session_by_edge_event_id(
        &self,
        event_id: &str,
    ) -> Result<Option<HistoryRow>, StorageError> {
        on_backend!(self, r => r.session_by_edge_event_id(event_id).await)
    }

    /// Dashboard counters for the site-local day `[start_ms, end_ms)`.
    pub async fn stats(&self, day: (i64, i64)) -> Result<Stats, StorageError> {
        on_backend!(self, r => r.stats(day).await)
    }

    /// The plates on the watch list (their newest `watchlist.set` does not remove them), by
    /// plate.
    pub async fn watchlist(&self) -> Result<Vec<WatchEntry>, StorageError> {
        on_backend!(self, r => r.watchlist().await)
    }

    /// Open sessions (IN, not deleted, opened by an entry) that entered before `before_ms`: the
    /// overstays when `before_ms` is now minus `max_stay_hours`.
    pub async fn overstay_count(&self, before_ms: i64) -> Result<i64, StorageError> {
        on_backend!(self, r => r.overstay_count(before_ms).await)
    }

    /// The newest open session (IN, not deleted) of plate `plate_id`, if any.
    pub async fn open_session_of(
        &self,
        plate_id: &str,
    ) -> Result<Option<HistoryRow>, StorageError> {
        on_backend!(self, r => r.open_session_of(plate_id).await)
    }

    /// Conflicts found by the fold, newest first.
    pub async fn conflicts(&self) -> Result<Vec<ConflictRow>, StorageError> {
        on_backend!(self, r => r.conflicts().await)
    }

    /// Audit rows of operator changes, newest first, optionally for one local history id.
    pub async fn changes(
        &self,
        limit: i64,
        offset: i64,
        history_id: Option<i64>,
    ) -> Result<Vec<ChangeRow>, StorageError> {
        on_backend!(self, r => r.changes(limit, offset, history_id).await)
    }

    /// The payload of the newest `fees.set` / `subscriptions.set` / `staff.set` event, by key
    /// (`fees`, `subscriptions`, `staff`), with the id of that event.
    pub async fn setting(
        &self,
        key: &str,
    ) -> Result<Option<(serde_json::Value, String)>, StorageError> {
        on_backend!(self, r => r.setting(key).await)
    }

    /// In-lot zones by name.
    pub async fn zones(&self) -> Result<Vec<ZoneRow>, StorageError> {
        on_backend!(self, r => r.zones().await)
    }

    /// Edge cameras known from heartbeats, by id.
    pub async fn cameras(&self) -> Result<Vec<CameraRow>, StorageError> {
        on_backend!(self, r => r.cameras().await)
    }

    /// This central's version vector: per stream, the highest contiguous seq held.
    pub async fn vector(&self) -> Result<VersionVector, StorageError> {
        on_backend!(self, r => r.vector().await)
    }

    /// Up to `limit` events of `stream` with seq >= `from_seq`, oldest first (catch-up pages).
    pub async fn read_stream(
        &self,
        stream: &StreamId,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<Event>, StorageError> {
        on_backend!(self, r => r.read_stream(stream, from_seq, limit).await)
    }

    /// Every stored event in storage order (for verification and rebuilds; not for hot paths).
    pub async fn all_events(&self) -> Result<Vec<Event>, StorageError> {
        on_backend!(self, r => r.all_events().await)
    }

    /// Number of stored events.
    pub async fn event_count(&self) -> Result<i64, StorageError> {
        on_backend!(self, r => r.event_count().await)
    }

    /// The `limit` events stored last here (local or replicated), newest first.
    pub async fn recent_events(&self, limit: usize) -> Result<Vec<Event>, StorageError> {
        on_backend!(self, r => r.recent_events(limit).await)
    }

    /// Number of conflicts the fold has recorded.
    pub async fn conflict_count(&self) -> Result<i64, StorageError> {
        on_backend!(self, r => r.conflict_count().await)
    }

    /// Per site, sessions that entered and that left in `[start_ms, end_ms)` (tombstoned
    /// sessions aside); the site is the origin of the entry or exit event.
    pub async fn site_counts(&self, day: (i64, i64)) -> Result<Vec<SiteCounts>, StorageError> {
        on_backend!(self, r => r.site_counts(day).await)
    }

    /// The time zone `site` announced last (`None` when it never announced one).
    pub async fn announced_timezone(&self, site: &str) -> Result<Option<String>, StorageError> {
        on_backend!(self, r => r.announced_timezone(site).await)
    }

    /// Open sessions (vehicles in the lot), newest first.
    pub async fn in_parking(&self) -> Result<Vec<HistoryRow>, StorageError> {
        Ok(self.inside().await?.as_ref().clone())
    }

    /// [`Storage::in_parking`], shared: the list is kept while the database is unchanged (a
    /// dashboard polls it), so a poll with no change in between copies nothing.
    pub async fn inside(&self) -> Result<Arc<Vec<HistoryRow>>, StorageError> {
        on_backend!(self, r => r.inside().await)
    }

    /// Every site known here (this central, every site that announced a time zone or has
    /// sessions), with the zone its days are counted in.
    pub async fn report_sites(&self) -> Result<Vec<ReportSite>, StorageError> {
        self.reports.report_sites().await
    }

    /// Per site and local day figures for every date from `from` to `to` (both included).
    pub async fn daily_report(&self, from: Date, to: Date) -> Result<DailyReport, StorageError> {
        self.reports.daily_report(from, to).await
    }

    /// Sessions that entered at one site and left at another, per local day of the exit site,
    /// for every date from `from` to `to`; by date, then entry site, then exit site.
    pub async fn cross_site_report(
        &self,
        from: Date,
        to: Date,
    ) -> Result<(Vec<ReportSite>, Vec<FlowRow>), StorageError> {
        self.reports.cross_site_report(from, to).await
    }
}
