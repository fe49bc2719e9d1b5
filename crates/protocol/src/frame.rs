//! Frames of the mesh protocol v2: what two centrals say to each other over one connection.
//!
//! Wire form: one JSON text frame per message, `{"v":2,"type":"<kind>","body":<fields>}`. `v` is
//! the frame-format version (negotiated through `Hello.proto_min/max`); `type`/`body` carry the
//! [`Frame`] variant. Fields added in later versions must carry `#[serde(default)]` so frames from
//! older peers still decode, and unknown fields are ignored. A `Hello` is always decodable
//! whatever its `v`, so two builds can at least agree that they share no version.
//!
//! [`Frame::decode`] is the only entry point for untrusted text: it enforces [`MAX_FRAME_BYTES`]
//! and never panics on garbage.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::auth::{AuthProof, Nonce};
use crate::event::{CentralId, Event};
use crate::vector::VersionVector;

/// Oldest frame-format version this build speaks.
pub const PROTO_MIN: u16 = 2;
/// Newest frame-format version this build speaks.
pub const PROTO_MAX: u16 = 2;
/// Default upper bound of one encoded frame, in bytes.
pub const MAX_FRAME_BYTES: usize = 8 * 1024 * 1024;

/// Errors decoding a frame received from a peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The frame is longer than allowed.
    #[error("frame too large: {len} bytes, limit {max}")]
    TooLarge {
        /// Length of the received frame.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// The frame uses a format version this build does not speak.
    #[error("unsupported frame version {0}: this build speaks {PROTO_MIN}..={PROTO_MAX}")]
    UnsupportedVersion(u16),
    /// The frame type is not one this build knows.
    #[error("unknown frame type {0:?}")]
    UnknownType(String),
    /// The text is not a well-formed frame (bad JSON, missing or mistyped field).
    #[error("malformed frame: {0}")]
    Malformed(String),
}

/// The greeting each side sends first on a new connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The sender's central id.
    pub node_id: CentralId,
    /// The sender's current incarnation (its own stream is `node_id:incarnation`).
    pub incarnation: u64,
    /// Oldest frame-format version the sender speaks.
    pub proto_min: u16,
    /// Newest frame-format version the sender speaks.
    pub proto_max: u16,
    /// Optional features the sender supports (free-form names; unknown ones are ignored).
    #[serde(default)]
    pub caps: Vec<String>,
    /// Fresh random challenge for the peer's [`crate::AuthProof`].
    pub nonce: Nonce,
    /// The sender's software version ([`crate::BuildInfo::announced`]). Optional both ways:
    /// builds before it was added neither send it nor read it (unknown fields are ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// Why a connection is being closed. Unknown codes decode as [`CloseCode::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum CloseCode {
    /// The peer's auth proof did not verify (wrong cluster secret) (`bad_auth`).
    BadAuth,
    /// The peer's id is not in this central's peer list, or not the id that was dialled
    /// (`unknown_peer`).
    UnknownPeer,
    /// The peer claims this central's own id (`id_clash`).
    IdClash,
    /// Another connection to the same peer is kept; this one is dropped (`duplicate_connection`).
    DuplicateConnection,
    /// The two builds share no frame-format version (`no_common_version`).
    NoCommonVersion,
    /// A frame was malformed, too large or out of place (`protocol_error`).
    ProtocolError,
    /// The handshake did not finish, or the peer stopped answering pings (`timeout`).
    Timeout,
    /// The peer was removed from the configuration (`peer_removed`).
    PeerRemoved,
    /// The central is shutting down (`shutting_down`).
    ShuttingDown,
    /// A code this build does not know; kept as is.
    Other(String),
}

impl CloseCode {
    /// The wire name of the code.
    pub fn as_str(&self) -> &str {
        match self {
            Self::BadAuth => "bad_auth",
            Self::UnknownPeer => "unknown_peer",
            Self::IdClash => "id_clash",
            Self::DuplicateConnection => "duplicate_connection",
            Self::NoCommonVersion => "no_common_version",
            Self::ProtocolError => "protocol_error",
            Self::Timeout => "timeout",
            Self::PeerRemoved => "peer_removed",
            Self::ShuttingDown => "shutting_down",
            Self::Other(s) => s,
        }
    }
}

impl From<String> for CloseCode {
    fn from(s: String) -> Self {
        match s.as_str() {
            "bad_auth" => Self::BadAuth,
            "unknown_peer" => Self::UnknownPeer,
            "id_clash" => Self::IdClash,
            "duplicate_connection" => Self::DuplicateConnection,
            "no_common_version" => Self::NoCommonVersion,
            "protocol_error" => Self::ProtocolError,
            "timeout" => Self::Timeout,
            "peer_removed" => Self::PeerRemoved,
            "shutting_down" => Self::ShuttingDown,
            _ => Self::Other(s),
        }
    }
}

impl From<CloseCode> for String {
    fn from(c: CloseCode) -> Self {
        c.as_str().to_owned()
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One message of the mesh protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "body", rename_all = "snake_case")]
pub enum Frame {
    /// First frame on a connection, both ways.
    Hello(Hello),
    /// Proof of the cluster secret, sent after receiving the peer's `Hello`.
    Auth {
        /// See [`crate::auth_proof`]: prover = sender, verifier = receiver.
        proof: AuthProof,
    },
    /// The sender's version vector. Sent once after the handshake; sent again later it asks the
    /// receiver to resend everything beyond it (gap recovery).
    Vector(VersionVector),
    /// A page of catch-up events, oldest first within each stream.
    Page {
        /// The events, contiguous per stream.
        events: Vec<Event>,
        /// Whether the sender has more to send after this page.
        more: bool,
    },
    /// Events pushed as they commit.
    Live {
        /// The events, contiguous per stream.
        events: Vec<Event>,
    },
    /// The receiver's version vector after applying what it received.
    Ack {
        /// The receiver's vector.
        vector: VersionVector,
    },
    /// Liveness probe.
    Ping {
        /// Echoed in the `Pong`.
        nonce: u64,
    },
    /// Answer to a `Ping`.
    Pong {
        /// The nonce of the `Ping`.
        nonce: u64,
    },
    /// The sender is closing the connection.
    Close {
        /// Machine-readable reason.
        code: CloseCode,
        /// Human-readable detail.
        #[serde(default)]
        reason: String,
    },
}

/// Frame variants by wire name, to tell an unknown type from a malformed known one.
const KNOWN_TYPES: &[&str] = &[
    "hello", "auth", "vector", "page", "live", "ack", "ping", "pong", "close",
];

#[derive(Serialize)]
struct EnvelopeOut<'a> {
    v: u16,
    #[serde(flatten)]
    frame: &'a Frame,
}

#[derive(Deserialize)]
struct EnvelopeIn {
    v: u16,
    #[serde(flatten)]
    frame: Frame,
}

#[derive(Deserialize)]
struct Probe {
    v: Option<u16>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

impl Frame {
    /// The wire name of the frame type (`"hello"`, `"page"`, …).
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Hello(_) => "hello",
            Self::Auth { .. } => "auth",
            Self::Vector(_) => "vector",
            Self::Page { .. } => "page",
            Self::Live { .. } => "live",
            Self::Ack { .. } => "ack",
            Self::Ping { .. } => "ping",
            Self::Pong { .. } => "pong",
            Self::Close { .. } => "close",
        }
    }

    /// Encodes the frame as JSON text with the current version tag ([`PROTO_MAX`]).
    pub fn encode(&self) -> String {
        self.encode_version(PROTO_MAX)
    }

    /// Encodes the frame with an explicit version tag (for negotiated older versions).
    pub fn encode_version(&self, v: u16) -> String {
        // Serialising these types cannot fail: every map key is a string and no serialiser
        // returns an error; an empty object is the harmless fallback the peer will reject.
        serde_json::to_string(&EnvelopeOut { v, frame: self })
            .unwrap_or_else(|_| String::from("{}"))
    }

    /// Decodes one frame, refusing text longer than [`MAX_FRAME_BYTES`].
    pub fn decode(text: &str) -> Result<Self, ProtocolError> {
        Self::decode_with_limit(text, MAX_FRAME_BYTES)
    }

    /// Decodes one frame, refusing text longer than `max_bytes`. Never panics.
    pub fn decode_with_limit(text: &str, max_bytes: usize) -> Result<Self, ProtocolError> {
        if text.len() > max_bytes {
            return Err(ProtocolError::TooLarge {
                len: text.len(),
                max: max_bytes,
            });
        }
        match serde_json::from_str::<EnvelopeIn>(text) {
            Ok(env) => {
                let hello = matches!(env.frame, Self::Hello(_));
                if (PROTO_MIN..=PROTO_MAX).contains(&env.v) || (hello && env.v > PROTO_MAX) {
                    Ok(env.frame)
                } else {
                    Err(ProtocolError::UnsupportedVersion(env.v))
                }
            }
            Err(err) => Err(classify(text, &err)),
        }
    }
}

/// Turns a decode failure into the most useful [`ProtocolError`].
fn classify(text: &str, err: &serde_json::Error) -> ProtocolError {
    let detail = || {
        let mut s = err.to_string();
        s.truncate(200);
        ProtocolError::Malformed(s)
    };
    let Ok(probe) = serde_json::from_str::<Probe>(text) else {
        return detail();
    };
    match (probe.v, probe.kind) {
        (Some(v), _) if !(PROTO_MIN..=PROTO_MAX).contains(&v) => {
            ProtocolError::UnsupportedVersion(v)
        }
        (Some(_), Some(kind)) if !KNOWN_TYPES.contains(&kind.as_str()) => {
            ProtocolError::UnknownType(kind.chars().take(64).collect())
        }
        _ => detail(),
    }
}
