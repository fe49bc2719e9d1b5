//! Folding a plate from its last settled point instead of from its first event.
//!
//! [`crate::fold::fold_plate`] folds a plate's whole history, so its cost grows with the plate's
//! age. Every fold also finds a [`Cut`]: the last point in fold order where the fold is
//! *settled* — no session is open, no exit waits for the entry it names — such that no event
//! after the point refers to a session before it (an `entry_ref` resolved to an earlier
//! session) and no imported event (import key) comes after it. Sessions and conflicts before a
//! settled point can no longer change through events that sort after it, so [`fold_after`]
//! folds only the events after the cut plus the new ones, and the result equals the tail of the
//! full fold. It refuses (returns `None`, and the caller folds in full) whenever the argument
//! does not cover the new events: one sorts before the cut (a late event), one is not a vehicle
//! event (an edit or delete may change sessions before the cut), one carries an import key, or
//! an exit names by `entry_ref` an entry before the cut. ARCHITECTURE.md gives the argument;
//! the property test `crates/parking/tests/incremental.rs` checks it against the full fold.

use parkmesh_protocol::{CentralId, Event, EventKind, Hlc};

use crate::fold::{Item, PlateFold, Vehicle, fold_traced};
use crate::import::ImportTag;

/// A position in a plate's fold order: `(at_ms, kind rank, hlc, origin, incarnation, seq)`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SortKey {
    /// Business time (ms).
    pub at_ms: i64,
    /// 0 entry, 1 sighting, 2 exit.
    pub rank: u8,
    /// The recording central's clock.
    pub hlc: Hlc,
    /// Origin of the event.
    pub origin: CentralId,
    /// Incarnation of its stream.
    pub incarnation: u64,
    /// Seq in its stream.
    pub seq: u64,
}

impl SortKey {
    /// The fold-order key of a vehicle event; `None` for other kinds and malformed payloads
    /// (which the fold skips).
    pub fn of(e: &Event) -> Option<Self> {
        Vehicle::decode(e).map(|what| Self::new(e, &what))
    }

    pub(crate) fn new(e: &Event, what: &Vehicle) -> Self {
        Self {
            at_ms: what.at_ms(),
            rank: what.rank(),
            hlc: e.hlc,
            origin: e.id.origin.clone(),
            incarnation: e.id.incarnation,
            seq: e.id.seq,
        }
    }
}

/// The last settled point of a plate's fold.
#[derive(Debug, Clone, PartialEq)]
pub struct Cut {
    /// The last vehicle event before the cut; `None`: the cut is before every event.
    pub after: Option<SortKey>,
    /// Ids of the vehicle events after the cut, in fold order.
    pub suffix: Vec<String>,
    /// Ids of the sessions after the cut, in fold order.
    pub sessions: Vec<String>,
}

/// The fold's record of where it was settled, collected while it runs.
pub(crate) struct Trace {
    /// `(items folded, sessions)` at each settled point, in order.
    settled: Vec<(usize, usize)>,
    /// `(item, session)`: item resolved an `entry_ref` to session.
    refs: Vec<(usize, usize)>,
    /// Index of the last item with an import key.
    last_import: Option<usize>,
}

impl Trace {
    pub(crate) fn new(items: &[Item<'_>]) -> Self {
        Self {
            settled: Vec::new(),
            refs: Vec::new(),
            last_import: items.iter().rposition(|i| i.import.is_some()),
        }
    }

    /// The fold is settled after `items` items, with `sessions` sessions.
    pub(crate) fn settled(&mut self, items: usize, sessions: usize) {
        self.settled.push((items, sessions));
    }

    /// Item `item` resolved its `entry_ref` to session `session`.
    pub(crate) fn refers(&mut self, item: usize, session: usize) {
        self.refs.push((item, session));
    }

    /// The last settled point that no later event refers across and no imported event follows.
    pub(crate) fn cut(self, items: &[Item<'_>], fold: &PlateFold) -> Cut {
        let mut refs = self.refs.iter().rev().peekable();
        // The lowest session referred to by an item at or after the candidate.
        let mut lowest = usize::MAX;
        let mut chosen = (0, 0);
        for &(at, sessions) in self.settled.iter().rev() {
            while let Some(&&(item, session)) = refs.peek() {
                if item < at {
                    break;
                }
                lowest = lowest.min(session);
                refs.next();
            }
            if lowest >= sessions && self.last_import.is_none_or(|i| i < at) {
                chosen = (at, sessions);
                break;
            }
        }
        let (at, sessions) = chosen;
        Cut {
            after: at
                .checked_sub(1)
                .map(|last| SortKey::new(items[last].event, &items[last].what)),
            suffix: items[at..].iter().map(|i| i.event.id.to_string()).collect(),
            sessions: fold.sessions[sessions..]
                .iter()
                .map(|s| s.id.clone())
                .collect(),
        }
    }
}

/// [`crate::fold::fold_plate`] and the fold's [`Cut`].
pub fn fold_with_cut(events: &[Event]) -> (PlateFold, Cut) {
    let events: Vec<&Event> = events.iter().collect();
    let (fold, _, cut) = fold_traced(&events);
    (fold, cut)
}

/// The sessions and conflicts after `cut` once `new` vehicle events are added, and the new cut;
/// or `None` when the new events are not covered by the argument and the plate must be folded
/// in full (see the module doc).
///
/// `held` are the plate's events after the cut (ids `cut.suffix`) and every operator event
/// targeting one of them or one of `new`. `names_prefix(r)` says whether a session before the cut
/// has an entry with event id or edge event id `r` (answering `true` too often only costs a
/// full fold). The sessions and conflicts before the cut are the ones the earlier fold found.
pub fn fold_after(
    cut: &Cut,
    held: &[Event],
    new: &[&Event],
    names_prefix: impl Fn(&str) -> bool,
) -> Option<(PlateFold, Cut)> {
    if !covers(cut, new, names_prefix) {
        return None;
    }
    let all: Vec<&Event> = held.iter().chain(new.iter().copied()).collect();
    let (fold, _, mut next) = fold_traced(&all);
    if next.after.is_none() {
        next.after = cut.after.clone();
    }
    Some((fold, next))
}

/// Whether [`fold_after`] can take `new` from `cut`: every new event is a vehicle event without
/// an import key that sorts after the cut, and no new exit names an entry before it.
pub fn covers(cut: &Cut, new: &[&Event], names_prefix: impl Fn(&str) -> bool) -> bool {
    for e in new {
        if !matches!(
            e.kind,
            EventKind::VehicleEntry | EventKind::VehicleExit | EventKind::VehicleLocation
        ) || ImportTag::of(e).is_some()
        {
            return false;
        }
        // A malformed payload is skipped by the fold wherever it sorts.
        let Some(what) = Vehicle::decode(e) else {
            continue;
        };
        if cut.after.as_ref() >= Some(&SortKey::new(e, &what)) {
            return false;
        }
        if let Vehicle::Exit(x) = &what
            && x.entry_ref.as_deref().is_some_and(&names_prefix)
        {
            return false;
        }
    }
    true
}
