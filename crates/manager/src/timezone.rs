//! The site's time zone, announced to the mesh. The network reports count each site's days in
//! the zone that site announced (a `site.timezone` event), so every central that starts — the
//! binary or an embedder of [`crate::P2PManager`] — appends one when its stream has not
//! announced its configured zone yet. Peers get it like any other event.

use parkmesh_protocol::EventKind;
use parkmesh_storage::{Intent, Storage, StorageError};

/// Appends a `site.timezone` event for `zone` unless this central's stream announced it last.
pub(crate) async fn announce(storage: &Storage, zone: &str) -> Result<(), StorageError> {
    let me = storage.stream().origin.as_str().to_owned();
    let announced = storage.announced_timezone(&me).await?;
    if announced.as_deref() == Some(zone) {
        return Ok(());
    }
    storage
        .ingest(Intent::Event {
            kind: EventKind::SiteTimezone,
            payload: serde_json::json!({ "timezone": zone }),
        })
        .await?;
    tracing::info!(timezone = zone, previous = ?announced, "announced this site's time zone");
    Ok(())
}
