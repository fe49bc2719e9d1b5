//! Sessions brought over from an original ParkAI central: the `import` tag an imported event
//! carries, and how its key is derived.
//!
//! An original database holds its own site's sessions *and* copies of every other site's
//! sessions (same `event_id`, `source_central` set). When every site of an original mesh imports
//! its own database, one original session therefore arrives as several imported copies, each an
//! event of a different importing central. What makes them one session is the **import key**,
//! derived from the original session alone — `parkai:<event_id>` — never from the importing
//! central: every copy of one original session carries the same `event_id` verbatim, so it gets
//! the same key wherever it is imported, even at a site whose configuration names itself
//! differently or whose copy lost its `source_central`. The original's ids embed the creating
//! camera or central, the millisecond and the plate (`edge-1_1765535827086_11A11113`), so two
//! different sessions would need the same plate in the same millisecond to share one. The fold
//! (`fold`) treats imported vehicle events with the same key as one session (the first
//! copy in fold order stands, the others become aliases), so after replication every central
//! projects exactly one session per original session.
//!
//! The tag is an optional `import` object inside the ordinary payload of `vehicle.entry`,
//! `vehicle.exit`, `history.edit` and `history.delete`; events without it are untouched, and a
//! central that does not know the tag still decodes the payload (unknown fields are ignored).

use parkmesh_protocol::Event;
use serde::{Deserialize, Serialize};

/// The payload field holding an [`ImportTag`].
pub const IMPORT_FIELD: &str = "import";

/// Provenance of an imported event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportTag {
    /// The import key: the same for every copy of one original session (vehicle events), or
    /// unique per original audit row (operator events).
    pub key: String,
    /// The central that created the original row (`source_central`, else the importing site);
    /// shown as the session's source whichever copy stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// On an exit: the fee the original recorded (VND), kept instead of the tariff's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee: Option<i64>,
    /// On an operator event: when the original change was made (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_ms: Option<i64>,
}

impl ImportTag {
    /// The tag of `event`, if it carries one that decodes.
    pub fn of(event: &Event) -> Option<Self> {
        event
            .payload
            .get(IMPORT_FIELD)
            .and_then(|v| Self::deserialize(v).ok())
    }

    /// `payload` (a JSON object) with this tag added.
    pub fn attach(&self, mut payload: serde_json::Value) -> serde_json::Value {
        if let (Some(map), Ok(tag)) = (payload.as_object_mut(), serde_json::to_value(self)) {
            map.insert(IMPORT_FIELD.to_owned(), tag);
        }
        payload
    }
}

/// The import key of an original session: `parkai:<event_id>`. Rows without an `event_id`
/// cannot be matched across sites; they get `parkai:<importer>/history/<row id>`, unique at the
/// importing site (so a second import there still finds them).
pub fn session_key(event_id: Option<&str>, importer: &str, row_id: i64) -> String {
    match event_id.map(str::trim).filter(|e| !e.is_empty()) {
        Some(e) => format!("parkai:{e}"),
        None => format!("parkai:{importer}/history/{row_id}"),
    }
}

/// The import key of an original audit row (`history_changes`), unique at the importing site.
pub fn change_key(importer: &str, change_id: i64) -> String {
    format!("parkai:{importer}/change/{change_id}")
}
