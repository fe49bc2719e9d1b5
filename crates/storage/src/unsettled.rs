//! The writer's memory of the groups it folded recently: per group key, exactly what the
//! incremental re-fold (`refold`) would otherwise read back from the database — the group's settled
//! point, the events after it with the operator events aimed at them, and the `history` rows of the
//! sessions after it as they were written (the group's unsettled part).
//!
//! Only the writer changes the log and the projections, and every change of a group's unsettled
//! part goes through a fold of that group, which replaces its entry with what the fold wrote. A
//! failed command forgets the entries it replaced; a rolled-back batch (a failed `COMMIT`, or a
//! command that failed after writing) or a bulk import forgets all of them, and a group missing
//! here is read from the database as before; so an entry is always equal to what the database holds
//! (the cache changes how much is read, not what a fold sees). The size is bounded: when full,
//! everything is forgotten at once.

use std::collections::HashMap;

use parkmesh_protocol::{Event, EventKind};

use crate::rows::HistoryRow;
use crate::settled::SettledPoint;

/// Most groups remembered: a settled group costs a few hundred bytes, one with an open session a
/// few kilobytes (its entry event and row), so at most some 30 MB.
const MAX_GROUPS: usize = 8_192;

/// What the database holds after one group's settled point.
#[derive(Debug, Clone)]
pub(crate) struct Unsettled {
    /// The stored settled point (`settled_points`; `after: None` when none is stored or it is
    /// before every event).
    pub(crate) settled: SettledPoint,
    /// The events of `settled.suffix`, and the operator events aimed at them.
    pub(crate) held: Vec<Event>,
    /// The stored `history` rows of `settled.sessions`.
    pub(crate) rows: HashMap<String, HistoryRow>,
}

impl Unsettled {
    /// The unsettled part after a fold that stored `settled`: its events picked from `events` and
    /// `new` (every vehicle event of the suffix and every operator event aimed at one must be among
    /// them) and its rows from `rows` (the rows the fold wrote or found unchanged).
    pub(crate) fn after_fold(
        settled: SettledPoint,
        events: Vec<Event>,
        new: &[&Event],
        mut rows: HashMap<String, HistoryRow>,
    ) -> Self {
        let suffix: std::collections::HashSet<&str> =
            settled.suffix.iter().map(String::as_str).collect();
        let mut held = Vec::with_capacity(settled.suffix.len());
        let mut id = String::new();
        let mut keep = |e: &Event| match e.kind {
            EventKind::HistoryEdit | EventKind::HistoryDelete => e
                .payload
                .get("session")
                .and_then(|v| v.as_str())
                .is_some_and(|s| suffix.contains(s)),
            _ => {
                id.clear();
                use std::fmt::Write as _;
                let _ = write!(id, "{}", e.id);
                suffix.contains(id.as_str())
            }
        };
        for e in events {
            if keep(&e) {
                held.push(e);
            }
        }
        for e in new {
            if keep(e) {
                held.push((*e).clone());
            }
        }
        rows.retain(|k, _| settled.sessions.iter().any(|s| s == k));
        Self {
            settled,
            held,
            rows,
        }
    }
}

/// The remembered unsettled parts, and the groups the current command replaced (forgotten if it
/// rolls back).
#[derive(Debug, Default)]
pub(crate) struct UnsettledCache {
    map: HashMap<String, Unsettled>,
    touched: Vec<String>,
}

impl UnsettledCache {
    /// Takes the unsettled part of `group` out (the fold puts the new one back).
    pub(crate) fn take(&mut self, group: &str) -> Option<Unsettled> {
        let t = self.map.remove(group);
        if t.is_some() {
            self.touched.push(group.to_owned());
        }
        t
    }

    /// Forgets the unsettled part of `group` (its rows changed outside a fold of it).
    pub(crate) fn forget(&mut self, group: &str) {
        self.map.remove(group);
    }

    /// Remembers the unsettled part of `group` as the current command left it.
    pub(crate) fn put(&mut self, group: &str, unsettled: Unsettled) {
        if self.map.len() >= MAX_GROUPS {
            self.map.clear();
        }
        self.touched.push(group.to_owned());
        self.map.insert(group.to_owned(), unsettled);
    }

    /// A command starts: nothing touched yet.
    pub(crate) fn begin_command(&mut self) {
        self.touched.clear();
    }

    /// The command rolled back: forgets what it replaced.
    pub(crate) fn rolled_back(&mut self) {
        for g in std::mem::take(&mut self.touched) {
            self.map.remove(&g);
        }
    }

    /// Forgets everything (a failed commit, a bulk import).
    pub(crate) fn clear(&mut self) {
        self.map.clear();
        self.touched.clear();
    }
}
