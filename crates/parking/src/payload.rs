//! Typed payloads of the event kinds this crate owns, with their schema versions.
//!
//! Events travel with `payload: serde_json::Value`; these types are the schema. Decoding is
//! lenient about unknown fields (newer centrals may add some) and strict about types.

use parkmesh_protocol::{Event, EventKind};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::ParkingError;
pub use crate::fee::Tariff;
pub use crate::subscription::Subscription;

/// Implemented by every payload type.
pub trait Payload: Serialize + DeserializeOwned {
    /// The event kind carrying this payload.
    const KIND: EventKind;
    /// Current schema version of the payload.
    const SCHEMA: u16 = 1;

    /// The payload as JSON.
    fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Decodes the payload of `event`.
    fn from_event(event: &Event) -> Result<Self, ParkingError> {
        serde_json::from_value(event.payload.clone()).map_err(|e| ParkingError::BadPayload {
            event_id: event.id.to_string(),
            kind: event.kind.as_str().to_owned(),
            reason: e.to_string(),
        })
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

impl Payload for EntryPayload {
    const KIND: EventKind = EventKind::VehicleEntry;
}

/// A vehicle left (`vehicle.exit`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExitPayload {
    /// Normalised plate.
    pub plate_id: String,
    /// Plate as shown.
    pub plate_view: String,
    /// Business time (ms).
    pub at_ms: i64,
    /// The edge timestamp was replaced by server time.
    #[serde(default)]
    pub time_clamped: bool,
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
    /// The edge's own event id.
    #[serde(default)]
    pub edge_event_id: Option<String>,
    /// The edge id.
    #[serde(default)]
    pub edge_id: Option<String>,
    /// The entry this exit closes: the entry's edge event id or global event id.
    #[serde(default)]
    pub entry_ref: Option<String>,
    /// The tariff in force at the exiting central.
    #[serde(default)]
    pub tariff: Tariff,
    /// Subscription type that exempts the fee, decided at the exiting central.
    #[serde(default)]
    pub exempt: Option<String>,
}

impl Payload for ExitPayload {
    const KIND: EventKind = EventKind::VehicleExit;
}

impl ExitPayload {
    /// An exit with the gate facts of `gate` (the same fields an entry carries), closing the
    /// entry named by `entry_ref` if any; the tariff and exemption are filled in by the central
    /// that records it.
    pub fn at_gate(gate: EntryPayload, entry_ref: Option<String>) -> Self {
        Self {
            plate_id: gate.plate_id,
            plate_view: gate.plate_view,
            at_ms: gate.at_ms,
            time_clamped: gate.time_clamped,
            camera_id: gate.camera_id,
            camera_name: gate.camera_name,
            camera_type: gate.camera_type,
            confidence: gate.confidence,
            source: gate.source,
            edge_event_id: gate.edge_event_id,
            edge_id: gate.edge_id,
            entry_ref,
            tariff: Tariff::default(),
            exempt: None,
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
    const KIND: EventKind = EventKind::HistoryDelete;
}

impl Payload for Tariff {
    const KIND: EventKind = EventKind::FeesSet;
}

/// The subscription list (`subscriptions.set`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionsPayload {
    /// Every pass.
    pub subscriptions: Vec<Subscription>,
}

impl Payload for SubscriptionsPayload {
    const KIND: EventKind = EventKind::SubscriptionsSet;
}

/// The staff roster (`staff.set`); records keep the seed's free-form shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaffPayload {
    /// Roster entries.
    pub staff: Vec<serde_json::Value>,
}

impl Payload for StaffPayload {
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
    const KIND: EventKind = EventKind::ZoneConfig;
}
