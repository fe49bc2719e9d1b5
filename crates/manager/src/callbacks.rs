//! Callbacks for events that arrive from peers, named as in the original integration guide:
//! `on_vehicle_entry_pending` (an entry received from a peer, before it is stored),
//! `on_vehicle_entry_confirmed` (that entry is stored here) and `on_vehicle_exit` (an exit from a
//! peer is stored here). They run on the mesh driver task: keep them short and non-blocking.

use std::sync::{Arc, RwLock};

use parkmesh_protocol::{Event, EventKind};

/// A callback for one event.
pub type EventCallback = Arc<dyn Fn(&Event) + Send + Sync>;

#[derive(Default)]
struct Lists {
    entry_pending: Vec<EventCallback>,
    entry_confirmed: Vec<EventCallback>,
    exit: Vec<EventCallback>,
}

/// The registered callbacks (cheap to clone; shared with the driver).
#[derive(Clone, Default)]
pub(crate) struct Callbacks(Arc<RwLock<Lists>>);

impl Callbacks {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Lists> {
        self.0.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Lists> {
        self.0.write().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn add_entry_pending(&self, f: EventCallback) {
        self.write().entry_pending.push(f);
    }

    pub(crate) fn add_entry_confirmed(&self, f: EventCallback) {
        self.write().entry_confirmed.push(f);
    }

    pub(crate) fn add_exit(&self, f: EventCallback) {
        self.write().exit.push(f);
    }

    /// Events received from peers, about to be stored.
    pub(crate) fn pending(&self, events: &[Event]) {
        let l = self.read();
        for e in events.iter().filter(|e| e.kind == EventKind::VehicleEntry) {
            for f in &l.entry_pending {
                f(e);
            }
        }
    }

    /// Events from peers now stored here.
    pub(crate) fn confirmed(&self, events: &[Event]) {
        let l = self.read();
        for e in events {
            let list = match e.kind {
                EventKind::VehicleEntry => &l.entry_confirmed,
                EventKind::VehicleExit => &l.exit,
                _ => continue,
            };
            for f in list {
                f(e);
            }
        }
    }
}
