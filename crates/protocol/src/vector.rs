//! Version vectors: per origin, the highest contiguous sequence number held.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::event::{EventId, StreamId};

/// Per stream (origin + incarnation), the highest sequence number `n` such that every event
/// `1..=n` of that stream is held. Missing streams count as 0. JSON form: an object keyed by
/// `"<origin>:<incarnation>"`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VersionVector(pub BTreeMap<StreamId, u64>);

impl VersionVector {
    /// The contiguous high-water mark for `stream` (0 when unknown).
    pub fn get(&self, stream: &StreamId) -> u64 {
        self.0.get(stream).copied().unwrap_or(0)
    }

    /// Whether the event with this id is covered by the vector.
    pub fn contains(&self, id: &EventId) -> bool {
        id.seq <= self.get(&id.stream())
    }

    /// Sets the high-water mark of `stream` to `seq` if that is higher.
    pub fn advance(&mut self, stream: &StreamId, seq: u64) {
        let cur = self.0.entry(stream.clone()).or_insert(0);
        if seq > *cur {
            *cur = seq;
        }
    }

    /// Pointwise maximum (the join of the lattice): commutative, associative, idempotent.
    pub fn merge(&mut self, other: &Self) {
        for (stream, seq) in &other.0 {
            self.advance(stream, *seq);
        }
    }
}
