//! The working set of one writer command: what it stored and touched, handed down the write
//! path (`append` fills it, `refold` and `sessions` read and extend it, `heads` and the batch
//! take its results). Plain data; it calls nothing.

use std::collections::BTreeSet;

use parkmesh_protocol::{Event, EventId, StreamId};

use crate::rows::HistoryRow;
use crate::unsettled::UnsettledCache;

/// What the current command stored and touched.
#[derive(Debug, Default)]
pub(crate) struct WorkingSet {
    /// Raw plates (`events.plate_key`) whose events or operator events changed.
    pub(crate) plates: BTreeSet<String>,
    pub(crate) new_events: Vec<Event>,
    pub(crate) changed_sessions: Vec<HistoryRow>,
    /// Seqs newly stored per stream, for `heads::advance_heads`.
    pub(crate) stored: Vec<(StreamId, BTreeSet<u64>)>,
    /// The `conflicts` table is known to be empty (false: not known), so a re-fold that finds
    /// no conflict has nothing to delete. Cleared when a fold stores a conflict.
    pub(crate) no_conflicts: bool,
    /// Raw plates that an operator event of this command targets: folded in full.
    pub(crate) full_plates: BTreeSet<String>,
    /// Fold every group in full (the import, the group-key migration).
    pub(crate) full: bool,
    /// The writer's memory of the groups' unsettled parts (lent to the command; empty outside
    /// the writer).
    pub(crate) unsettled: UnsettledCache,
}

impl WorkingSet {
    /// Notes that `id` was stored by this command, for [`advance_heads`].
    pub(crate) fn stored_seq(&mut self, id: &EventId) {
        let at = self
            .stored
            .iter()
            .position(|(s, _)| s.origin == id.origin && s.incarnation == id.incarnation);
        let seqs = match at {
            Some(i) => &mut self.stored[i].1,
            None => {
                self.stored.push((id.stream(), BTreeSet::new()));
                let last = self.stored.len() - 1;
                &mut self.stored[last].1
            }
        };
        seqs.insert(id.seq);
    }
}
