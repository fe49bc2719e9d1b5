//! The SQLite backend's lists: the history pages, the plate search, the vehicles in the lot and
//! the cars seen at a place, which may return thousands of rows at a big site. They run on
//! read-only rusqlite connections of their own on a blocking thread: through the async pool
//! every row is one hop between threads, which cost more than the query itself.
//!
//! The two lists a dashboard polls (the vehicles in the lot, the cars seen at a place) are kept
//! from one read to the next while the database does not change: one connection watches
//! SQLite's `PRAGMA data_version`, which moves whenever another connection commits. A list is
//! never older than that number says (it is read after the number), so a poll after a commit
//! reads again.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags, params};

use super::Reads;
use crate::error::StorageError;
use crate::rows::{
    HISTORY_COLUMNS, HistoryQuery, HistoryRow, LocatedRow, RowContext, history_row_w,
};

/// The cars seen at a place: open sessions with a last sighting (`history_located`).
const LOCATED: &str =
    "SELECT plate_id, plate_view, entry_ms, last_location, last_location_ms, is_anomaly
       FROM history INDEXED BY history_located
      WHERE status = 'IN' AND last_location IS NOT NULL AND deleted = 0
      ORDER BY COALESCE(entry_ms, exit_ms) DESC, id DESC";

/// Idle list connections kept for the next list.
const IDLE: usize = 4;

/// The polled lists as read at one `data_version` of the watching connection.
#[derive(Debug, Default)]
struct Kept {
    version: i64,
    inside: Option<Arc<Vec<HistoryRow>>>,
    located: Option<Arc<Vec<LocatedRow>>>,
}

/// The list connections of one database (opened on first use, kept while idle), and the
/// watching connection with the lists it keeps.
#[derive(Debug)]
pub(crate) struct Lists {
    db_path: PathBuf,
    /// The site's time zone and this central's origin, completing the rows read (`RowContext`).
    tz: jiff::tz::TimeZone,
    own: String,
    idle: Mutex<Vec<Connection>>,
    watch: Mutex<Option<(Connection, Kept)>>,
}

impl Lists {
    pub(crate) fn new(db_path: PathBuf, tz: jiff::tz::TimeZone, own: String) -> Arc<Self> {
        Arc::new(Self {
            db_path,
            tz,
            own,
            idle: Mutex::new(Vec::new()),
            watch: Mutex::new(None),
        })
    }

    /// What completes the rows read here.
    pub(super) fn cx(&self) -> RowContext<'_> {
        RowContext {
            tz: &self.tz,
            own: &self.own,
        }
    }

    fn open(&self) -> Result<Connection, StorageError> {
        let conn = Connection::open_with_flags(
            &self.db_path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        Ok(conn)
    }

    fn take(&self) -> Result<Connection, StorageError> {
        match self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            Some(conn) => Ok(conn),
            None => self.open(),
        }
    }

    /// The list `slot` picks, kept while the database has not changed, else read by `load`
    /// (on the watching connection) and kept.
    fn kept<T>(
        &self,
        slot: fn(&mut Kept) -> &mut Option<Arc<T>>,
        load: impl FnOnce(&Connection) -> Result<T, StorageError>,
    ) -> Result<Arc<T>, StorageError> {
        let mut watch = self
            .watch
            .lock()
            .map_err(|_| StorageError::Corrupt("list watch poisoned".into()))?;
        if watch.is_none() {
            *watch = Some((self.open()?, Kept::default()));
        }
        let Some((conn, kept)) = watch.as_mut() else {
            return Err(StorageError::Corrupt("list watch missing".into()));
        };
        let version: i64 = conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        if version != kept.version {
            *kept = Kept {
                version,
                ..Kept::default()
            };
        }
        if let Some(list) = slot(kept) {
            return Ok(list.clone());
        }
        let list = Arc::new(load(conn)?);
        *slot(kept) = Some(list.clone());
        Ok(list)
    }

    fn give_back(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < IDLE
        {
            idle.push(conn);
        }
    }
}

impl Reads {
    /// Runs `f` with a list connection on a blocking thread.
    async fn on_list<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, StorageError> {
        let lists = self.lists.clone();
        tokio::task::spawn_blocking(move || {
            let conn = lists.take()?;
            let out = f(&conn);
            lists.give_back(conn);
            out
        })
        .await
        .map_err(|e| StorageError::Corrupt(format!("list task failed: {e}")))?
    }

    /// Sessions matching `q`, newest entry first; tombstoned sessions are not listed.
    pub(crate) async fn history(&self, q: &HistoryQuery) -> Result<Vec<HistoryRow>, StorageError> {
        let q = q.clone();
        let lists = self.lists.clone();
        self.on_list(move |conn| history(conn, &q, &lists.cx()))
            .await
    }

    /// Open sessions (vehicles in the lot), newest first; kept while the database is unchanged.
    pub(crate) async fn inside(&self) -> Result<Arc<Vec<HistoryRow>>, StorageError> {
        let lists = self.lists.clone();
        on_blocking(move || {
            let cx = lists.cx();
            lists.kept(
                |k| &mut k.inside,
                |conn| {
                    let every_open = HistoryQuery {
                        limit: i64::MAX,
                        in_parking_only: true,
                        ..HistoryQuery::default()
                    };
                    history(conn, &every_open, &cx)
                },
            )
        })
        .await
    }

    /// Open sessions last seen at a place (an in-lot camera's zone), newest first: what
    /// `GET /api/parking/occupancy` lists per zone. Reads only those sessions (`history_located`);
    /// kept while the database is unchanged.
    pub(crate) async fn located(&self) -> Result<Arc<Vec<LocatedRow>>, StorageError> {
        let lists = self.lists.clone();
        on_blocking(move || {
            let cx = lists.cx();
            lists.kept(|k| &mut k.located, |conn| located(conn, &cx))
        })
        .await
    }
}

/// Runs `f` on a blocking thread.
async fn on_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StorageError::Corrupt(format!("list task failed: {e}")))?
}

/// The sessions `q` lists, read on `conn`: through the trigram index when the plate search
/// has few hits there.
fn history(
    conn: &Connection,
    q: &HistoryQuery,
    cx: &RowContext<'_>,
) -> Result<Vec<HistoryRow>, StorageError> {
    let sql = HistorySql(q);
    let (status, start, end, search, limit, offset) = sql.params();
    let trigrams = match sql.trigrams() {
        Some(t) => {
            let hits: i64 = conn
                .prepare_cached(
                    "SELECT COUNT(*) FROM (SELECT rowid FROM history_plates
                      WHERE history_plates MATCH ?1 LIMIT ?2)",
                )?
                .query_row(params![t, FEW_HITS + 1], |r| r.get(0))?;
            (hits <= FEW_HITS).then_some(t)
        }
        None => None,
    };
    let mut stmt = conn.prepare_cached(&sql.sql(trigrams.is_some()))?;
    let read = |r: &rusqlite::Row<'_>| history_row_w(r, cx);
    let rows = match trigrams {
        Some(t) => stmt
            .query_map(params![status, start, end, search, limit, offset, t], read)?
            .collect::<Result<Vec<_>, _>>()?,
        None => stmt
            .query_map(params![status, start, end, search, limit, offset], read)?
            .collect::<Result<Vec<_>, _>>()?,
    };
    Ok(rows)
}

/// The cars seen at a place, read on `conn`.
fn located(conn: &Connection, cx: &RowContext<'_>) -> Result<Vec<LocatedRow>, StorageError> {
    let local = |ms: Option<i64>| ms.map(|ms| parkmesh_parking::time::format_local(ms, cx.tz));
    let mut stmt = conn.prepare_cached(LOCATED)?;
    let rows = stmt.query_map([], |r| {
        Ok(LocatedRow {
            plate_id: r.get(0)?,
            plate_view: r.get(1)?,
            entry_time: local(r.get(2)?),
            location: r.get(3)?,
            location_time: local(r.get(4)?),
            is_anomaly: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
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

/// The history list's SQL for one [`HistoryQuery`].
struct HistorySql<'a>(&'a HistoryQuery);

impl HistorySql<'_> {
    /// The full-text query of the trigram index (`history_plates`) that every session the plate
    /// search matches also matches: each three characters of the search. `None` when the
    /// search is shorter than three characters (no trigram) or there is none, and for the
    /// open-session lists (few rows, their own index).
    fn trigrams(&self) -> Option<String> {
        if self.0.open_only() {
            return None;
        }
        let chars: Vec<char> = self.0.normalized_search()?.chars().collect();
        let mut seen = std::collections::BTreeSet::new();
        let terms: Vec<String> = chars
            .windows(3)
            .map(|w| w.iter().collect::<String>())
            .filter(|t| seen.insert(t.clone()))
            .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
            .collect();
        (!terms.is_empty()).then(|| terms.join(" AND "))
    }

    /// The `SELECT` of [`Reads::history`]; its parameters are [`HistorySql::params`] and, with
    /// `by_plate`, the trigram query as `?7`: the sessions are then read from the trigram
    /// index's hits rather than by walking every session in time order.
    fn sql(&self, by_plate: bool) -> String {
        // Open sessions are few and have a partial index of their own (`history_open`). It is
        // named here because SQLite plans with the bound `LIMIT`: with a large one (the
        // vehicles-in-the-lot list asks for all of them) it would rather walk every session in
        // time order to skip the sort, which takes seconds on millions of sessions.
        let q = self.0;
        let mut sql = format!("SELECT {HISTORY_COLUMNS} ");
        sql.push_str(if q.open_only() {
            "FROM history INDEXED BY history_open WHERE status = 'IN' AND deleted = 0"
        } else if by_plate {
            // CROSS JOIN: the hits are the outer loop, each read by its id.
            "FROM (SELECT rowid AS hit FROM history_plates WHERE history_plates MATCH ?7) AS m
               CROSS JOIN history ON history.id = m.hit WHERE deleted = 0"
        } else {
            "FROM history WHERE deleted = 0"
        });
        if !q.open_only() && q.status.is_some() {
            sql.push_str(" AND status = ?1");
        }
        if q.day.is_some() {
            sql.push_str(
                " AND COALESCE(entry_ms, exit_ms) >= ?2 AND COALESCE(entry_ms, exit_ms) < ?3",
            );
        }
        if q.search.is_some() {
            sql.push_str(
                " AND (plate_id LIKE ?4 ESCAPE '\\' OR
                  REPLACE(REPLACE(REPLACE(UPPER(plate_view), ' ', ''), '-', ''), '.', '') LIKE ?4 ESCAPE '\\')",
            );
        }
        sql.push_str(" ORDER BY COALESCE(entry_ms, exit_ms) DESC, id DESC LIMIT ?5 OFFSET ?6");
        sql
    }

    /// The values of `?1` to `?6` in [`HistorySql::sql`]: status, day start and end, search
    /// pattern, limit, offset.
    fn params(&self) -> (&str, i64, i64, String, i64, i64) {
        let q = self.0;
        let (start, end) = q.day.unwrap_or((0, 0));
        let search = q
            .normalized_search()
            .map(|n| format!("%{}%", escape_like(&n)));
        (
            q.status.as_deref().unwrap_or(""),
            start,
            end,
            search.unwrap_or_default(),
            q.limit.max(0),
            q.offset.max(0),
        )
    }
}

/// Most trigram index hits a plate search reads and sorts itself. A search that more sessions
/// may match walks the sessions in time order instead: its matches are then frequent (at least
/// one session in a hundred of a million), so a page of them is found after a few thousand.
const FEW_HITS: i64 = 10_000;

#[cfg(test)]
mod tests {
    use super::HistorySql;
    use crate::rows::HistoryQuery;

    /// The steps of the query plan of `sql` with `params` bound (SQLite plans with the bound
    /// `LIMIT`).
    fn steps(conn: &rusqlite::Connection, sql: &str, params: impl rusqlite::Params) -> Vec<String> {
        conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map(params, |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// A database in `dir` with the schema made, and a connection to its file.
    async fn opened(dir: &std::path::Path) -> rusqlite::Connection {
        use sqlx::Connection as _;
        let db_path = dir.join("central.db");
        let mut conn =
            sqlx::SqliteConnection::connect_with(&super::super::connect_options(&db_path))
                .await
                .unwrap();
        crate::migrate::run(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        rusqlite::Connection::open(&db_path).unwrap()
    }

    /// The query plan of the history list for `q` (not by the trigram index), with its
    /// parameters bound as the read path binds them.
    fn plan(conn: &rusqlite::Connection, q: &HistoryQuery) -> Vec<String> {
        let sql = HistorySql(q);
        let (status, start, end, search, limit, offset) = sql.params();
        steps(
            conn,
            &sql.sql(false),
            rusqlite::params![status, start, end, search, limit, offset],
        )
    }

    /// The vehicles in the lot (every open session: no real limit) and the status `IN` filter
    /// read the open sessions' own index, whatever the limit; the other lists do not. Walking
    /// every session in time order to find the few open ones took 4–6 s on a database of 5
    /// million sessions.
    #[tokio::test]
    async fn open_session_lists_read_their_own_index_whatever_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let conn = opened(dir.path()).await;
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
    }

    /// A plate search of three characters or more reads the hits of the trigram index, each
    /// by its id, rather than every session; the cars seen at a place are read from their own
    /// index.
    #[tokio::test]
    async fn plate_searches_and_located_cars_read_their_own_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let conn = opened(dir.path()).await;
        let q = HistoryQuery {
            limit: 50,
            search: Some("51a-1.2".into()),
            ..HistoryQuery::default()
        };
        let sql = HistorySql(&q);
        let trigrams = sql.trigrams().unwrap();
        assert_eq!(trigrams, r#""51A" AND "1A1" AND "A12""#);
        let (status, start, end, search, limit, offset) = sql.params();
        let plan = steps(
            &conn,
            &sql.sql(true),
            rusqlite::params![status, start, end, search, limit, offset, trigrams],
        );
        assert!(
            plan.iter().any(|s| s.contains("VIRTUAL TABLE INDEX")),
            "{plan:?}"
        );
        assert!(
            plan.iter()
                .any(|s| s.contains("SEARCH history USING INTEGER PRIMARY KEY")),
            "{plan:?}"
        );
        // Shorter than a trigram: no index can answer it.
        let short = HistoryQuery {
            search: Some("5-1".into()),
            ..q.clone()
        };
        assert_eq!(HistorySql(&short).trigrams(), None);
        let located = steps(&conn, super::LOCATED, []);
        assert!(
            located.iter().any(|s| s.contains("history_located")),
            "{located:?}"
        );
    }
}
