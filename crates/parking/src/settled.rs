//! The settled point of a plate's fold: the last point in fold order up to which the plate's
//! sessions are settled, so that a later fold may start from it (`incremental`).
//!
//! A point between two events is *settled* when nothing is open or closable and no exit waits
//! for its entry (the fold's own predicate, `Walk::is_settled` in `fold`). The settled
//! point is the last such point that no later event refers across (an `entry_ref` resolved to an
//! earlier session) and that no imported event follows. The fold reports its settled points and
//! references to a [`Trace`] while it walks; [`Trace::settled_point`] picks the one.

use crate::order::{Item, SortKey};
use crate::session::Session;

/// The settled point of a plate's fold.
#[derive(Debug, Clone, PartialEq)]
pub struct SettledPoint {
    /// The last vehicle event before the settled point; `None`: it is before every event.
    pub after: Option<SortKey>,
    /// Ids of the vehicle events after the settled point, in fold order.
    pub suffix: Vec<String>,
    /// Ids of the sessions after the settled point, in fold order.
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

    /// The last settled point that no later event refers across and no imported event follows;
    /// `items` and `sessions` are the whole fold's, in fold order.
    pub(crate) fn settled_point(self, items: &[Item<'_>], sessions: &[Session]) -> SettledPoint {
        let mut refs = self.refs.iter().rev().peekable();
        // The lowest session referred to by an item at or after the candidate.
        let mut lowest = usize::MAX;
        let mut chosen = (0, 0);
        for &(at, before) in self.settled.iter().rev() {
            while let Some(&&(item, session)) = refs.peek() {
                if item < at {
                    break;
                }
                lowest = lowest.min(session);
                refs.next();
            }
            if lowest >= before && self.last_import.is_none_or(|i| i < at) {
                chosen = (at, before);
                break;
            }
        }
        let (at, before) = chosen;
        SettledPoint {
            after: at
                .checked_sub(1)
                .map(|last| SortKey::new(&items[last].position())),
            suffix: items[at..].iter().map(|i| i.event.id.to_string()).collect(),
            sessions: sessions[before..].iter().map(|s| s.id.clone()).collect(),
        }
    }
}
