//! The readers' SQL of the SQLite backend: queries over the projections and the log on the read
//! pool (sqlx). They never wait for the writer (SQLite WAL readers see the last committed state).

use std::sync::Arc;

use parkmesh_protocol::{CentralId, Event, StreamId, VersionVector};
use sqlx::{Row, SqlitePool};

use super::lists::Lists;
use crate::error::StorageError;
use crate::events::{EVENT_COLUMNS, event_from_row};
use crate::rows::{
    CameraRow, ChangeRow, ConflictRow, HistoryRow, SiteCounts, Stats, ZoneRow, history_row,
};

/// The read side of a SQLite central: its read pool, and the list connections ([`super::lists`]).
#[derive(Debug, Clone)]
pub(crate) struct Reads {
    pub(super) pool: SqlitePool,
    pub(super) lists: Arc<Lists>,
}

impl Reads {
    /// What completes the `history` rows read (`rows::RowContext`).
    pub(crate) fn row_context(&self) -> crate::rows::RowContext<'_> {
        self.lists.cx()
    }

    /// One session by its local history id (tombstoned ones included).
    pub(crate) async fn session(&self, id: i64) -> Result<Option<HistoryRow>, StorageError> {
        let row = sqlx::query("SELECT * FROM history WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref()
            .map(|r| history_row(r, &self.row_context()))
            .transpose()
    }

    /// One session by its global session id.
    pub(crate) async fn session_by_session_id(
        &self,
        session_id: &str,
    ) -> Result<Option<HistoryRow>, StorageError> {
        let row = sqlx::query("SELECT * FROM history WHERE session_id = ?")
            .bind(session_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref()
            .map(|r| history_row(r, &self.row_context()))
            .transpose()
    }

    /// The live session whose entry carried the edge `event_id` (the seed's cross-node key).
    pub(crate) async fn session_by_edge_event_id(
        &self,
        event_id: &str,
    ) -> Result<Option<HistoryRow>, StorageError> {
        let row = sqlx::query(
            // A NULL `event_id` is the session id (`rows::stored_id`).
            "SELECT * FROM history WHERE (event_id = ?1 OR (event_id IS NULL AND session_id = ?1))
               AND deleted = 0 ORDER BY id DESC LIMIT 1",
        )
        .bind(event_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref()
            .map(|r| history_row(r, &self.row_context()))
            .transpose()
    }

    /// Dashboard counters for the site-local day `[start_ms, end_ms)`.
    pub(crate) async fn stats(&self, day: (i64, i64)) -> Result<Stats, StorageError> {
        let r = sqlx::query(
            "SELECT
               (SELECT COUNT(*) FROM history WHERE deleted = 0 AND status = 'IN'),
               (SELECT COUNT(*) FROM history WHERE deleted = 0 AND entry_ms >= ?1 AND entry_ms < ?2),
               (SELECT COUNT(*) FROM history WHERE deleted = 0 AND status = 'OUT' AND exit_ms >= ?1 AND exit_ms < ?2),
               (SELECT COALESCE(SUM(fee), 0) FROM history
                 WHERE deleted = 0 AND status = 'OUT' AND exit_ms >= ?1 AND exit_ms < ?2)",
        )
        .bind(day.0)
        .bind(day.1)
        .fetch_one(&self.pool)
        .await?;
        Ok(Stats {
            vehicles_in_parking: r.try_get(0)?,
            entries_today: r.try_get(1)?,
            exits_today: r.try_get(2)?,
            revenue_today: r.try_get(3)?,
        })
    }

    /// Conflicts found by the fold, newest first.
    pub(crate) async fn conflicts(&self) -> Result<Vec<ConflictRow>, StorageError> {
        let rows = sqlx::query("SELECT id, plate_key, kind, winner, losers, at_ms FROM conflicts ORDER BY at_ms DESC, id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let losers: String = r.try_get("losers")?;
                Ok(ConflictRow {
                    id: r.try_get("id")?,
                    plate_key: r.try_get("plate_key")?,
                    kind: r.try_get("kind")?,
                    winner: r.try_get("winner")?,
                    losers: serde_json::from_str(&losers)?,
                    at_ms: r.try_get("at_ms")?,
                })
            })
            .collect()
    }

    /// Audit rows of operator changes, newest first, optionally for one local history id.
    pub(crate) async fn changes(
        &self,
        limit: i64,
        offset: i64,
        history_id: Option<i64>,
    ) -> Result<Vec<ChangeRow>, StorageError> {
        let rows = sqlx::query(
            "SELECT c.*, h.id AS history_id FROM history_changes c LEFT JOIN history h ON h.session_id = c.session_id
              WHERE ?1 IS NULL OR h.id = ?1
              ORDER BY c.changed_at_ms DESC, c.id DESC LIMIT ?2 OFFSET ?3",
        )
        .bind(history_id)
        .bind(limit.max(0))
        .bind(offset.max(0))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ChangeRow {
                    id: r.try_get("id")?,
                    history_id: r.try_get("history_id")?,
                    session_id: r.try_get("session_id")?,
                    change_event: r.try_get("change_event")?,
                    change_type: r.try_get("change_type")?,
                    old_plate_id: r.try_get("old_plate_id")?,
                    old_plate_view: r.try_get("old_plate_view")?,
                    new_plate_id: r.try_get("new_plate_id")?,
                    new_plate_view: r.try_get("new_plate_view")?,
                    changed_at_ms: r.try_get("changed_at_ms")?,
                    changed_by: r.try_get("changed_by")?,
                })
            })
            .collect()
    }

    /// The payload of the newest `fees.set` / `subscriptions.set` / `staff.set` event, by key
    /// (`fees`, `subscriptions`, `staff`), with the id of that event.
    pub(crate) async fn setting(
        &self,
        key: &str,
    ) -> Result<Option<(serde_json::Value, String)>, StorageError> {
        let row = sqlx::query("SELECT value, event_id FROM settings WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => {
                let v: String = r.try_get(0)?;
                Ok(Some((serde_json::from_str(&v)?, r.try_get(1)?)))
            }
            None => Ok(None),
        }
    }

    /// In-lot zones by name.
    pub(crate) async fn zones(&self) -> Result<Vec<ZoneRow>, StorageError> {
        let rows = sqlx::query("SELECT * FROM zones ORDER BY location_name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ZoneRow {
                    location_name: r.try_get("location_name")?,
                    capacity: r.try_get("capacity")?,
                    camera_id: r.try_get("camera_id")?,
                    camera_type: r.try_get("camera_type")?,
                    edge_id: r.try_get("edge_id")?,
                })
            })
            .collect()
    }

    /// Edge cameras known from heartbeats, by id.
    pub(crate) async fn cameras(&self) -> Result<Vec<CameraRow>, StorageError> {
        let rows = sqlx::query("SELECT * FROM cameras ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(CameraRow {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    camera_type: r.try_get("type")?,
                    last_heartbeat_ms: r.try_get("last_heartbeat_ms")?,
                    events_sent: r.try_get("events_sent")?,
                    events_failed: r.try_get("events_failed")?,
                    created_at_ms: r.try_get("created_at_ms")?,
                    updated_at_ms: r.try_get("updated_at_ms")?,
                })
            })
            .collect()
    }

    /// This central's version vector: per stream, the highest contiguous seq held.
    pub(crate) async fn vector(&self) -> Result<VersionVector, StorageError> {
        let rows = sqlx::query("SELECT origin, incarnation, head_seq FROM streams")
            .fetch_all(&self.pool)
            .await?;
        let mut v = VersionVector::default();
        for r in rows {
            let origin: String = r.try_get(0)?;
            let stream = StreamId {
                origin: CentralId::new(origin).map_err(|e| StorageError::Corrupt(e.to_string()))?,
                incarnation: r.try_get::<i64, _>(1)? as u64,
            };
            v.advance(&stream, r.try_get::<i64, _>(2)? as u64);
        }
        Ok(v)
    }

    /// Up to `limit` events of `stream` with seq >= `from_seq`, oldest first (catch-up pages).
    pub(crate) async fn read_stream(
        &self,
        stream: &StreamId,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<Event>, StorageError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE origin = ? AND incarnation = ? AND seq >= ?
              ORDER BY seq LIMIT ?"
        )))
        .bind(stream.origin.as_str())
        .bind(stream.incarnation as i64)
        .bind(from_seq as i64)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// Every stored event in storage order (for verification and rebuilds; not for hot paths).
    pub(crate) async fn all_events(&self) -> Result<Vec<Event>, StorageError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM events ORDER BY pk"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// Number of stored events.
    pub(crate) async fn event_count(&self) -> Result<i64, StorageError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM events")
            .fetch_one(&self.pool)
            .await?)
    }

    /// The `limit` events stored last here (local or replicated), newest first.
    pub(crate) async fn recent_events(&self, limit: usize) -> Result<Vec<Event>, StorageError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM events ORDER BY pk DESC LIMIT ?"
        )))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// Number of conflicts the fold has recorded.
    pub(crate) async fn conflict_count(&self) -> Result<i64, StorageError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM conflicts")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Per site, sessions that entered and that left in `[start_ms, end_ms)` (tombstoned
    /// sessions aside); the site is the origin of the entry or exit event.
    pub(crate) async fn site_counts(
        &self,
        day: (i64, i64),
    ) -> Result<Vec<SiteCounts>, StorageError> {
        let rows = sqlx::query(
            "SELECT site, SUM(entries), SUM(exits) FROM (
                 SELECT substr(e, 1, instr(e, ':') - 1) AS site, 1 AS entries, 0 AS exits
                   FROM (SELECT COALESCE(entry_event_id, session_id) AS e
                           FROM history WHERE entry_ms >= ?1 AND entry_ms < ?2 AND deleted = 0)
                 UNION ALL
                 SELECT substr(exit_event_id, 1, instr(exit_event_id, ':') - 1), 0, 1
                   FROM history WHERE exit_ms >= ?1 AND exit_ms < ?2 AND deleted = 0
                        AND exit_event_id IS NOT NULL)
             GROUP BY site ORDER BY site",
        )
        .bind(day.0)
        .bind(day.1)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SiteCounts {
                    site: r.try_get(0)?,
                    entries: r.try_get(1)?,
                    exits: r.try_get(2)?,
                })
            })
            .collect()
    }
}

impl Reads {
    /// The time zone `site` announced last (`None` when it never announced one).
    pub(crate) async fn announced_timezone(
        &self,
        site: &str,
    ) -> Result<Option<String>, StorageError> {
        let sql = format!(
            "SELECT payload FROM events WHERE kind = {} AND origin = ?
             ORDER BY hlc_ms DESC, hlc_counter DESC, incarnation DESC, seq DESC LIMIT 1",
            crate::codec::kind_sql(&parkmesh_protocol::EventKind::SiteTimezone)
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(site)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.and_then(|r| {
            crate::events::payload_value(&r, 0, &String::new)
                .ok()?
                .get("timezone")?
                .as_str()
                .map(str::to_owned)
        }))
    }
}
