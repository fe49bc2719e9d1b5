//! The parking crate's error type.

/// A domain rule refused an input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParkingError {
    /// The plate text is empty, too long or does not match the policy.
    #[error("invalid plate {plate:?}: {reason}")]
    InvalidPlate {
        /// The plate as given (truncated).
        plate: String,
        /// Why it was refused.
        reason: String,
    },
    /// A payload field is missing or has a bad value.
    #[error("invalid field {field}: {reason}")]
    InvalidField {
        /// Field path.
        field: String,
        /// Why.
        reason: String,
    },
    /// An event payload does not decode as its kind's schema.
    #[error("event {event_id} ({kind}) has a malformed payload: {reason}")]
    BadPayload {
        /// Event id.
        event_id: String,
        /// Event kind.
        kind: String,
        /// Decoder message.
        reason: String,
    },
    /// The time zone name is not a known IANA zone.
    #[error("unknown time zone {0:?}")]
    UnknownTimeZone(String),
}

pub(crate) fn field(field: &str, reason: impl Into<String>) -> ParkingError {
    ParkingError::InvalidField {
        field: field.to_owned(),
        reason: reason.into(),
    }
}
