//! Plain row types read from the projections, handed to the API and the manager.

use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::error::StorageError;

/// One parking session (the seed's `history` row, plus parkmesh's own columns).
///
/// The serde derives are the storage's own snapshot encoding (the session as an edge request
/// first saw it, kept in `edge_requests`); clients never see it: the api renders rows by hand.
/// Empty optional fields are left out of it (an entry's snapshot has no exit yet), which
/// shortens the row written per edge request; a missing field reads as `None`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HistoryRow {
    /// Local row id (stable for the session on this central; differs between centrals).
    pub id: i64,
    /// Global session id: the event id text of the event that opened the session.
    pub session_id: String,
    /// Plate the session is grouped under.
    pub plate_key: String,
    /// Global id of the entry event, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_event_id: Option<String>,
    /// Global id of the exit event, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_event_id: Option<String>,
    /// The entry's edge `event_id` when it had one, else the session id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// Central whose event opened the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_central: Option<String>,
    /// Edge (camera) that produced the opening event, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge_id: Option<String>,
    /// Normalised plate.
    pub plate_id: String,
    /// Plate as shown.
    pub plate_view: String,
    /// Entry instant (ms since epoch, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_ms: Option<i64>,
    /// Entry time as site-local text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_time: Option<String>,
    /// Entry camera id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_camera_id: Option<i64>,
    /// Entry camera name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_camera_name: Option<String>,
    /// Entry OCR confidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_confidence: Option<f64>,
    /// Entry source (`auto`, `manual`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_source: Option<String>,
    /// Exit instant (ms since epoch, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_ms: Option<i64>,
    /// Exit time as site-local text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_time: Option<String>,
    /// Exit camera id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_camera_id: Option<i64>,
    /// Exit camera name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_camera_name: Option<String>,
    /// Exit OCR confidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_confidence: Option<f64>,
    /// Exit source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_source: Option<String>,
    /// Duration text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// Fee in VND.
    pub fee: i64,
    /// `IN` or `OUT`.
    pub status: String,
    /// `LOCAL` when opened by this central, else `SYNCED`.
    pub sync_status: String,
    /// An exit that matched no entry.
    pub exception: bool,
    /// Subscription type that exempted the fee.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exempt: Option<String>,
    /// Seen in the lot without an entry.
    pub is_anomaly: bool,
    /// Tombstoned by an operator.
    pub deleted: bool,
    /// Last in-lot location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_location: Option<String>,
    /// Last in-lot sighting instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_location_ms: Option<i64>,
    /// Last in-lot sighting as site-local text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_location_time: Option<String>,
    /// The entry reached a central well after its gate time (a replayed edge queue).
    pub entry_late: bool,
    /// The exit reached a central well after its gate time.
    pub exit_late: bool,
    /// A gate time was out of bounds and replaced by the recording central's clock.
    pub time_clamped: bool,
    /// Who made a manual entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_operator: Option<String>,
    /// Who made a manual exit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_operator: Option<String>,
    /// The plate the exit camera read, when the exit was matched to this confusable plate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_plate: Option<String>,
    /// That plate as shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_plate_view: Option<String>,
    /// `confusable` for such a match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plate_match: Option<String>,
    /// For an exception: the plates of the open sessions its exit could have closed,
    /// comma-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_candidates: Option<String>,
    /// When this central first stored the row (site-local text).
    pub created_at: String,
    /// When this central last changed the row (site-local text).
    pub updated_at: String,
}

/// What a reader needs besides a stored `history` row to give the whole [`HistoryRow`]: the
/// columns derived at read time (migration 0011) are not stored. The site-local times and the
/// duration are made from the stored instants in the site's time zone, `sync_status` from the
/// session's source central and this central's origin; `entry_event_id` and `event_id` are
/// stored only when they differ from the session id (see [`stored_id`]).
pub(crate) struct RowContext<'a> {
    /// The site's time zone.
    pub(crate) tz: &'a jiff::tz::TimeZone,
    /// This central's origin.
    pub(crate) own: &'a str,
}

impl RowContext<'_> {
    /// Fills the derived fields of a row read from its stored columns.
    fn complete(&self, row: &mut HistoryRow) {
        let local = |ms: i64| parkmesh_parking::time::format_local(ms, self.tz);
        if row.entry_ms.is_some() && row.entry_event_id.is_none() {
            row.entry_event_id = Some(row.session_id.clone());
        }
        if row.event_id.is_none() {
            row.event_id = Some(row.session_id.clone());
        }
        row.entry_time = row.entry_ms.map(local);
        row.exit_time = row.exit_ms.map(local);
        row.last_location_time = row.last_location_ms.map(local);
        row.duration = row
            .entry_ms
            .zip(row.exit_ms)
            .map(|(entry, exit)| parkmesh_parking::fee::duration_text(exit.saturating_sub(entry)));
        row.sync_status = if row.source_central.as_deref() == Some(self.own) {
            "LOCAL"
        } else {
            "SYNCED"
        }
        .to_owned();
    }
}

/// How `entry_event_id` and `event_id` are stored: `None` (NULL) when the id is the session id,
/// which the reader puts back ([`RowContext`]); a session's entry is its opening event, so both
/// are nearly always the session id.
pub(crate) fn stored_id<'a>(id: &'a Option<String>, session_id: &str) -> Option<&'a str> {
    id.as_deref().filter(|id| *id != session_id)
}

/// A command's time: the instant and its site-local text (`created_at` / `updated_at` of the rows
/// it writes).
pub(crate) struct Now {
    /// The instant (ms).
    pub(crate) ms: i64,
    /// Its site-local text.
    pub(crate) text: String,
}

impl Now {
    /// `ms` with its text in `tz`.
    pub(crate) fn new(ms: i64, tz: &jiff::tz::TimeZone) -> Self {
        Self {
            ms,
            text: parkmesh_parking::time::format_local(ms, tz),
        }
    }
}

/// How `created_at` and `updated_at` are stored: the instant of the site-local text (an integer,
/// ms) when formatting it back in `tz` gives the same text, else the text itself (as rows written
/// before migration 0011 hold it). The reader formats an integer in the site's time zone.
/// `now` (the command's time, whose text most rows carry) is answered without parsing.
pub(crate) fn stored_time(
    text: &str,
    tz: &jiff::tz::TimeZone,
    now: &Now,
) -> rusqlite::types::Value {
    if text == now.text {
        return rusqlite::types::Value::Integer(now.ms);
    }
    match parkmesh_parking::time::parse_local(text, tz) {
        Some(ms) if parkmesh_parking::time::format_local(ms, tz) == text => {
            rusqlite::types::Value::Integer(ms)
        }
        _ => rusqlite::types::Value::Text(text.to_owned()),
    }
}

impl RowContext<'_> {
    /// A stored time column read through the pool (sqlx): formatted when an integer.
    fn time_of(&self, r: &SqliteRow, col: &str) -> Result<String, StorageError> {
        use sqlx::{TypeInfo, ValueRef};
        Ok(if r.try_get_raw(col)?.type_info().name() == "INTEGER" {
            parkmesh_parking::time::format_local(r.try_get::<i64, _>(col)?, self.tz)
        } else {
            r.try_get(col)?
        })
    }

    /// The same for the writer's rusqlite row, column `i`.
    fn time_of_w(&self, r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<String> {
        Ok(match r.get_ref(i)? {
            rusqlite::types::ValueRef::Integer(ms) => {
                parkmesh_parking::time::format_local(ms, self.tz)
            }
            _ => r.get(i)?,
        })
    }
}

/// Generates, from the one list of stored `history` columns (each named like its [`HistoryRow`]
/// field; the two ids of [`stored_id`] and the two times of [`stored_time`] are read after them), the sqlx reader (by column name,
/// for `SELECT *`) and the writer's rusqlite reader (by position, for `SELECT`
/// [`HISTORY_COLUMNS`]; looking columns up by name costs a scan of the column names per field).
macro_rules! history_columns {
    ($($col:ident),* $(,)?) => {
        /// The stored `history` columns in the order [`history_row_w`] reads them.
        pub(crate) const HISTORY_COLUMNS: &str =
            concat!(stringify!($($col),*), ", entry_event_id, event_id, created_at, updated_at");

        pub(crate) fn history_row(r: &SqliteRow, cx: &RowContext<'_>) -> Result<HistoryRow, StorageError> {
            let mut row = HistoryRow {
                $($col: r.try_get(stringify!($col))?,)*
                entry_event_id: r.try_get("entry_event_id")?,
                event_id: r.try_get("event_id")?,
                created_at: cx.time_of(r, "created_at")?,
                updated_at: cx.time_of(r, "updated_at")?,
                // The derived fields, filled by `complete`.
                ..HistoryRow::default()
            };
            cx.complete(&mut row);
            Ok(row)
        }

        /// The same for the writer's rusqlite connection, from a row selected with
        /// [`HISTORY_COLUMNS`].
        pub(crate) fn history_row_w(r: &rusqlite::Row<'_>, cx: &RowContext<'_>) -> rusqlite::Result<HistoryRow> {
            let mut i = 0usize;
            let mut next = || {
                i += 1;
                i - 1
            };
            // Fields are evaluated in the order written, which is the order of the columns.
            let mut row = HistoryRow {
                $($col: r.get(next())?,)*
                entry_event_id: r.get(next())?,
                event_id: r.get(next())?,
                created_at: cx.time_of_w(r, next())?,
                updated_at: cx.time_of_w(r, next())?,
                ..HistoryRow::default()
            };
            cx.complete(&mut row);
            Ok(row)
        }

        /// The stored columns (but `id` and `session_id`) whose values differ between `old` and
        /// `new`, with `new`'s values: what an `UPDATE` of `old`'s row to `new` has to write.
        pub(crate) fn history_diff<'a>(
            old: &'a HistoryRow,
            new: &'a HistoryRow,
        ) -> Vec<(&'static str, &'a dyn rusqlite::ToSql)> {
            let mut diff: Vec<(&'static str, &'a dyn rusqlite::ToSql)> = Vec::new();
            $(
                if old.$col != new.$col && !matches!(stringify!($col), "id" | "session_id") {
                    diff.push((stringify!($col), &new.$col));
                }
            )*
            diff
        }
    };
}

history_columns!(
    id,
    session_id,
    plate_key,
    exit_event_id,
    source_central,
    edge_id,
    plate_id,
    plate_view,
    entry_ms,
    entry_camera_id,
    entry_camera_name,
    entry_confidence,
    entry_source,
    exit_ms,
    exit_camera_id,
    exit_camera_name,
    exit_confidence,
    exit_source,
    fee,
    status,
    exception,
    exempt,
    is_anomaly,
    deleted,
    last_location,
    last_location_ms,
    entry_late,
    exit_late,
    time_clamped,
    entry_operator,
    exit_operator,
    exit_plate,
    exit_plate_view,
    plate_match,
    match_candidates,
);

/// Dashboard counters for one site-local day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Open, non-deleted sessions.
    pub vehicles_in_parking: i64,
    /// Entries whose entry time falls in the day.
    pub entries_today: i64,
    /// Exits whose exit time falls in the day.
    pub exits_today: i64,
    /// Sum of fees of those exits (VND).
    pub revenue_today: i64,
}

/// A conflict found by the fold.
#[derive(Debug, Clone, PartialEq)]
pub struct ConflictRow {
    /// Local row id.
    pub id: i64,
    /// Plate.
    pub plate_key: String,
    /// Kind (e.g. `concurrent_entry`).
    pub kind: String,
    /// Session that won.
    pub winner: String,
    /// Events that lost.
    pub losers: Vec<String>,
    /// Business time of the conflict.
    pub at_ms: i64,
}

/// One audit row of an operator change.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRow {
    /// Local row id.
    pub id: i64,
    /// Local history id of the session, when the session is present here.
    pub history_id: Option<i64>,
    /// Global session id.
    pub session_id: String,
    /// Event id of the change.
    pub change_event: String,
    /// `UPDATE` or `DELETE`.
    pub change_type: String,
    /// Plate before.
    pub old_plate_id: Option<String>,
    /// Plate view before.
    pub old_plate_view: Option<String>,
    /// Plate after.
    pub new_plate_id: Option<String>,
    /// Plate view after.
    pub new_plate_view: Option<String>,
    /// When the change was made (ms).
    pub changed_at_ms: i64,
    /// Operator.
    pub changed_by: String,
}

/// An open session last seen at a place (`GET /api/parking/occupancy`).
#[derive(Debug, Clone, PartialEq)]
pub struct LocatedRow {
    /// Plate as read.
    pub plate_id: String,
    /// Plate as displayed.
    pub plate_view: String,
    /// Entry time, site-local text.
    pub entry_time: Option<String>,
    /// Where it was last seen (a zone's `location_name`).
    pub location: String,
    /// When it was last seen there, site-local text.
    pub location_time: Option<String>,
    /// Seen in the lot without an entry.
    pub is_anomaly: bool,
}

/// One in-lot zone.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneRow {
    /// Zone name (the parking-lot camera's name).
    pub location_name: String,
    /// Capacity.
    pub capacity: i64,
    /// Camera id.
    pub camera_id: Option<i64>,
    /// Camera type.
    pub camera_type: Option<String>,
    /// Edge address.
    pub edge_id: Option<String>,
}

/// One edge camera known from heartbeats.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraRow {
    /// Camera id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Type (`ENTRY`, `EXIT`, `PARKING_LOT`).
    pub camera_type: String,
    /// Last heartbeat (ms).
    pub last_heartbeat_ms: Option<i64>,
    /// Counter reported by the edge.
    pub events_sent: i64,
    /// Counter reported by the edge.
    pub events_failed: i64,
    /// First seen (ms).
    pub created_at_ms: i64,
    /// Last change (ms).
    pub updated_at_ms: i64,
}

/// `SELECT` of the `history` columns [`history_row_w`] reads, followed by `rest`.
pub(crate) fn select_history(rest: &str) -> String {
    format!("SELECT {HISTORY_COLUMNS} FROM history {rest}")
}

/// Entries and exits of one site (by the central whose gate saw them) in a time range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteCounts {
    /// The central id.
    pub site: String,
    /// Sessions that entered at this site.
    pub entries: i64,
    /// Sessions that left at this site.
    pub exits: i64,
}

/// Filters of `GET /api/parking/history` (seed semantics, with "today" in the site time zone).
#[derive(Debug, Clone, Default)]
pub struct HistoryQuery {
    /// Rows to return (the caller bounds it).
    pub limit: i64,
    /// Rows to skip.
    pub offset: i64,
    /// Only sessions whose entry (or, for exceptions, exit) falls in `[start_ms, end_ms)`.
    pub day: Option<(i64, i64)>,
    /// Exact status (`IN` / `OUT`).
    pub status: Option<String>,
    /// Plate substring, compared after removing spaces, `-` and `.`.
    pub search: Option<String>,
    /// Only open sessions (takes precedence over `status`).
    pub in_parking_only: bool,
}

impl HistoryQuery {
    /// Only open sessions: `in_parking_only`, or the status `IN`.
    pub(crate) fn open_only(&self) -> bool {
        self.in_parking_only || self.status.as_deref() == Some("IN")
    }

    /// The plate search without spaces, `-` and `.`, upper case (what both plate columns are
    /// compared with).
    pub(crate) fn normalized_search(&self) -> Option<String> {
        self.search.as_ref().map(|s| {
            s.to_uppercase()
                .chars()
                .filter(|c| !matches!(c, ' ' | '-' | '.'))
                .collect()
        })
    }
}

/// One plate on the watch list.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchEntry {
    /// The newest `watchlist.set` of the plate.
    pub entry: parkmesh_parking::payload::WatchPayload,
    /// Its event id.
    pub event_id: String,
}
