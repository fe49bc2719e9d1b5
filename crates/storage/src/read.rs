//! Read-side queries over the projections and the log. They run on the read pool and never wait
//! for the writer (SQLite WAL readers see the last committed state).

use parkmesh_protocol::{CentralId, Event, StreamId, VersionVector};
use sqlx::Row;

use crate::Storage;
use crate::error::StorageError;
use crate::events::{EVENT_COLUMNS, event_from_row};
use crate::rows::{CameraRow, ChangeRow, ConflictRow, HistoryRow, Stats, ZoneRow, history_row};

/// Entries and exits of one site (by the central whose gate saw them) in a time range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteCounts {
    /// The central id.
    pub site: String,
    /// Sessions that entered at this site.
    pub entries: i64,
    /// Sessions that left at this site.
    pub exits: i64,
}

/// Filters of `GET /api/parking/history` (seed semantics, with "today" in the site time zone).
#[derive(Debug, Clone, Default)]
pub struct HistoryQuery {
    /// Rows to return (the caller bounds it).
    pub limit: i64,
    /// Rows to skip.
    pub offset: i64,
    /// Only sessions whose entry (or, for exceptions, exit) falls in `[start_ms, end_ms)`.
    pub day: Option<(i64, i64)>,
    /// Exact status (`IN` / `OUT`).
    pub status: Option<String>,
    /// Plate substring, compared after removing spaces, `-` and `.`.
    pub search: Option<String>,
    /// Only open sessions (takes precedence over `status`).
    pub in_parking_only: bool,
}

fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl HistoryQuery {
    /// Only open sessions: `in_parking_only`, or the status `IN`.
    fn open_only(&self) -> bool {
        self.in_parking_only || self.status.as_deref() == Some("IN")
    }

    /// The `SELECT` of [`Storage::history`]; its parameters are [`HistoryQuery::params`].
    fn sql(&self) -> String {
        // Open sessions are few and have a partial index of their own (`history_open`). It is
        // named here because SQLite plans with the bound `LIMIT`: with a large one (the
        // vehicles-in-the-lot list asks for all of them) it would rather walk every session in
        // time order to skip the sort, which takes seconds on millions of sessions.
        let mut sql = String::from(if self.open_only() {
            "SELECT * FROM history INDEXED BY history_open WHERE status = 'IN' AND deleted = 0"
        } else {
            "SELECT * FROM history WHERE deleted = 0"
        });
        if !self.open_only() && self.status.is_some() {
            sql.push_str(" AND status = ?1");
        }
        if self.day.is_some() {
            sql.push_str(
                " AND COALESCE(entry_ms, exit_ms) >= ?2 AND COALESCE(entry_ms, exit_ms) < ?3",
            );
        }
        if self.search.is_some() {
            sql.push_str(
                " AND (plate_id LIKE ?4 ESCAPE '\\' OR
                  REPLACE(REPLACE(REPLACE(UPPER(plate_view), ' ', ''), '-', ''), '.', '') LIKE ?4 ESCAPE '\\')",
            );
        }
        sql.push_str(" ORDER BY COALESCE(entry_ms, exit_ms) DESC, id DESC LIMIT ?5 OFFSET ?6");
        sql
    }

    /// The values of `?1` to `?6` in [`HistoryQuery::sql`]: status, day start and end, search
    /// pattern, limit, offset.
    fn params(&self) -> (&str, i64, i64, String, i64, i64) {
        let (start, end) = self.day.unwrap_or((0, 0));
        let search = self.search.as_ref().map(|s| {
            let n: String = s
                .to_uppercase()
                .chars()
                .filter(|c| !matches!(c, ' ' | '-' | '.'))
                .collect();
            format!("%{}%", escape_like(&n))
        });
        (
            self.status.as_deref().unwrap_or(""),
            start,
            end,
            search.unwrap_or_default(),
            self.limit.max(0),
            self.offset.max(0),
        )
    }
}

impl Storage {
    /// Sessions matching `q`, newest entry first; tombstoned sessions are not listed.
    pub async fn history(&self, q: &HistoryQuery) -> Result<Vec<HistoryRow>, StorageError> {
        let (status, start, end, search, limit, offset) = q.params();
        let rows = sqlx::query(sqlx::AssertSqlSafe(q.sql()))
            .bind(status)
            .bind(start)
            .bind(end)
            .bind(search)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| history_row(r, &self.row_context()))
            .collect()
    }

    /// Open sessions (vehicles in the lot), newest first.
    pub async fn in_parking(&self) -> Result<Vec<HistoryRow>, StorageError> {
        self.history(&HistoryQuery {
            limit: i64::MAX,
            in_parking_only: true,
            ..Default::default()
        })
        .await
    }

    /// One session by its local history id (tombstoned ones included).
    pub async fn session(&self, id: i64) -> Result<Option<HistoryRow>, StorageError> {
        let row = sqlx::query("SELECT * FROM history WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref()
            .map(|r| history_row(r, &self.row_context()))
            .transpose()
    }

    /// One session by its global session id.
    pub async fn session_by_session_id(
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
    pub async fn session_by_edge_event_id(
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
    pub async fn stats(&self, day: (i64, i64)) -> Result<Stats, StorageError> {
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
    pub async fn conflicts(&self) -> Result<Vec<ConflictRow>, StorageError> {
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
    pub async fn changes(
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
    pub async fn setting(
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
    pub async fn zones(&self) -> Result<Vec<ZoneRow>, StorageError> {
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
    pub async fn cameras(&self) -> Result<Vec<CameraRow>, StorageError> {
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
    pub async fn vector(&self) -> Result<VersionVector, StorageError> {
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
    pub async fn read_stream(
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
    pub async fn all_events(&self) -> Result<Vec<Event>, StorageError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM events ORDER BY pk"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// Number of stored events.
    pub async fn event_count(&self) -> Result<i64, StorageError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM events")
            .fetch_one(&self.pool)
            .await?)
    }

    /// The `limit` events stored last here (local or replicated), newest first.
    pub async fn recent_events(&self, limit: usize) -> Result<Vec<Event>, StorageError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM events ORDER BY pk DESC LIMIT ?"
        )))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// Number of conflicts the fold has recorded.
    pub async fn conflict_count(&self) -> Result<i64, StorageError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM conflicts")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Per site, sessions that entered and that left in `[start_ms, end_ms)` (tombstoned
    /// sessions aside); the site is the origin of the entry or exit event.
    pub async fn site_counts(&self, day: (i64, i64)) -> Result<Vec<SiteCounts>, StorageError> {
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

#[cfg(test)]
mod tests {
    use super::HistoryQuery;

    /// The query plan of the history list for `q`, with its parameters bound as the read path
    /// binds them (SQLite plans with the bound `LIMIT`).
    fn plan(conn: &rusqlite::Connection, q: &HistoryQuery) -> Vec<String> {
        let (status, start, end, search, limit, offset) = q.params();
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", q.sql()))
            .unwrap();
        stmt.query_map(
            rusqlite::params![status, start, end, search, limit, offset],
            |r| r.get::<_, String>(3),
        )
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    }

    /// The vehicles in the lot (every open session: no real limit) and the status `IN` filter
    /// read the open sessions' own index, whatever the limit; the other lists do not. Walking
    /// every session in time order to find the few open ones took 4–6 s on a database of 5
    /// million sessions.
    #[tokio::test]
    async fn open_session_lists_read_their_own_index_whatever_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let db_path = dir.path().join("central.db");
        let storage = crate::Storage::open(crate::StorageOptions {
            db_path: db_path.clone(),
            origin: parkmesh_protocol::CentralId::new("central-a").unwrap(),
            tz: jiff::tz::TimeZone::UTC,
        })
        .await
        .unwrap();
        let conn = rusqlite::Connection::open(&db_path).unwrap();
        let open = [
            HistoryQuery {
                limit: i64::MAX,
                in_parking_only: true,
                ..HistoryQuery::default()
            },
            HistoryQuery {
                limit: 1000,
                status: Some("IN".into()),
                day: Some((0, 86_400_000)),
                search: Some("51A".into()),
                ..HistoryQuery::default()
            },
            HistoryQuery {
                limit: i64::MAX,
                status: Some("OUT".into()),
                in_parking_only: true,
                ..HistoryQuery::default()
            },
        ];
        for q in &open {
            let plan = plan(&conn, q);
            assert!(
                plan.iter().any(|s| s.contains("INDEX history_open")),
                "{q:?}: {plan:?}"
            );
        }
        let all = HistoryQuery {
            limit: 100,
            status: Some("OUT".into()),
            ..HistoryQuery::default()
        };
        let plan = plan(&conn, &all);
        assert!(!plan.iter().any(|s| s.contains("history_open")), "{plan:?}");
        drop(storage);
    }
}
