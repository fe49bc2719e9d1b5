//! Version vectors: per origin, the highest contiguous sequence number held.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::event::{CentralId, EventId};

/// Per origin, the highest sequence number `n` such that every event `1..=n` of that origin is
/// held. Missing origins count as 0.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VersionVector(pub BTreeMap<CentralId, u64>);

impl VersionVector {
    /// The contiguous high-water mark for `origin` (0 when unknown).
    pub fn get(&self, origin: &CentralId) -> u64 {
        self.0.get(origin).copied().unwrap_or(0)
    }

    /// Whether the event with this id is covered by the vector.
    pub fn contains(&self, id: &EventId) -> bool {
        id.seq <= self.get(&id.origin)
    }

    /// Sets the high-water mark of `origin` to `seq` if that is higher.
    pub fn advance(&mut self, origin: &CentralId, seq: u64) {
        let cur = self.0.entry(origin.clone()).or_insert(0);
        if seq > *cur {
            *cur = seq;
        }
    }

    /// Pointwise maximum (the join of the lattice): commutative, associative, idempotent.
    pub fn merge(&mut self, other: &Self) {
        for (origin, seq) in &other.0 {
            self.advance(origin, *seq);
        }
    }
}
