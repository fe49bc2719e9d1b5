//! Operational figures of the storage, and the retention of remembered edge requests.
//!
//! The writer thread updates [`StorageMetrics`] after each commit: events stored by kind and
//! source, group-commit batch sizes, the time `COMMIT` (the fsync) takes, and the number of rows
//! in `edge_requests`. They are `prometheus-client` metrics (shared atomics, cheap to clone), so
//! whoever serves `/metrics` registers them with [`StorageMetrics::register`]; nothing here
//! knows about HTTP.
//!
//! `edge_requests` remembers the answer given to each edge request so that a repeat gets the
//! same answer. Edges retry within seconds or minutes, so rows older than the retention (three
//! days by default) are deleted by the writer, at most once a minute, with one range `DELETE` on
//! the `created_at_ms` index, inside an ordinary write transaction.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use rusqlite::Connection;

/// Default age after which a remembered edge request is forgotten: three days.
pub const DEFAULT_REQUEST_RETENTION_MS: i64 = 3 * 24 * 3600 * 1000;

/// Labels of a metric family, as (name, value) pairs.
pub type Labels = Vec<(&'static str, String)>;

/// Where a stored event came from, for the `source` label.
pub(crate) fn source_of_local(kind: &parkmesh_protocol::EventKind) -> &'static str {
    use parkmesh_protocol::EventKind as K;
    match kind {
        K::VehicleEntry | K::VehicleExit | K::VehicleLocation => "edge",
        _ => "operator",
    }
}

/// The storage's operational figures. Cheap to clone; clones share the values.
#[derive(Clone, Debug)]
pub struct StorageMetrics {
    events: Family<Labels, Counter>,
    batch_size: Histogram,
    commit_seconds: Histogram,
    edge_requests: Gauge,
    edge_requests_pruned: Counter,
    retention_ms: Arc<AtomicI64>,
}

impl Default for StorageMetrics {
    fn default() -> Self {
        Self {
            events: Family::default(),
            // 1, 2, 4, ... 512 (the largest batch).
            batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
            // 100 µs .. ~3.3 s.
            commit_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
            edge_requests: Gauge::default(),
            edge_requests_pruned: Counter::default(),
            retention_ms: Arc::new(AtomicI64::new(DEFAULT_REQUEST_RETENTION_MS)),
        }
    }
}

impl StorageMetrics {
    /// Registers every figure in `registry` under `parkmesh_*` names.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "parkmesh_events_ingested",
            "Events newly stored in the log, by kind and source (edge, operator, peer, import)",
            self.events.clone(),
        );
        registry.register(
            "parkmesh_commit_batch_size",
            "Commands committed together in one group-commit transaction",
            self.batch_size.clone(),
        );
        registry.register_with_unit(
            "parkmesh_commit_fsync",
            "Time COMMIT (and its fsync) took per group-commit transaction",
            Unit::Seconds,
            self.commit_seconds.clone(),
        );
        registry.register(
            "parkmesh_edge_requests",
            "Rows in the edge request table (answers remembered for repeated edge requests)",
            self.edge_requests.clone(),
        );
        registry.register(
            "parkmesh_edge_requests_pruned",
            "Remembered edge requests deleted because they were older than the retention",
            self.edge_requests_pruned.clone(),
        );
    }

    /// Counts `n` newly stored events of `kind` from `source`. Besides the storage's own
    /// sources, a bulk path (an import) may count its events here.
    pub fn count_events(&self, kind: &str, source: &'static str, n: u64) {
        self.events
            .get_or_create(&vec![
                ("kind", kind.to_owned()),
                ("source", source.to_owned()),
            ])
            .inc_by(n);
    }

    /// Rows currently in the edge request table.
    pub fn edge_requests(&self) -> i64 {
        self.edge_requests.get()
    }

    pub(crate) fn observe_commit(&self, batch: usize, seconds: f64) {
        self.batch_size.observe(batch as f64);
        self.commit_seconds.observe(seconds);
    }

    pub(crate) fn set_edge_requests(&self, rows: i64) {
        self.edge_requests.set(rows);
    }

    pub(crate) fn add_edge_requests(&self, delta: i64, pruned: u64) {
        self.edge_requests.inc_by(delta);
        self.edge_requests_pruned.inc_by(pruned);
    }

    pub(crate) fn retention_ms(&self) -> i64 {
        self.retention_ms.load(Ordering::Relaxed)
    }

    pub(crate) fn set_retention_ms(&self, ms: i64) {
        self.retention_ms.store(ms.max(1), Ordering::Relaxed);
    }
}

/// When the writer last pruned and how often it may; kept by the writer thread.
#[derive(Debug)]
pub(crate) struct Pruner {
    last_ms: i64,
}

impl Pruner {
    pub(crate) fn new() -> Self {
        Self { last_ms: 0 }
    }

    /// Deletes remembered requests older than the retention when the last prune is long enough
    /// ago (a quarter of the retention, at least a second, at most a minute). Runs inside the
    /// writer's open transaction; returns the rows deleted.
    pub(crate) fn maybe_prune(
        &mut self,
        conn: &Connection,
        metrics: &StorageMetrics,
        now: i64,
    ) -> rusqlite::Result<u64> {
        let retention = metrics.retention_ms();
        let every = (retention / 4).clamp(1_000, 60_000);
        if now - self.last_ms < every {
            return Ok(0);
        }
        self.last_ms = now;
        let deleted = conn
            .prepare_cached("DELETE FROM edge_requests WHERE created_at_ms < ?1")?
            .execute([now - retention])?;
        if deleted > 0 {
            tracing::info!(
                deleted,
                retention_secs = retention / 1000,
                "pruned old remembered edge requests"
            );
        }
        Ok(deleted as u64)
    }
}
