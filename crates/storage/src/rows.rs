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
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
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
    /// When this central first stored the row (site-local text).
    pub created_at: String,
    /// When this central last changed the row (site-local text).
    pub updated_at: String,
}

/// Generates, from the one list of `history` columns (each named like its [`HistoryRow`]
/// field), the sqlx reader (by column name, for `SELECT *`) and the writer's rusqlite reader (by
/// position, for `SELECT` [`HISTORY_COLUMNS`]; looking columns up by name costs a scan of the
/// column names per field).
macro_rules! history_columns {
    ($($col:ident),* $(,)?) => {
        /// The `history` columns in the order [`history_row_w`] reads them.
        pub(crate) const HISTORY_COLUMNS: &str = stringify!($($col),*);

        pub(crate) fn history_row(r: &SqliteRow) -> Result<HistoryRow, StorageError> {
            Ok(HistoryRow { $($col: r.try_get(stringify!($col))?),* })
        }

        /// The same for the writer's rusqlite connection, from a row selected with
        /// [`HISTORY_COLUMNS`].
        pub(crate) fn history_row_w(r: &rusqlite::Row<'_>) -> rusqlite::Result<HistoryRow> {
            let mut i = 0usize;
            let mut next = || {
                i += 1;
                i - 1
            };
            // Fields are evaluated in the order written, which is the order of the columns.
            Ok(HistoryRow { $($col: r.get(next())?),* })
        }

        /// The columns (but `id` and `session_id`) whose values differ between `old` and `new`,
        /// with `new`'s values: what an `UPDATE` of `old`'s row to `new` has to write.
        pub(crate) fn history_diff<'a>(
            old: &HistoryRow,
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
    entry_event_id,
    exit_event_id,
    event_id,
    source_central,
    edge_id,
    plate_id,
    plate_view,
    entry_ms,
    entry_time,
    entry_camera_id,
    entry_camera_name,
    entry_confidence,
    entry_source,
    exit_ms,
    exit_time,
    exit_camera_id,
    exit_camera_name,
    exit_confidence,
    exit_source,
    duration,
    fee,
    status,
    sync_status,
    exception,
    exempt,
    is_anomaly,
    deleted,
    last_location,
    last_location_ms,
    last_location_time,
    entry_late,
    exit_late,
    time_clamped,
    entry_operator,
    exit_operator,
    created_at,
    updated_at,
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
