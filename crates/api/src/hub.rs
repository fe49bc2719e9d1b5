//! Fan-out to sockets: `/ws/history` (frontends), `/ws/cameras` and `/ws/edge` (edges).
//!
//! One task listens to storage commits (local and replicated) and turns each into frames once,
//! while a socket that would receive them is connected; every socket task only forwards text.
//! Senders never block on a slow client: history and camera frames go through a bounded
//! broadcast (a lagging client skips frames and the seed frontend refetches on the next one),
//! edge pushes through a bounded per-edge queue (a full queue drops the push and logs it; the
//! edge keeps its own DB and re-syncs on reconnect).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use parkmesh_protocol::EventKind;
use parkmesh_storage::{Commit, HistoryRow, Storage};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use crate::render;

/// Frames queued per edge socket before pushes to it are dropped.
pub(crate) const EDGE_QUEUE: usize = 1024;

struct EdgeSlot {
    generation: u64,
    tx: mpsc::Sender<String>,
}

/// Shared socket registries.
#[derive(Clone)]
pub(crate) struct Hubs {
    pub(crate) history: broadcast::Sender<Arc<str>>,
    pub(crate) cameras: broadcast::Sender<()>,
    edges: Arc<Mutex<(u64, HashMap<String, EdgeSlot>)>>,
}

impl Hubs {
    pub(crate) fn new() -> Self {
        Self {
            history: broadcast::channel(1024).0,
            cameras: broadcast::channel(64).0,
            edges: Arc::new(Mutex::new((0, HashMap::new()))),
        }
    }

    /// Tells `/ws/cameras` clients to refresh.
    pub(crate) fn cameras_changed(&self) {
        let _ = self.cameras.send(());
    }

    /// Registers an edge socket, replacing an older one with the same id; returns the
    /// registration's generation (for [`Hubs::unregister_edge`]) and its queue.
    pub(crate) fn register_edge(&self, edge_id: &str) -> (u64, mpsc::Receiver<String>) {
        let (tx, rx) = mpsc::channel(EDGE_QUEUE);
        let mut g = self.edges.lock().unwrap_or_else(|p| p.into_inner());
        g.0 += 1;
        let generation = g.0;
        g.1.insert(edge_id.to_owned(), EdgeSlot { generation, tx });
        (generation, rx)
    }

    /// Removes an edge registration only if it is still the one made with `generation`, so an
    /// old socket's cleanup never removes the registration of a newer connection.
    pub(crate) fn unregister_edge(&self, edge_id: &str, generation: u64) {
        let mut g = self.edges.lock().unwrap_or_else(|p| p.into_inner());
        if g.1.get(edge_id).is_some_and(|s| s.generation == generation) {
            g.1.remove(edge_id);
        }
    }

    fn push_edges(&self, frame: &str) {
        let g = self.edges.lock().unwrap_or_else(|p| p.into_inner());
        for (edge_id, slot) in &g.1 {
            if slot.tx.try_send(frame.to_owned()).is_err() {
                tracing::warn!(edge_id = %edge_id, "edge push queue full or closed; push dropped");
            }
        }
    }

    /// Forwards storage commits to the sockets until the storage closes.
    pub(crate) fn spawn_forwarder(&self, storage: &Storage) {
        let mut rx = storage.subscribe();
        let hubs = self.clone();
        let own = storage.stream().origin.to_string();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(commit) => hubs.forward(&commit, &own),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(skipped = n, "socket fan-out lagged behind commits");
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        });
    }

    /// Whether an edge socket is registered.
    fn has_edges(&self) -> bool {
        !self
            .edges
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .is_empty()
    }

    /// Turns a commit into frames. A frame nobody is connected to receive is not rendered (a
    /// socket that connects later gets only later frames anyway): a catch-up commits thousands
    /// of sessions at a time, often with no frontend open.
    fn forward(&self, commit: &Commit, own: &str) {
        let frontends = self.history.receiver_count() > 0;
        if frontends {
            for s in &commit.sessions {
                let _ = self
                    .history
                    .send(Arc::from(render::history_update(s, own).to_string()));
            }
        }
        let edges = self.has_edges();
        for e in &commit.events {
            if frontends && e.kind == EventKind::ZoneConfig {
                let data = json!({
                    "event_type": "PARKING_LOT_CONFIG_UPDATE",
                    "camera_name": e.payload.get("location_name"),
                    "capacity": e.payload.get("capacity"),
                });
                let _ = self.history.send(Arc::from(
                    json!({ "type": "history_update", "data": data }).to_string(),
                ));
            }
            if !edges {
                continue;
            }
            let id = e.id.to_string();
            let frame = match e.kind {
                EventKind::VehicleEntry => find(&commit.sessions, |s| {
                    s.entry_event_id.as_deref() == Some(&id)
                })
                .map(entry_push),
                EventKind::VehicleExit => find(&commit.sessions, |s| {
                    s.exit_event_id.as_deref() == Some(&id)
                })
                .map(exit_push),
                EventKind::VehicleLocation => Some(json!({
                    "type": "LOCATION_UPDATE",
                    "event_id": e.payload.get("edge_event_id").cloned().unwrap_or_else(|| json!(id)),
                    "data": {
                        "plate_id": e.payload.get("plate_id"),
                        "location": e.payload.get("location"),
                        "location_time": e.payload.get("at_ms"),
                    },
                })),
                EventKind::HistoryEdit | EventKind::HistoryDelete => {
                    let session = e
                        .payload
                        .get("session")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    find(&commit.sessions, |s| s.session_id == session)
                        .map(|s| admin_push(s, e.kind == EventKind::HistoryDelete))
                }
                _ => None,
            };
            if let Some(frame) = frame {
                self.push_edges(&frame.to_string());
            }
        }
    }
}

fn find(sessions: &[HistoryRow], pred: impl Fn(&HistoryRow) -> bool) -> Option<&HistoryRow> {
    sessions.iter().find(|s| pred(s))
}

fn entry_push(s: &HistoryRow) -> Value {
    json!({
        "type": "ENTRY",
        "event_id": s.event_id,
        "source_central": s.source_central,
        "camera_id": s.entry_camera_id,
        "camera_name": s.entry_camera_name,
        "camera_type": "ENTRY",
        "data": {
            "plate_text": s.plate_id,
            "plate_view": s.plate_view,
            "confidence": s.entry_confidence,
            "source": s.entry_source,
        },
        "entry_time": s.entry_time,
    })
}

/// Exits are pushed with the entry's event id so that edges can match them (the original sent its own
/// history id, which an edge cannot relate to its local row).
fn exit_push(s: &HistoryRow) -> Value {
    json!({
        "type": "EXIT",
        "event_id": s.event_id,
        "source_central": s.source_central,
        "camera_id": s.exit_camera_id,
        "camera_name": s.exit_camera_name,
        "camera_type": "EXIT",
        "data": {
            "plate_text": s.plate_id,
            "plate_view": s.plate_view,
            "confidence": s.exit_confidence,
            "source": s.exit_source,
        },
        "exit_time": s.exit_time,
        "fee": s.fee,
        "duration": s.duration,
    })
}

/// Admin changes go to edges by event id only: a central's `history_id` means nothing on an
/// edge (edge and central number rows independently), so it is sent as null.
fn admin_push(s: &HistoryRow, deleted: bool) -> Value {
    json!({
        "type": if deleted { "DELETE" } else { "UPDATE" },
        "history_id": null,
        "event_id": s.event_id,
        "data": { "plate_text": s.plate_id, "plate_view": s.plate_view },
    })
}
