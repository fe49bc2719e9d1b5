//! What a fold produces: sessions with their entry and exit sides, conflicts, and the rule that
//! an open session blocks its plate's next entry. The fold (`fold`) builds them; they are
//! re-exported there, so `parkmesh_parking::fold::Session` is their public path.

use parkmesh_protocol::{CentralId, Event};

use crate::payload::{EntryPayload, LocationPayload, PlateMatch};

/// Conflict kind: two entries for one plate with no exit between them.
pub const CONCURRENT_ENTRY: &str = "concurrent_entry";
/// Conflict kind: an exit naming an entry whose session is already closed.
pub const DUPLICATE_EXIT: &str = "duplicate_exit";

/// Open or closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    /// Inside the lot.
    In,
    /// Left (or superseded).
    Out,
}

/// One side (entry or exit) of a session.
#[derive(Debug, Clone, PartialEq)]
pub struct Side {
    /// Event id text.
    pub event_id: String,
    /// Business time (ms).
    pub at_ms: i64,
    /// Camera id.
    pub camera_id: Option<i64>,
    /// Camera name.
    pub camera_name: String,
    /// OCR confidence.
    pub confidence: f64,
    /// Source (`auto`, `manual`, `parking_lot_auto` for an anomaly sighting).
    pub source: String,
    /// Central that recorded it.
    pub origin: CentralId,
    /// Edge id.
    pub edge_id: Option<String>,
    /// The edge's event id.
    pub edge_event_id: Option<String>,
    /// It reached a central well after its gate time (a replayed edge queue).
    pub late: bool,
    /// Its gate time was out of bounds and replaced by the recording central's clock.
    pub clamped: bool,
    /// Who made it, for a manual (operator) entry or exit.
    pub operator: Option<String>,
    /// For an exit: how it was matched to its session (default for entries and exact exits).
    pub matched: PlateMatch,
}

impl Side {
    /// The side a gate event (an entry, or the gate half of an exit) makes.
    pub(crate) fn gate(e: &Event, p: &EntryPayload) -> Self {
        Self {
            confidence: p.confidence,
            source: p.source.clone(),
            edge_id: p.edge_id.clone(),
            edge_event_id: p.edge_event_id.clone(),
            late: p.late,
            clamped: p.time_clamped,
            operator: p.operator.clone(),
            ..Self::bare(e, p.at_ms, p.camera_id, &p.camera_name)
        }
    }

    /// The entry side an in-lot sighting without an entry makes (an anomaly's first sighting).
    pub(crate) fn sighting(e: &Event, p: &LocationPayload) -> Self {
        Self {
            source: "parking_lot_auto".into(),
            edge_event_id: p.edge_event_id.clone(),
            ..Self::bare(e, p.at_ms, p.camera_id, &p.camera_name)
        }
    }

    fn bare(e: &Event, at_ms: i64, camera_id: Option<i64>, camera_name: &str) -> Self {
        Self {
            event_id: e.id.to_string(),
            at_ms,
            camera_id,
            camera_name: camera_name.to_owned(),
            confidence: 0.0,
            source: String::new(),
            origin: e.id.origin.clone(),
            edge_id: None,
            edge_event_id: None,
            late: false,
            clamped: false,
            operator: None,
            matched: PlateMatch::default(),
        }
    }
}

/// One parking session.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// Id: the entry's event id text, else the event that opened it.
    pub id: String,
    /// Plate (after operator edits).
    pub plate_id: String,
    /// Plate as shown (after operator edits).
    pub plate_view: String,
    /// Entry side (for an anomaly: the first sighting).
    pub entry: Option<Side>,
    /// Exit side.
    pub exit: Option<Side>,
    /// Open or closed.
    pub status: SessionStatus,
    /// Fee in VND.
    pub fee: i64,
    /// Duration text.
    pub duration: Option<String>,
    /// An exit that matched no entry.
    pub exception: bool,
    /// Opened by an in-lot sighting without an entry.
    pub is_anomaly: bool,
    /// Tombstoned by an operator.
    pub deleted: bool,
    /// Last in-lot location.
    pub last_location: Option<String>,
    /// Last in-lot sighting (ms).
    pub last_location_ms: Option<i64>,
    /// Central whose event opened the session (the entry's origin once the entry is known).
    pub source_central: CentralId,
    /// Subscription type that exempted the fee.
    pub exempt: Option<String>,
    /// Import key of a session brought over from an original ParkAI database.
    pub import_key: Option<String>,
    /// Ids of the other imported copies of this session (same import key), in fold order.
    pub aliases: Vec<String>,
}

impl Session {
    /// A session opened by an event of `origin` with id `id`, IN, with neither side yet.
    pub(crate) fn new(id: String, plate_id: &str, plate_view: &str, origin: &CentralId) -> Self {
        Self {
            id,
            plate_id: plate_id.to_owned(),
            plate_view: plate_view.to_owned(),
            entry: None,
            exit: None,
            status: SessionStatus::In,
            fee: 0,
            duration: None,
            exception: false,
            is_anomaly: false,
            deleted: false,
            last_location: None,
            last_location_ms: None,
            source_central: origin.clone(),
            exempt: None,
            import_key: None,
            aliases: Vec::new(),
        }
    }

    /// Whether the session counts as "inside": IN, not deleted.
    pub fn is_open(&self) -> bool {
        self.status == SessionStatus::In && !self.deleted
    }

    /// Whether this session keeps its plate from entering again (see [`blocks_entry`]).
    pub fn blocks_entry(&self) -> bool {
        blocks_entry(self.status, self.deleted, self.is_anomaly)
    }

    /// Whether `target` (a session id or event id text) names this session.
    pub fn is_named_by(&self, target: &str) -> bool {
        self.id == target
            || self.entry.as_ref().is_some_and(|s| s.event_id == target)
            || self.exit.as_ref().is_some_and(|s| s.event_id == target)
            || self.aliases.iter().any(|a| a == target)
    }
}

/// A conflict found by the fold.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// Plate.
    pub plate_id: String,
    /// [`CONCURRENT_ENTRY`] or [`DUPLICATE_EXIT`].
    pub kind: String,
    /// Session that stands.
    pub winner: String,
    /// Events that lost, in fold order.
    pub losers: Vec<String>,
    /// Business time of the first loser.
    pub at_ms: i64,
}

/// Sessions and conflicts of one plate.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlateFold {
    /// Sessions in fold order.
    pub sessions: Vec<Session>,
    /// Conflicts in fold order.
    pub conflicts: Vec<Conflict>,
}

impl PlateFold {
    /// The open session (IN, not deleted), if any.
    pub fn open(&self) -> Option<&Session> {
        self.sessions.iter().rev().find(|s| s.is_open())
    }
}

/// The entry rule: a session with these facts keeps its plate from entering again when it is
/// open (IN, not deleted) and was opened by a real entry. A session opened by an in-lot sighting
/// without an entry (an anomaly) does not block: the entry supersedes it. The writer refuses an
/// entry while any of the plate's sessions blocks it.
pub fn blocks_entry(status: SessionStatus, deleted: bool, is_anomaly: bool) -> bool {
    status == SessionStatus::In && !deleted && !is_anomaly
}
