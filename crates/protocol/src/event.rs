//! The event: the one unit of truth that centrals append, store and replicate.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Errors building protocol values from untrusted input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// A central id must be 1..=64 characters of `A-Z a-z 0-9 . _ -`.
    #[error("invalid central id {0:?}: use 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'")]
    InvalidCentralId(String),
    /// An event id string must look like `<origin>:<seq>` with seq >= 1.
    #[error("invalid event id {0:?}: expected <central-id>:<seq> with seq >= 1")]
    InvalidEventId(String),
}

/// Identity of one central (one parking site). Validated: 1..=64 chars of `[A-Za-z0-9._-]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CentralId(String);

impl CentralId {
    /// Validates and wraps a central id.
    pub fn new(id: impl Into<String>) -> Result<Self, IdError> {
        let id = id.into();
        let ok = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(Self(id))
        } else {
            Err(IdError::InvalidCentralId(id))
        }
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CentralId {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<CentralId> for String {
    fn from(value: CentralId) -> Self {
        value.0
    }
}

impl fmt::Display for CentralId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One log stream: a central in one incarnation. A central that loses its database starts a new
/// incarnation and therefore a new stream whose sequence numbers start again at 1, so nothing it
/// mints can collide with what peers still hold of its earlier life.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StreamId {
    /// The central that appends to the stream.
    pub origin: CentralId,
    /// Incarnation of that central (chosen when its database was created).
    pub incarnation: u64,
}

impl StreamId {
    /// Parses the `<origin>:<incarnation>` text form.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let bad = || IdError::InvalidEventId(s.chars().take(100).collect());
        let (origin, inc) = s.rsplit_once(':').ok_or_else(bad)?;
        let incarnation: u64 = inc.parse().map_err(|_| bad())?;
        Ok(Self {
            origin: CentralId::new(origin).map_err(|_| bad())?,
            incarnation,
        })
    }
}

impl TryFrom<String> for StreamId {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<StreamId> for String {
    fn from(value: StreamId) -> Self {
        value.to_string()
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.origin, self.incarnation)
    }
}

/// Global identity of an event: its stream (origin central + incarnation) and its gap-free
/// sequence number in that stream (starting at 1). Unique across the mesh; the key of
/// deduplication. Text form: `<origin>:<incarnation>:<seq>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EventId {
    /// The central that appended the event.
    pub origin: CentralId,
    /// The origin's incarnation when it appended the event.
    pub incarnation: u64,
    /// Position in the stream, gap-free, starting at 1.
    pub seq: u64,
}

impl EventId {
    /// The stream this event belongs to.
    pub fn stream(&self) -> StreamId {
        StreamId {
            origin: self.origin.clone(),
            incarnation: self.incarnation,
        }
    }

    /// Parses the `<origin>:<incarnation>:<seq>` text form used in APIs and the database.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let bad = || IdError::InvalidEventId(s.chars().take(100).collect());
        let (stream, seq) = s.rsplit_once(':').ok_or_else(bad)?;
        let seq: u64 = seq.parse().map_err(|_| bad())?;
        if seq == 0 {
            return Err(bad());
        }
        let StreamId {
            origin,
            incarnation,
        } = StreamId::parse(stream).map_err(|_| bad())?;
        Ok(Self {
            origin,
            incarnation,
            seq,
        })
    }
}

impl fmt::Display for EventId {
    /// `origin:incarnation:seq`, assembled on the stack and written at once: ids are formatted
    /// several times per stored event, and `to_string()` then allocates once instead of growing
    /// its string piece by piece.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (mut inc, mut seq) = (itoa::Buffer::new(), itoa::Buffer::new());
        let parts = [
            self.origin.as_str(),
            ":",
            inc.format(self.incarnation),
            ":",
            seq.format(self.seq),
        ];
        // Origins are at most 64 bytes and each number at most 20 digits, so the id fits.
        let mut buf = [0u8; 128];
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if let Some(whole) = buf.get_mut(..len) {
            let mut at = 0;
            for part in parts {
                whole[at..at + part.len()].copy_from_slice(part.as_bytes());
                at += part.len();
            }
            if let Ok(text) = std::str::from_utf8(whole) {
                return f.write_str(text);
            }
        }
        parts.iter().try_for_each(|p| f.write_str(p))
    }
}

/// Hybrid logical clock timestamp: wall-clock milliseconds plus a counter that orders events
/// created within the same millisecond or after observing a clock that runs ahead. Used for
/// ordering only, never as the business time of an event.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Hlc {
    /// Milliseconds since the Unix epoch (UTC).
    pub wall_ms: u64,
    /// Logical counter within `wall_ms`.
    pub counter: u32,
}

/// What an event means. Known kinds are listed; anything else decodes as [`EventKind::Other`]
/// and is stored and relayed unchanged so that older centrals never drop newer events.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum EventKind {
    /// A vehicle entered at a gate (`vehicle.entry`).
    VehicleEntry,
    /// A vehicle left through a gate (`vehicle.exit`).
    VehicleExit,
    /// An in-lot camera saw a vehicle (`vehicle.location`).
    VehicleLocation,
    /// An operator corrected a session's plate (`history.edit`).
    HistoryEdit,
    /// An operator deleted a session; a tombstone, never a hard delete (`history.delete`).
    HistoryDelete,
    /// The fee table changed (`fees.set`).
    FeesSet,
    /// The subscription list changed (`subscriptions.set`).
    SubscriptionsSet,
    /// The staff roster changed (`staff.set`).
    StaffSet,
    /// An in-lot zone (parking lot camera) configuration changed (`zone.config`).
    ZoneConfig,
    /// The site's edge camera list changed (`config.cameras`).
    CamerasConfig,
    /// An operator undid an exit's match to a confusable plate's session, `{"session": <the
    /// exit's event id>, "changed_by"}` (`exit.unmatch`): the session reopens and the exit
    /// becomes an exception under the plate it was read as.
    ExitUnmatch,
    /// An operator put a plate on the network's watch list, changed its entry or took it off,
    /// `{"plate_id", "plate_view", "reason", "action": "alert"|"deny"|"remove", "changed_by"}`
    /// (`watchlist.set`); the newest event per plate wins.
    WatchlistSet,
    /// A site announced its time zone, `{"timezone": "<IANA name>"}` (`site.timezone`); the
    /// network reports count each site's days in it.
    SiteTimezone,
    /// A kind this build does not know; kept and relayed as is.
    Other(String),
}

impl EventKind {
    /// The wire name of the kind.
    pub fn as_str(&self) -> &str {
        match self {
            Self::VehicleEntry => "vehicle.entry",
            Self::VehicleExit => "vehicle.exit",
            Self::VehicleLocation => "vehicle.location",
            Self::HistoryEdit => "history.edit",
            Self::HistoryDelete => "history.delete",
            Self::FeesSet => "fees.set",
            Self::SubscriptionsSet => "subscriptions.set",
            Self::StaffSet => "staff.set",
            Self::ZoneConfig => "zone.config",
            Self::CamerasConfig => "config.cameras",
            Self::SiteTimezone => "site.timezone",
            Self::ExitUnmatch => "exit.unmatch",
            Self::WatchlistSet => "watchlist.set",
            Self::Other(s) => s,
        }
    }
}

impl From<String> for EventKind {
    fn from(s: String) -> Self {
        match s.as_str() {
            "vehicle.entry" => Self::VehicleEntry,
            "vehicle.exit" => Self::VehicleExit,
            "vehicle.location" => Self::VehicleLocation,
            "history.edit" => Self::HistoryEdit,
            "history.delete" => Self::HistoryDelete,
            "fees.set" => Self::FeesSet,
            "subscriptions.set" => Self::SubscriptionsSet,
            "staff.set" => Self::StaffSet,
            "zone.config" => Self::ZoneConfig,
            "config.cameras" => Self::CamerasConfig,
            "site.timezone" => Self::SiteTimezone,
            "exit.unmatch" => Self::ExitUnmatch,
            "watchlist.set" => Self::WatchlistSet,
            _ => Self::Other(s),
        }
    }
}

impl From<EventKind> for String {
    fn from(k: EventKind) -> Self {
        k.as_str().to_owned()
    }
}

/// One immutable entry of the replicated log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Global id: origin central, its incarnation and the sequence number.
    pub id: EventId,
    /// Ordering timestamp assigned by the origin.
    pub hlc: Hlc,
    /// What the event means.
    pub kind: EventKind,
    /// Kind-specific body (JSON object). Typed by the crate that owns the kind (`parking`).
    pub payload: serde_json::Value,
    /// Version of the payload schema for this kind.
    pub schema: u16,
}

impl Event {
    /// The deterministic tie-break order of events: `(hlc, origin, incarnation, seq)`.
    pub fn order_key(&self) -> (Hlc, &CentralId, u64, u64) {
        (self.hlc, &self.id.origin, self.id.incarnation, self.id.seq)
    }

    /// Compares two events by [`Event::order_key`].
    pub fn cmp_order(&self, other: &Self) -> Ordering {
        self.order_key().cmp(&other.order_key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn central_id_validation() {
        assert!(CentralId::new("central-1").is_ok());
        assert!(CentralId::new("").is_err());
        assert!(CentralId::new("a b").is_err());
        assert!(CentralId::new("x".repeat(65)).is_err());
    }

    #[test]
    fn event_id_round_trips_through_text() {
        let id = EventId::parse("central-1:7:42").unwrap();
        assert_eq!((id.incarnation, id.seq), (7, 42));
        assert_eq!(id.to_string(), "central-1:7:42");
        assert!(EventId::parse("central-1:7:0").is_err());
        assert!(EventId::parse("central-1:42").is_err());
        assert!(EventId::parse("central-1").is_err());
        assert!(EventId::parse("../etc:1").is_err());
        // The longest id there is: a 64-character origin and the largest numbers.
        let long = EventId {
            origin: CentralId::new("c".repeat(64)).unwrap(),
            incarnation: u64::MAX,
            seq: u64::MAX,
        };
        let text = format!("{}:{}:{}", "c".repeat(64), u64::MAX, u64::MAX);
        assert_eq!(long.to_string(), text);
        assert_eq!(EventId::parse(&text).unwrap(), long);
    }

    #[test]
    fn unknown_kind_is_kept() {
        let k: EventKind = serde_json::from_str("\"future.kind\"").unwrap();
        assert_eq!(k, EventKind::Other("future.kind".into()));
        assert_eq!(serde_json::to_string(&k).unwrap(), "\"future.kind\"");
    }
}
