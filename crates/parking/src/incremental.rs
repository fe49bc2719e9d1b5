//! Folding a plate from its settled point instead of from its first event.
//!
//! [`crate::fold::fold_plate`] folds a plate's whole history, so its cost grows with the plate's
//! age. Every fold also finds its [`SettledPoint`] (module `settled`): the last point in fold
//! order where the fold is *settled* — no session is open, no exit waits for the entry it names —
//! such that no event after the point refers to a session before it (an `entry_ref` resolved to
//! an earlier session) and no imported event (import key) comes after it. Sessions and conflicts
//! before a settled point can no longer change through events that sort after it, so
//! [`fold_after`] folds only the events after the settled point plus the new ones, and the
//! result equals the tail of the full fold. It refuses (returns `None`, and the caller folds in
//! full) whenever the argument does not cover the new events: one sorts before the settled point
//! (a late event), one is not a vehicle event (an edit or delete may change sessions before it),
//! one carries an import key, or an exit names by `entry_ref` an entry before it. ARCHITECTURE.md
//! gives the argument; the property test `crates/parking/tests/incremental.rs` checks it against
//! the full fold.

use parkmesh_protocol::{Event, EventKind};

use crate::fold::{PlateFold, fold_traced};
use crate::import::ImportTag;
pub use crate::order::SortKey;
use crate::order::{Position, Vehicle};
pub use crate::settled::SettledPoint;

/// [`crate::fold::fold_plate`] and the fold's [`SettledPoint`].
pub fn fold_with_settled_point(events: &[Event]) -> (PlateFold, SettledPoint) {
    let events: Vec<&Event> = events.iter().collect();
    let (fold, _, point) = fold_traced(&events);
    (fold, point)
}

/// The sessions and conflicts after settled point `point` once `new` vehicle events are added, and
/// the new settled point; or `None` when the new events are not covered by the argument and the
/// plate must be folded in full (see the module doc).
///
/// `held` are the plate's events after the settled point (ids `point.suffix`) and every operator
/// event targeting one of them or one of `new`. `names_prefix(r)` says whether a session before
/// the settled point has an entry with event id or edge event id `r` (answering `true` too often
/// only costs a full fold). The sessions and conflicts before it are the ones the earlier fold
/// found.
pub fn fold_after(
    point: &SettledPoint,
    held: &[Event],
    new: &[&Event],
    names_prefix: impl Fn(&str) -> bool,
) -> Option<(PlateFold, SettledPoint)> {
    if !covers(point, new, names_prefix) {
        return None;
    }
    let all: Vec<&Event> = held.iter().chain(new.iter().copied()).collect();
    let (fold, _, mut next) = fold_traced(&all);
    if next.after.is_none() {
        next.after = point.after.clone();
    }
    Some((fold, next))
}

/// Whether [`fold_after`] can take `new` from `point`: every new event is a vehicle event without
/// an import key that sorts after the settled point `point`, and no new exit names an entry before
/// it.
pub fn covers(point: &SettledPoint, new: &[&Event], names_prefix: impl Fn(&str) -> bool) -> bool {
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
        if point
            .after
            .as_ref()
            .is_some_and(|after| after.position() >= Position::of(e, &what))
        {
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
