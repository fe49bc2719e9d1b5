//! The figures this crate counts as it serves ([`ApiMetrics`]): ingest answer latency, WebSocket
//! clients and refused requests by status class. `metrics` registers them at each scrape; the
//! handlers only bump them.

use std::time::Instant;

use parkmesh_storage::Labels;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// Figures counted by the API as it serves. Cheap to clone; clones share the values.
#[derive(Clone, Debug)]
pub(crate) struct ApiMetrics {
    ingest_seconds: Histogram,
    refused: Family<Labels, Counter>,
    ws_clients: Family<Labels, Gauge>,
}

impl Default for ApiMetrics {
    fn default() -> Self {
        Self {
            // 100 µs .. ~3.3 s.
            ingest_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
            refused: Family::default(),
            ws_clients: Family::default(),
        }
    }
}

/// Counts one WebSocket client while it lives.
pub(crate) struct WsClient(Gauge);

impl Drop for WsClient {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl ApiMetrics {
    /// Records the time one edge event took from arrival to answer.
    pub(crate) fn observe_ingest(&self, started: Instant) {
        self.ingest_seconds.observe(started.elapsed().as_secs_f64());
    }

    /// Counts a request answered with a 4xx or 5xx status.
    pub(crate) fn observe_status(&self, status: u16) {
        let class = match status {
            400..=499 => "4xx",
            500..=599 => "5xx",
            _ => return,
        };
        self.refused
            .get_or_create(&vec![("class", class.to_owned())])
            .inc();
    }

    /// Counts a client of the socket `name` until the returned guard is dropped.
    pub(crate) fn ws_client(&self, name: &str) -> WsClient {
        let g = self
            .ws_clients
            .get_or_create_owned(&vec![("socket", name.to_owned())]);
        g.inc();
        WsClient(g)
    }

    pub(crate) fn register(&self, r: &mut Registry) {
        r.register_with_unit(
            "parkmesh_ingest_answer",
            "Time from an edge event's arrival to its answer (after commit)",
            Unit::Seconds,
            self.ingest_seconds.clone(),
        );
        r.register(
            "parkmesh_http_requests_refused",
            "HTTP requests answered with an error status, by status class",
            self.refused.clone(),
        );
        r.register(
            "parkmesh_websocket_clients",
            "Open WebSocket connections, by endpoint",
            self.ws_clients.clone(),
        );
    }
}
