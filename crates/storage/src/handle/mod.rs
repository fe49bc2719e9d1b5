//! The storage handle ([`Storage`]): opening a central's storage, its writes (each a command to
//! the single writer thread) and, in [`reads`], its queries through the read backend.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parkmesh_protocol::{CentralId, Event, StreamId};
use sqlx::{Connection, SqliteConnection};
use tokio::sync::{broadcast, mpsc};

use crate::bulk::{ImportInput, ImportReport, Progress};
use crate::error::StorageError;
use crate::report::{Reports, SiteReports};
use crate::stats::StorageMetrics;
use crate::writer::{self, Commit, Ingested, Intent};
use crate::{migrate, sqlite};

mod reads;

pub(crate) use reads::ReadBackend;

/// How to open a central's storage.
#[derive(Debug, Clone)]
pub struct StorageOptions {
    /// SQLite database file (created with its directory when missing).
    pub db_path: PathBuf,
    /// This central's id; the database remembers it and refuses another.
    pub origin: CentralId,
    /// Site time zone, for the seed's local-time text columns.
    pub tz: jiff::tz::TimeZone,
}

/// Handle to a central's storage. Cheap to clone; all clones share one writer task.
#[derive(Clone)]
pub struct Storage {
    reads: ReadBackend,
    writer: mpsc::Sender<writer::Command>,
    commits: broadcast::Sender<Arc<Commit>>,
    stream: StreamId,
    tz: jiff::tz::TimeZone,
    metrics: StorageMetrics,
    reports: SiteReports,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

impl Storage {
    /// Opens (creating and migrating when needed) the storage and starts its writer task.
    /// Must be called within a tokio runtime.
    pub async fn open(opts: StorageOptions) -> Result<Self, StorageError> {
        sqlite::ensure_parent(&opts.db_path)?;
        let conn_opts = sqlite::connect_options(&opts.db_path);
        let mut conn = SqliteConnection::connect_with(&conn_opts).await?;
        migrate::run(&mut conn).await?;
        let stream = writer::load_identity(&mut conn, &opts.db_path, &opts.origin).await?;
        conn.close().await?;
        let reads = ReadBackend::Sqlite(sqlite::Reads::open(
            &opts.db_path,
            opts.tz.clone(),
            stream.origin.as_str().to_owned(),
        ));
        let (commits, _) = broadcast::channel(1024);
        let metrics = StorageMetrics::default();
        let writer = writer::spawn(
            &opts.db_path,
            stream.clone(),
            opts.tz.clone(),
            commits.clone(),
            metrics.clone(),
        )?;
        tracing::info!(origin = %stream.origin, incarnation = stream.incarnation, db = %opts.db_path.display(), "storage open");
        let reports = SiteReports {
            reports: Arc::new(Reports::new(opts.db_path.clone())),
            own_tz: opts.tz.clone(),
            own_site: stream.origin.as_str().to_owned(),
        };
        Ok(Self {
            reads,
            writer,
            commits,
            stream,
            tz: opts.tz,
            metrics,
            reports,
        })
    }

    /// The storage's operational figures (events stored, group commits, edge request rows).
    pub fn metrics(&self) -> &StorageMetrics {
        &self.metrics
    }

    /// Sets how long answers to edge requests are remembered (default three days); older ones
    /// are deleted by the writer, so a repeat after that is treated as a new request.
    pub fn set_request_retention(&self, retention: Duration) {
        self.metrics
            .set_retention_ms(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX));
    }

    /// This central's own stream (origin id and incarnation).
    pub fn stream(&self) -> &StreamId {
        &self.stream
    }

    /// The site time zone used for local-time text.
    pub fn tz(&self) -> &jiff::tz::TimeZone {
        &self.tz
    }

    /// Subscribes to commit notices (sent after each write transaction commits). A slow
    /// subscriber may miss notices (`RecvError::Lagged`) and must then re-read the log.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Commit>> {
        self.commits.subscribe()
    }

    /// Runs a local mutation (edge event or operator change) through the parking rules, appends
    /// its event and updates projections in one transaction; answers after commit with the typed
    /// outcome. A repeat of an idempotency key gets the first request's outcome and writes
    /// nothing. Embedders append through `P2PManager::append`, which calls this.
    pub async fn ingest(&self, intent: Intent) -> Result<Ingested, StorageError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.writer
            .send(writer::Command::Local {
                intent: Box::new(intent),
                reply,
            })
            .await
            .map_err(|_| StorageError::Closed)?;
        rx.await.map_err(|_| StorageError::Closed)?
    }

    /// Imports sessions, zones, cameras and settings of an original ParkAI central in one
    /// transaction (nothing is written on error); what is already present is skipped. `progress`
    /// is called from the writer thread. The events are not pushed live to peers: they reach
    /// them through catch-up (an import runs while the central is stopped).
    pub async fn import_parkai(
        &self,
        input: ImportInput,
        progress: Option<Progress>,
    ) -> Result<ImportReport, StorageError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.writer
            .send(writer::Command::Import {
                input: Box::new(input),
                progress,
                reply,
            })
            .await
            .map_err(|_| StorageError::Closed)?;
        rx.await.map_err(|_| StorageError::Closed)?
    }

    /// Stores events received from peers (ignoring ones already held), advances the version
    /// vector and updates projections in one transaction. Returns the events newly stored.
    pub async fn apply_remote(&self, events: Vec<Event>) -> Result<Vec<Event>, StorageError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.writer
            .send(writer::Command::Remote { events, reply })
            .await
            .map_err(|_| StorageError::Closed)?;
        rx.await.map_err(|_| StorageError::Closed)?
    }
}
