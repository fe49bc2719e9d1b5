//! Reads for revenue protection: the network's watch list and a plate's open session (for the
//! watch-list endpoints and an edge's detection preview), and the count of overstays.
//!
//! A `watchlist.set` event is a setting per plate: `append` keeps the newest one of each plate
//! in `settings` under `watch:` and the plate (the same rule as the other settings, so every
//! central holding the same events lists the same plates). Read-only, on the read pool; `handle` answers
//! the public queries with these.

use parkmesh_parking::WATCH_PREFIX;
use parkmesh_parking::payload::WatchPayload;
use sqlx::Row;

use super::Reads;
use crate::error::StorageError;
use crate::rows::{HistoryRow, WatchEntry, history_row};

impl Reads {
    /// The plates on the watch list (their newest `watchlist.set` does not remove them), by
    /// plate.
    pub(crate) async fn watchlist(&self) -> Result<Vec<WatchEntry>, StorageError> {
        // `watch;` is the first key after every `watch:...` key (';' follows ':').
        let rows = sqlx::query(
            "SELECT value, event_id FROM settings WHERE key >= ?1 AND key < ?2 ORDER BY key",
        )
        .bind(WATCH_PREFIX)
        .bind(WATCH_PREFIX.replace(':', ";"))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let value: String = r.try_get(0)?;
            let Ok(entry) = serde_json::from_str::<WatchPayload>(&value) else {
                continue;
            };
            if entry.is_listed() {
                out.push(WatchEntry {
                    entry,
                    event_id: r.try_get(1)?,
                });
            }
        }
        Ok(out)
    }

    /// Open sessions (IN, not deleted, opened by an entry) that entered before `before_ms`: the
    /// overstays when `before_ms` is now minus `max_stay_hours`.
    pub(crate) async fn overstay_count(&self, before_ms: i64) -> Result<i64, StorageError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM history
              WHERE entry_ms < ?1 AND deleted = 0 AND status = 'IN' AND is_anomaly = 0",
        )
        .bind(before_ms)
        .fetch_one(&self.pool)
        .await?)
    }

    /// The newest open session (IN, not deleted) of plate `plate_id`, if any.
    pub(crate) async fn open_session_of(
        &self,
        plate_id: &str,
    ) -> Result<Option<HistoryRow>, StorageError> {
        let row = sqlx::query(
            "SELECT * FROM history WHERE plate_key = ?1 AND status = 'IN' AND deleted = 0
             ORDER BY entry_ms DESC LIMIT 1",
        )
        .bind(plate_id)
        .fetch_optional(&self.pool)
        .await?;
        let cx = self.row_context();
        row.as_ref().map(|r| history_row(r, &cx)).transpose()
    }
}
