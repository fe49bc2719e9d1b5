//! Typed payloads of the event kinds this crate owns, with their schema versions.
//!
//! Events travel with `payload: serde_json::Value`; these types are the schema. Decoding is
//! lenient about unknown fields (newer centrals may add some) and strict about types.

use parkmesh_protocol::{Event, EventKind};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::ParkingError;
use crate::error::field;
pub use crate::fee::Tariff;
pub use crate::subscription::Subscription;

/// Implemented by every payload type.
pub trait Payload: Serialize + DeserializeOwned {
    /// The event kind carrying this payload.
    const KIND: EventKind;
    /// Current schema version of the payload.
    const SCHEMA: u16 = 1;

    /// Checks field values; the error names the first bad field.
    fn validate(&self) -> Result<(), ParkingError>;

    /// The payload as JSON.
    fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Decodes the payload of `event`; an event of another kind is refused.
    fn from_event(event: &Event) -> Result<Self, ParkingError> {
        let bad = |reason: String| ParkingError::BadPayload {
            event_id: event.id.to_string(),
            kind: event.kind.as_str().to_owned(),
            reason,
        };
        if event.kind != Self::KIND {
            return Err(bad(format!("expected a {} event", Self::KIND.as_str())));
        }
        Self::deserialize(&event.payload).map_err(|e| bad(e.to_string()))
    }
}

/// A vehicle entered (`vehicle.entry`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryPayload {
    /// Normalised plate.
    pub plate_id: String,
    /// Plate as shown.
    pub plate_view: String,
    /// Business time (ms): the edge's timestamp, or server time when it was out of bounds.
    pub at_ms: i64,
    /// The edge timestamp was out of bounds and replaced by server time.
    #[serde(default)]
    pub time_clamped: bool,
    /// The event reached the central well after its gate time (an edge's queue replayed after an
    /// outage); the gate time is kept unless `time_clamped`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub late: bool,
    /// Who made a manual (operator) entry or exit; `None` for camera events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// Camera id.
    #[serde(default)]
    pub camera_id: Option<i64>,
    /// Camera name.
    #[serde(default)]
    pub camera_name: String,
    /// Camera type.
    #[serde(default)]
    pub camera_type: String,
    /// OCR confidence.
    #[serde(default)]
    pub confidence: f64,
    /// `auto` / `manual`.
    #[serde(default)]
    pub source: String,
    /// The edge's own event id, when it sent one.
    #[serde(default)]
    pub edge_event_id: Option<String>,
    /// The edge (camera) id as text.
    #[serde(default)]
    pub edge_id: Option<String>,
}

/// Building a gate read field by field, for tests, examples and embedders: start with
/// [`EntryPayload::read`] and set what matters with the `with_*` methods.
impl EntryPayload {
    /// An automatic read of `plate` (shown as given) at `at_ms`, with no camera, no edge,
    /// confidence 0 and source `auto`.
    pub fn read(plate: &str, at_ms: i64) -> Self {
        Self {
            plate_id: plate.to_owned(),
            plate_view: plate.to_owned(),
            at_ms,
            time_clamped: false,
            late: false,
            operator: None,
            camera_id: None,
            camera_name: String::new(),
            camera_type: String::new(),
            confidence: 0.0,
            source: "auto".to_owned(),
            edge_event_id: None,
            edge_id: None,
        }
    }

    /// The plate as shown, when it differs from the normalised one.
    pub fn with_view(mut self, plate_view: &str) -> Self {
        self.plate_view = plate_view.to_owned();
        self
    }

    /// The camera that read it: id, name and type (`ENTRY`, `EXIT`, `PARKING_LOT`).
    pub fn with_camera(mut self, id: i64, name: &str, camera_type: &str) -> Self {
        self.camera_id = Some(id);
        self.camera_name = name.to_owned();
        self.camera_type = camera_type.to_owned();
        self
    }

    /// The read's confidence and source (`auto`, `manual`, or an embedder's own).
    pub fn with_read(mut self, confidence: f64, source: &str) -> Self {
        self.confidence = confidence;
        self.source = source.to_owned();
        self
    }

    /// The edge that sent it and, when it sent one, the edge's own event id.
    pub fn with_edge(mut self, edge_id: &str, edge_event_id: Option<String>) -> Self {
        self.edge_id = Some(edge_id.to_owned());
        self.edge_event_id = edge_event_id;
        self
    }
}

impl Payload for EntryPayload {
    fn validate(&self) -> Result<(), ParkingError> {
        plate_fields(&self.plate_id, &self.plate_view)?;
        instant("at_ms", self.at_ms)?;
        if !self.confidence.is_finite() || !(0.0..=100.0).contains(&self.confidence) {
            return Err(field("confidence", "must be a number from 0 to 100"));
        }
        text("camera_name", Some(&self.camera_name), MAX_TEXT)?;
        text("camera_type", Some(&self.camera_type), MAX_TEXT)?;
        text("source", Some(&self.source), MAX_TEXT)?;
        text("edge_event_id", self.edge_event_id.as_deref(), MAX_ID)?;
        text("edge_id", self.edge_id.as_deref(), MAX_TEXT)?;
        text("operator", self.operator.as_deref(), MAX_TEXT)
    }
    const KIND: EventKind = EventKind::VehicleEntry;
}

/// A vehicle left (`vehicle.exit`): the same gate facts as an entry, plus what closes and
/// prices the session. On the wire the gate fields sit at the top level beside the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExitPayload {
    /// What the exit gate saw (plate, business time, camera, confidence, ...).
    #[serde(flatten)]
    pub gate: EntryPayload,
    /// The entry this exit closes: the entry's edge event id or global event id.
    #[serde(default)]
    pub entry_ref: Option<String>,
    /// The tariff in force at the exiting central.
    #[serde(default)]
    pub tariff: Tariff,
    /// Subscription type that exempts the fee, decided at the exiting central.
    #[serde(default)]
    pub exempt: Option<String>,
    /// How the exit was matched, decided at the exiting central (absent: by its own plate).
    #[serde(flatten)]
    pub matched: PlateMatch,
}

/// The exiting central's exit matching (`exit_match`): with `plate_match: "confusable"` the
/// exit's `plate_id` is the plate of the session it closes and `exit_plate` what the camera
/// read; an exit left unmatched lists the open sessions' plates it could have closed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlateMatch {
    /// The plate the exit camera read, when it was matched to another plate's session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_plate: Option<String>,
    /// That plate as shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_plate_view: Option<String>,
    /// `"confusable"` ([`crate::plate::MATCH_CONFUSABLE`]) for such a match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plate_match: Option<String>,
    /// Plates of the open sessions an exit could have closed when more than one could.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_candidates: Vec<String>,
}

impl PlateMatch {
    /// Whether the exit was matched to a confusable plate's session.
    pub fn is_confusable(&self) -> bool {
        self.plate_match.as_deref() == Some(crate::plate::MATCH_CONFUSABLE)
            && self.exit_plate.is_some()
    }

    fn validate(&self) -> Result<(), ParkingError> {
        if let Some(plate) = &self.exit_plate {
            plate_fields(plate, self.exit_plate_view.as_deref().unwrap_or(plate))?;
        }
        text("plate_match", self.plate_match.as_deref(), MAX_ID)?;
        if self.match_candidates.len() > MAX_CANDIDATES {
            return Err(field(
                "match_candidates",
                format!("at most {MAX_CANDIDATES} plates"),
            ));
        }
        self.match_candidates
            .iter()
            .try_for_each(|c| required("match_candidates", c, MAX_ID))
    }
}

/// Most candidate plates an unmatched exit lists.
pub const MAX_CANDIDATES: usize = 16;

/// An operator undid an exit's confusable match (`exit.unmatch`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExitUnmatchPayload {
    /// The exit's event id text.
    pub session: String,
    /// Operator.
    #[serde(default)]
    pub changed_by: String,
}

impl Payload for ExitUnmatchPayload {
    fn validate(&self) -> Result<(), ParkingError> {
        session_id(&self.session)?;
        text("changed_by", Some(&self.changed_by), MAX_TEXT)
    }
    const KIND: EventKind = EventKind::ExitUnmatch;
}

impl Payload for ExitPayload {
    fn validate(&self) -> Result<(), ParkingError> {
        self.gate.validate()?;
        text("entry_ref", self.entry_ref.as_deref(), MAX_ID)?;
        text("exempt", self.exempt.as_deref(), MAX_ID)?;
        self.matched.validate()?;
        Tariff::validate(&self.tariff)
    }
    const KIND: EventKind = EventKind::VehicleExit;
}

impl ExitPayload {
    /// An exit with the gate facts of `gate`, closing the entry named by `entry_ref` if any; the
    /// tariff and exemption are filled in by the central that records it.
    pub fn at_gate(gate: EntryPayload, entry_ref: Option<String>) -> Self {
        Self {
            gate,
            entry_ref,
            tariff: Tariff::default(),
            exempt: None,
            matched: PlateMatch::default(),
        }
    }
}

/// An in-lot camera saw a vehicle (`vehicle.location`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocationPayload {
    /// Normalised plate.
    pub plate_id: String,
    /// Plate as shown.
    pub plate_view: String,
    /// Zone / location name.
    pub location: String,
    /// Business time (ms).
    pub at_ms: i64,
    /// Camera id.
    #[serde(default)]
    pub camera_id: Option<i64>,
    /// Camera name.
    #[serde(default)]
    pub camera_name: String,
    /// The edge's own event id.
    #[serde(default)]
    pub edge_event_id: Option<String>,
}

impl Payload for LocationPayload {
    fn validate(&self) -> Result<(), ParkingError> {
        plate_fields(&self.plate_id, &self.plate_view)?;
        instant("at_ms", self.at_ms)?;
        required("location", &self.location, MAX_TEXT)?;
        text("camera_name", Some(&self.camera_name), MAX_TEXT)?;
        text("edge_event_id", self.edge_event_id.as_deref(), MAX_ID)
    }
    const KIND: EventKind = EventKind::VehicleLocation;
}

/// An operator corrected a session's plate (`history.edit`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEditPayload {
    /// Target session id (event id text).
    pub session: String,
    /// New plate id.
    pub plate_id: String,
    /// New plate view.
    pub plate_view: String,
    /// Operator.
    #[serde(default)]
    pub changed_by: String,
}

impl Payload for HistoryEditPayload {
    fn validate(&self) -> Result<(), ParkingError> {
        session_id(&self.session)?;
        plate_fields(&self.plate_id, &self.plate_view)?;
        text("changed_by", Some(&self.changed_by), MAX_TEXT)
    }
    const KIND: EventKind = EventKind::HistoryEdit;
}

/// An operator deleted a session (`history.delete`): a tombstone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryDeletePayload {
    /// Target session id.
    pub session: String,
    /// Operator.
    #[serde(default)]
    pub changed_by: String,
}

impl Payload for HistoryDeletePayload {
    fn validate(&self) -> Result<(), ParkingError> {
        session_id(&self.session)?;
        text("changed_by", Some(&self.changed_by), MAX_TEXT)
    }
    const KIND: EventKind = EventKind::HistoryDelete;
}

/// What a watch-list entry asks for when its plate passes a gate.
pub const WATCH_ACTIONS: [&str; 2] = ["alert", "deny"];
/// The `action` of a `watchlist.set` that takes the plate off the list.
pub const WATCH_REMOVE: &str = "remove";

/// A plate put on the network's watch list, changed or taken off (`watchlist.set`); the newest
/// event per plate (by [`Event::order_key`]) is the plate's entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchPayload {
    /// Normalised plate.
    pub plate_id: String,
    /// Plate as shown.
    pub plate_view: String,
    /// Why it is watched (stolen, unpaid, banned, ...).
    #[serde(default)]
    pub reason: String,
    /// `alert`, `deny` ([`WATCH_ACTIONS`]) or `remove` ([`WATCH_REMOVE`]).
    pub action: String,
    /// Operator.
    #[serde(default)]
    pub changed_by: String,
}

impl WatchPayload {
    /// Whether the plate is on the list after this event (not taken off).
    pub fn is_listed(&self) -> bool {
        self.action != WATCH_REMOVE
    }
}

impl Payload for WatchPayload {
    fn validate(&self) -> Result<(), ParkingError> {
        plate_fields(&self.plate_id, &self.plate_view)?;
        text("reason", Some(&self.reason), MAX_TEXT)?;
        text("changed_by", Some(&self.changed_by), MAX_TEXT)?;
        if !WATCH_ACTIONS.contains(&self.action.as_str()) && self.action != WATCH_REMOVE {
            return Err(field(
                "action",
                format!("must be \"alert\" or \"deny\", not {:?}", self.action),
            ));
        }
        Ok(())
    }
    const KIND: EventKind = EventKind::WatchlistSet;
}

impl Payload for Tariff {
    fn validate(&self) -> Result<(), ParkingError> {
        Tariff::validate(self)
    }
    const KIND: EventKind = EventKind::FeesSet;
}

/// The subscription list (`subscriptions.set`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionsPayload {
    /// Every pass.
    pub subscriptions: Vec<Subscription>,
}

impl Payload for SubscriptionsPayload {
    fn validate(&self) -> Result<(), ParkingError> {
        if self.subscriptions.len() > MAX_RECORDS {
            return Err(field(
                "subscriptions",
                format!("at most {MAX_RECORDS} records"),
            ));
        }
        self.subscriptions
            .iter()
            .enumerate()
            .try_for_each(|(i, s)| s.validate(i))
    }
    const KIND: EventKind = EventKind::SubscriptionsSet;
}

/// The staff roster (`staff.set`); records keep the seed's free-form shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaffPayload {
    /// Roster entries.
    pub staff: Vec<serde_json::Value>,
}

impl Payload for StaffPayload {
    fn validate(&self) -> Result<(), ParkingError> {
        if self.staff.len() > MAX_RECORDS {
            return Err(field("staff", format!("at most {MAX_RECORDS} records")));
        }
        match self.staff.iter().position(|s| !s.is_object()) {
            Some(i) => Err(field(&format!("staff[{i}]"), "must be an object")),
            None => Ok(()),
        }
    }
    const KIND: EventKind = EventKind::StaffSet;
}

/// An in-lot zone configuration (`zone.config`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneConfigPayload {
    /// Zone name (the parking-lot camera's name).
    pub location_name: String,
    /// Capacity.
    pub capacity: i64,
    /// Camera id.
    #[serde(default)]
    pub camera_id: Option<i64>,
    /// Camera type.
    #[serde(default)]
    pub camera_type: Option<String>,
    /// Edge address.
    #[serde(default)]
    pub edge_id: Option<String>,
}

impl Payload for ZoneConfigPayload {
    fn validate(&self) -> Result<(), ParkingError> {
        required("location_name", &self.location_name, MAX_TEXT)?;
        if !(0..=MAX_CAPACITY).contains(&self.capacity) {
            return Err(field(
                "capacity",
                format!("must be a whole number from 0 to {MAX_CAPACITY}"),
            ));
        }
        text("camera_type", self.camera_type.as_deref(), MAX_TEXT)?;
        text("edge_id", self.edge_id.as_deref(), MAX_TEXT)
    }
    const KIND: EventKind = EventKind::ZoneConfig;
}

/// Longest free-text field (camera names, locations, operators).
pub const MAX_TEXT: usize = 128;
/// Longest id field (edge event ids, entry refs).
pub const MAX_ID: usize = 128;
/// Most records in a subscription list or staff roster.
pub const MAX_RECORDS: usize = 100_000;
/// Largest zone capacity.
pub const MAX_CAPACITY: i64 = 1_000_000;
/// Latest business time accepted (year 9999), in ms.
const MAX_AT_MS: i64 = 253_402_300_799_999;

fn is_false(b: &bool) -> bool {
    !*b
}

fn text(name: &str, value: Option<&str>, max: usize) -> Result<(), ParkingError> {
    match value {
        Some(v) if v.chars().count() > max => {
            Err(field(name, format!("must be at most {max} characters")))
        }
        _ => Ok(()),
    }
}

fn required(name: &str, value: &str, max: usize) -> Result<(), ParkingError> {
    if value.trim().is_empty() {
        return Err(field(name, "must not be empty"));
    }
    text(name, Some(value), max)
}

fn plate_fields(plate_id: &str, plate_view: &str) -> Result<(), ParkingError> {
    let max = crate::plate::MAX_PLATE_INPUT;
    if plate_id.is_empty()
        || plate_id.len() > max
        || !plate_id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return Err(field(
            "plate_id",
            format!("must be 1 to {max} characters of A-Z and 0-9"),
        ));
    }
    required("plate_view", plate_view, max)
}

fn instant(name: &str, ms: i64) -> Result<(), ParkingError> {
    if (0..=MAX_AT_MS).contains(&ms) {
        Ok(())
    } else {
        Err(field(
            name,
            "must be milliseconds since 1970 before year 10000",
        ))
    }
}

fn session_id(session: &str) -> Result<(), ParkingError> {
    parkmesh_protocol::EventId::parse(session)
        .map(drop)
        .map_err(|_| {
            field(
                "session",
                "must be an event id <central>:<incarnation>:<seq>",
            )
        })
}

#[cfg(test)]
#[path = "payload_tests.rs"]
mod tests;
