//! The single writer: every mutation of the database goes through it.
//!
//! It is a dedicated OS thread that owns one rusqlite connection with cached prepared
//! statements (so the async runtime never blocks on SQLite, and no statement pays a thread hop).
//! Commands queue on a channel; the thread takes the first, drains whatever else is already
//! waiting (up to [`MAX_BATCH`]) and runs them all in one `BEGIN IMMEDIATE` transaction (group
//! commit, `batch`): one failing command leaves no half-written rows and does not affect the
//! others. Replies are sent only after `COMMIT` returned, so an edge is never told "stored"
//! about something that is not on disk. One fsync is thus shared by every event of the batch.

use std::sync::Arc;

use parkmesh_parking::payload::{EntryPayload, ExitPayload, LocationPayload, Payload, Tariff};
use parkmesh_parking::plate::ExitMatch;
use parkmesh_parking::subscription::Subscription;
use parkmesh_protocol::{CentralId, Event, EventId, EventKind, Hlc, HlcClock, StreamId};
use rusqlite::{Connection, OptionalExtension, params};
use sqlx::SqliteConnection;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::bulk::{ImportInput, ImportReport, Progress};
use crate::error::StorageError;
use crate::rows::HistoryRow;
use crate::stats::{Pruner, StorageMetrics};
use crate::unsettled::UnsettledCache;
use crate::work::WorkingSet;
use crate::write_conn::WriteConn;
use crate::{append, events, refold, sessions, settings};

mod batch;

/// Most commands committed in one transaction.
const MAX_BATCH: usize = 512;

/// A local mutation.
#[derive(Debug, Clone)]
pub enum Intent {
    /// A vehicle entered at one of this central's gates.
    Entry {
        /// The entry.
        payload: EntryPayload,
        /// Idempotency key of the edge request (its type and `event_id`), when it had one.
        request_key: Option<String>,
    },
    /// A vehicle left. The tariff and subscription exemption are filled in by the writer from
    /// the replicated settings in force at this central, and under `matching` an exit whose
    /// plate has no open session is matched to a confusable plate's session (`matching`).
    Exit {
        /// The exit.
        payload: ExitPayload,
        /// How an exit of a plate with no open session is matched (`exit_match`).
        matching: ExitMatch,
        /// Idempotency key.
        request_key: Option<String>,
    },
    /// An in-lot camera saw a vehicle.
    Location {
        /// The sighting.
        payload: LocationPayload,
        /// Idempotency key.
        request_key: Option<String>,
    },
    /// Any other event (operator edit/delete, fees, subscriptions, staff, zones), already
    /// validated by the caller.
    Event {
        /// Kind.
        kind: EventKind,
        /// Payload.
        payload: serde_json::Value,
    },
    /// An edge heartbeat (local table, not replicated).
    Heartbeat {
        /// Camera id.
        camera_id: i64,
        /// Camera name.
        name: String,
        /// Camera type.
        camera_type: String,
        /// Counter reported by the edge.
        events_sent: i64,
        /// Counter reported by the edge.
        events_failed: i64,
    },
}

/// The outcome of a local mutation, as typed data; the caller renders it.
#[derive(Debug, Clone)]
pub enum Ingested {
    /// Stored as a new event; `session` is the session it produced or changed, if any.
    Stored {
        /// The appended event.
        event: Event,
        /// The session after the fold.
        session: Option<Box<HistoryRow>>,
    },
    /// A repeat of an earlier request (same idempotency key): nothing changed, and this is the
    /// outcome the first request got — its event, and its session as it was then — so that the
    /// repeat can be answered exactly as the first one was.
    Duplicate {
        /// The event the first request stored.
        event: Event,
        /// The session as the first request saw it.
        session: Option<Box<HistoryRow>>,
    },
    /// A local-table write (heartbeat) done.
    Done,
}

/// What one committed write transaction changed; broadcast to subscribers after commit.
#[derive(Debug, Clone)]
pub struct Commit {
    /// Events newly stored by this commit (local or from peers), in log order.
    pub events: Vec<Event>,
    /// Sessions whose projection changed.
    pub sessions: Vec<HistoryRow>,
}

pub(crate) enum Command {
    Local {
        intent: Box<Intent>,
        reply: oneshot::Sender<Result<Ingested, StorageError>>,
    },
    Remote {
        events: Vec<Event>,
        reply: oneshot::Sender<Result<Vec<Event>, StorageError>>,
    },
    /// A bulk import (`bulk`): runs alone, in its own transaction.
    Import {
        input: Box<ImportInput>,
        progress: Option<Progress>,
        reply: oneshot::Sender<Result<ImportReport, StorageError>>,
    },
}

/// Reads or creates the identity of the database (origin and incarnation).
pub(crate) async fn load_identity(
    conn: &mut SqliteConnection,
    db_path: &std::path::Path,
    own: &CentralId,
) -> Result<StreamId, StorageError> {
    let origin: Option<String> = sqlx::query_scalar("SELECT value FROM meta WHERE key = 'origin'")
        .fetch_optional(&mut *conn)
        .await?;
    match origin {
        Some(found) if found != own.as_str() => Err(StorageError::WrongOrigin {
            path: db_path.display().to_string(),
            found,
            expected: own.to_string(),
        }),
        Some(_) => {
            let inc: String =
                sqlx::query_scalar("SELECT value FROM meta WHERE key = 'incarnation'")
                    .fetch_one(&mut *conn)
                    .await?;
            let mut incarnation: u64 = inc
                .parse()
                .map_err(|_| StorageError::Corrupt(format!("meta.incarnation {inc:?}")))?;
            let pending: Option<String> =
                sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
                    .bind(crate::backup::PENDING_KEY)
                    .fetch_optional(&mut *conn)
                    .await?;
            if pending.is_some() {
                incarnation = restart_incarnation(conn, incarnation).await?;
            }
            Ok(StreamId {
                origin: own.clone(),
                incarnation,
            })
        }
        None => {
            // A new database is a new incarnation: its stream starts at seq 1 and can never
            // collide with events peers still hold from an earlier life of this central.
            let incarnation = parkmesh_clock::now_ms().max(1) as u64;
            sqlx::query("INSERT INTO meta (key, value) VALUES ('origin', ?), ('incarnation', ?)")
                .bind(own.as_str())
                .bind(incarnation.to_string())
                .execute(&mut *conn)
                .await?;
            tracing::info!(origin = %own, incarnation, "new database: new incarnation");
            Ok(StreamId {
                origin: own.clone(),
                incarnation,
            })
        }
    }
}

/// A restored copy (see `backup`): peers may hold later seqs of its stream than the copy does,
/// so its own events continue in a new incarnation, and the old stream's tail comes back from
/// the peers. Replaces the incarnation and removes the mark in one transaction.
async fn restart_incarnation(conn: &mut SqliteConnection, old: u64) -> Result<u64, StorageError> {
    use sqlx::Connection as _;
    let incarnation = (parkmesh_clock::now_ms().max(1) as u64).max(old + 1);
    let mut tx = conn.begin().await?;
    sqlx::query("UPDATE meta SET value = ? WHERE key = 'incarnation'")
        .bind(incarnation.to_string())
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM meta WHERE key = ?")
        .bind(crate::backup::PENDING_KEY)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::warn!(
        old_incarnation = old,
        incarnation,
        "restored database: this central continues in a new incarnation; the rest of the old one comes back from peers"
    );
    Ok(incarnation)
}

pub(crate) struct Writer {
    /// The connection and this central's stream (shared with the bulk import).
    pub(crate) db: WriteConn,
    commits: broadcast::Sender<Arc<Commit>>,
    metrics: StorageMetrics,
    pruner: Pruner,
    /// Edge request rows inserted by the batch in progress.
    requests_added: i64,
    /// What the database holds after the settled point of recently folded groups
    /// (`unsettled`), lent to each command in its working set.
    unsettled: UnsettledCache,
    /// The fee table and subscription list in force as last read (`None`: read them again).
    /// Emptied when a command stores a fee or subscription event or rolls back, when a commit
    /// fails, and by the import.
    settings: Option<(Tariff, Vec<Subscription>)>,
}

/// Opens the writer's connection on `db_path` (already migrated) and starts its thread.
pub(crate) fn spawn(
    db_path: &std::path::Path,
    stream: StreamId,
    tz: jiff::tz::TimeZone,
    commits: broadcast::Sender<Arc<Commit>>,
    metrics: StorageMetrics,
) -> Result<mpsc::Sender<Command>, StorageError> {
    let conn = Connection::open(db_path)?;
    // FULL: a commit is on disk before the edge gets its answer; group commit amortises it.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;",
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // Room for every fixed statement plus the few column sets of history updates.
    conn.set_prepared_statement_cache_capacity(128);
    crate::migrate::data::finish_pending(&conn, &stream, &tz)?;
    let head: Option<i64> = conn
        .query_row(
            "SELECT head_seq FROM streams WHERE origin = ?1 AND incarnation = ?2",
            params![stream.origin.as_str(), stream.incarnation as i64],
            |r| r.get(0),
        )
        .optional()?;
    let hlc = conn
        .query_row(
            "SELECT hlc_ms, hlc_counter FROM events ORDER BY hlc_ms DESC, hlc_counter DESC LIMIT 1",
            [],
            |r| {
                Ok(Hlc {
                    wall_ms: r.get::<_, i64>(0)? as u64,
                    counter: r.get::<_, i64>(1)? as u32,
                })
            },
        )
        .optional()?
        .unwrap_or_default();
    let hlc = HlcClock::starting_after(hlc);
    let no_conflicts: bool =
        conn.query_row("SELECT NOT EXISTS (SELECT 1 FROM conflicts)", [], |r| {
            r.get(0)
        })?;
    let requests: i64 = conn.query_row("SELECT COUNT(*) FROM edge_requests", [], |r| r.get(0))?;
    metrics.set_edge_requests(requests);
    let (tx, rx) = mpsc::channel(4096);
    let writer = Writer {
        db: WriteConn {
            conn,
            stream,
            tz,
            next_seq: head.unwrap_or(0) as u64 + 1,
            hlc,
            no_conflicts,
        },
        commits,
        metrics,
        pruner: Pruner::new(),
        requests_added: 0,
        unsettled: UnsettledCache::default(),
        settings: None,
    };
    std::thread::Builder::new()
        .name("parkmesh-writer".into())
        .spawn(move || writer.run(rx))
        .map_err(|e| StorageError::Corrupt(format!("cannot start the writer thread: {e}")))?;
    Ok(tx)
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        while let Some(first) = rx.blocking_recv() {
            let mut batch = Vec::new();
            let mut import = None;
            let mut next = Some(first);
            while let Some(cmd) = next.take() {
                if matches!(cmd, Command::Import { .. }) {
                    import = Some(cmd);
                    break;
                }
                batch.push(cmd);
                if batch.len() < MAX_BATCH {
                    next = rx.try_recv().ok();
                }
            }
            if !batch.is_empty() {
                self.run_batch(batch);
            }
            if let Some(Command::Import {
                input,
                progress,
                reply,
            }) = import
            {
                // The import writes rows and marks without the fold's bookkeeping.
                self.unsettled.clear();
                self.settings = None;
                let _ = reply.send(self.db.import(*input, progress));
            }
        }
        tracing::debug!("storage writer stopped");
    }

    /// Runs one statement without rows through the statement cache (`execute_batch` prepares
    /// its text every time).
    fn exec(&self, sql: &str) -> rusqlite::Result<()> {
        self.db.conn.prepare_cached(sql)?.execute([]).map(|_| ())
    }

    fn local(&mut self, intent: Intent, dirty: &mut WorkingSet) -> Result<Ingested, StorageError> {
        let now = parkmesh_clock::now_ms();
        let request_key = match &intent {
            Intent::Entry { request_key, .. }
            | Intent::Exit { request_key, .. }
            | Intent::Location { request_key, .. } => request_key.clone(),
            _ => None,
        };
        if let Some(key) = &request_key
            && let Some(first) = self.first_outcome(key)?
        {
            return Ok(first);
        }
        let (kind, payload) = match intent {
            Intent::Entry { payload, .. } => {
                if let Some(open) = sessions::open_session(
                    &self.db.conn,
                    &self.db.row_context(),
                    &payload.plate_id,
                )? {
                    return Err(StorageError::AlreadyInside {
                        plate_id: payload.plate_id,
                        entry_time: open.entry_time.unwrap_or_default(),
                        event_id: open.event_id.unwrap_or(open.session_id),
                    });
                }
                (EntryPayload::KIND, serde_json::to_value(&payload)?)
            }
            Intent::Exit {
                mut payload,
                matching,
                ..
            } => {
                crate::matching::match_exit(
                    &self.db.conn,
                    &self.db.row_context(),
                    matching,
                    &mut payload,
                )?;
                if self.settings.is_none() {
                    self.settings = Some((
                        settings::tariff(&self.db.conn)?,
                        settings::subscriptions(&self.db.conn)?,
                    ));
                }
                let Some((tariff, subs)) = &self.settings else {
                    return Err(StorageError::Corrupt("settings not read".into()));
                };
                payload.tariff = *tariff;
                payload.exempt = parkmesh_parking::subscription::exemption(
                    subs,
                    &payload.gate.plate_id,
                    payload.gate.at_ms,
                    &self.db.tz,
                );
                (ExitPayload::KIND, serde_json::to_value(&payload)?)
            }
            Intent::Location { payload, .. } => {
                (LocationPayload::KIND, serde_json::to_value(&payload)?)
            }
            Intent::Event { kind, payload } => (kind, payload),
            Intent::Heartbeat {
                camera_id,
                name,
                camera_type,
                events_sent,
                events_failed,
            } => {
                self.db.conn
                    .prepare_cached(
                        "INSERT INTO cameras (id, name, type, status, last_heartbeat_ms, events_sent, events_failed,
                                              created_at_ms, updated_at_ms)
                         VALUES (?1, ?2, ?3, 'online', ?4, ?5, ?6, ?4, ?4)
                         ON CONFLICT(id) DO UPDATE SET name = ?2, type = ?3, status = 'online', last_heartbeat_ms = ?4,
                            events_sent = ?5, events_failed = ?6, updated_at_ms = ?4",
                    )?
                    .execute(params![camera_id, name, camera_type, now, events_sent, events_failed])?;
                return Ok(Ingested::Done);
            }
        };
        let event = Event {
            id: EventId {
                origin: self.db.stream.origin.clone(),
                incarnation: self.db.stream.incarnation,
                seq: self.db.next_seq,
            },
            hlc: self.db.hlc.now(now.max(0) as u64),
            schema: 1,
            kind,
            payload,
        };
        self.db.next_seq += 1;
        // Fresh: the stream head moves once for the whole batch (`batch`).
        append::insert_event(&self.db.conn, event.clone(), true, dirty)?;
        refold::refold(&self.db.conn, &self.db.stream, &self.db.tz, now, dirty)?;
        let id_text = event.id.to_string();
        let session = dirty.changed_sessions.iter().find(|s| {
            s.session_id == id_text || s.exit_event_id.as_deref() == Some(id_text.as_str())
        });
        let session = match session {
            Some(s) => Some(Box::new(s.clone())),
            None => sessions::session_of_event(&self.db.conn, &self.db.row_context(), &id_text)?
                .map(Box::new),
        };
        if let Some(key) = request_key {
            // The outcome as domain data, in the same transaction as the event: the `answer`
            // column holds the session snapshot (JSON of `HistoryRow`, or `null`).
            let snapshot = events::json_text(&session, 2048)?;
            self.db.conn
                .prepare_cached("INSERT INTO edge_requests (request_key, event_id, answer, created_at_ms) VALUES (?1, ?2, ?3, ?4)")?
                .execute(params![key, id_text, snapshot, now])?;
            self.requests_added += 1;
        }
        Ok(Ingested::Stored { event, session })
    }

    /// The outcome an earlier request with idempotency key `key` got, if there was one.
    fn first_outcome(&self, key: &str) -> Result<Option<Ingested>, StorageError> {
        let first: Option<(String, String)> = self
            .db
            .conn
            .prepare_cached("SELECT event_id, answer FROM edge_requests WHERE request_key = ?1")?
            .query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((event_id, snapshot)) = first else {
            return Ok(None);
        };
        let event = events::load_event(&self.db.conn, &event_id)?.ok_or_else(|| {
            StorageError::Corrupt(format!(
                "edge_requests names event {event_id}, which is not in the log"
            ))
        })?;
        // Rows written before snapshots were kept hold a rendered answer instead: those get
        // the session as it is now.
        let session = match serde_json::from_str::<Option<Box<HistoryRow>>>(&snapshot) {
            Ok(session) => session,
            Err(_) => sessions::session_of_event(&self.db.conn, &self.db.row_context(), &event_id)?
                .map(Box::new),
        };
        Ok(Some(Ingested::Duplicate { event, session }))
    }

    fn remote(
        &mut self,
        events: Vec<Event>,
        dirty: &mut WorkingSet,
    ) -> Result<Vec<Event>, StorageError> {
        let now = parkmesh_clock::now_ms();
        for event in events {
            if event.id.origin == self.db.stream.origin
                && event.id.incarnation == self.db.stream.incarnation
            {
                // Our own events coming back through a relay: already held.
                continue;
            }
            self.db.hlc.observe(event.hlc);
            append::insert_event(&self.db.conn, event, false, dirty)?;
        }
        crate::heads::advance_heads(&self.db.conn, &self.db.stream, dirty)?;
        refold::refold(&self.db.conn, &self.db.stream, &self.db.tz, now, dirty)?;
        Ok(dirty.new_events.clone())
    }
}
