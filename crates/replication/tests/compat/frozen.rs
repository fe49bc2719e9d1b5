//! The mesh frame types exactly as release 486d226 declared them (protocol v2), frozen: what that
//! release's decoder accepts. Its serde attributes are kept as they were (no
//! `deny_unknown_fields`, so fields added later are ignored); the id and hex newtypes become
//! checked strings with the same rules. A frame today's code sends must decode here.

#![allow(dead_code)]

use std::collections::BTreeMap;

use serde::Deserialize;

/// `{"v":2,"type":..,"body":..}`; the release spoke v2 only but read a `Hello` of any version.
#[derive(Debug, Deserialize)]
struct Envelope {
    v: u16,
    #[serde(flatten)]
    frame: Frame,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct Hello {
    pub(crate) node_id: Id,
    pub(crate) incarnation: u64,
    pub(crate) proto_min: u16,
    pub(crate) proto_max: u16,
    #[serde(default)]
    pub(crate) caps: Vec<String>,
    pub(crate) nonce: Hex<16>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", content = "body", rename_all = "snake_case")]
pub(crate) enum Frame {
    Hello(Hello),
    Auth {
        proof: Hex<32>,
    },
    Vector(BTreeMap<Stream, u64>),
    Page {
        events: Vec<Event>,
        more: bool,
    },
    Live {
        events: Vec<Event>,
    },
    Ack {
        vector: BTreeMap<Stream, u64>,
    },
    Ping {
        nonce: u64,
    },
    Pong {
        nonce: u64,
    },
    Close {
        code: String,
        #[serde(default)]
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct Event {
    pub(crate) id: EventId,
    pub(crate) hlc: Hlc,
    pub(crate) kind: String,
    pub(crate) payload: serde_json::Value,
    pub(crate) schema: u16,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct EventId {
    pub(crate) origin: Id,
    pub(crate) incarnation: u64,
    pub(crate) seq: u64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct Hlc {
    pub(crate) wall_ms: u64,
    pub(crate) counter: u32,
}

/// A central id: 1 to 64 characters of `[A-Za-z0-9._-]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub(crate) struct Id(pub(crate) String);

impl TryFrom<String> for Id {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if ok {
            Ok(Self(s))
        } else {
            Err(format!("bad central id {s:?}"))
        }
    }
}

/// A stream key, `<central id>:<incarnation>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub(crate) struct Stream(pub(crate) String);

impl TryFrom<String> for Stream {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let (id, inc) = s
            .rsplit_once(':')
            .ok_or_else(|| format!("bad stream {s:?}"))?;
        Id::try_from(id.to_owned())?;
        inc.parse::<u64>()
            .map_err(|e| format!("bad stream {s:?}: {e}"))?;
        Ok(Self(s))
    }
}

/// `N` bytes as lower-case hex.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "String")]
pub(crate) struct Hex<const N: usize>(pub(crate) String);

impl<const N: usize> TryFrom<String> for Hex<N> {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.len() == 2 * N && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(s))
        } else {
            Err(format!("expected {N} bytes of hex, got {s:?}"))
        }
    }
}

/// Decodes `text` as release 486d226 did: a frame of version 2, or a `Hello` of any version.
pub(crate) fn decode(text: &str) -> Result<Frame, String> {
    let env: Envelope = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if env.v == 2 || (env.v > 2 && matches!(env.frame, Frame::Hello(_))) {
        Ok(env.frame)
    } else {
        Err(format!("unsupported frame version {}", env.v))
    }
}
