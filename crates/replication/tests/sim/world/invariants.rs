//! The invariants checked once the world has converged, and what tests may ask of it.

use super::*;

impl World {
    /// Checks the invariants; returns a description of the first violation.
    pub fn check(&mut self) -> Result<(), String> {
        let reference = self.nodes[0].db.ids();
        for (i, n) in self.nodes.iter().enumerate() {
            let ids = n.db.ids();
            if ids != reference {
                let diff: Vec<_> = ids
                    .symmetric_difference(&reference)
                    .take(5)
                    .map(|e| e.to_string())
                    .collect();
                return Err(format!(
                    "node {i} holds a different event set than node 0: {diff:?}"
                ));
            }
        }
        let missing: Vec<String> = self
            .acked
            .iter()
            .filter(|id| !reference.contains(*id) && !self.lost_candidates.contains(*id))
            .take(5)
            .map(|e| e.to_string())
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "acknowledged events lost although another DB held them: {missing:?}"
            ));
        }
        if let Some(extra) = reference.iter().find(|id| !self.acked.contains(*id)) {
            return Err(format!("event {extra} was never minted"));
        }
        self.outcome.lost_legitimately = self
            .lost_candidates
            .iter()
            .filter(|id| !reference.contains(*id))
            .count();
        let projection = parkmesh_parking::project(&self.nodes[0].db.events());
        for (i, n) in self.nodes.iter().enumerate().skip(1) {
            let mut events = n.db.events();
            // Storage order differs per node: feed the fold in this node's arrival order, reversed.
            events.reverse();
            if parkmesh_parking::project(&events) != projection {
                return Err(format!("node {i} projects differently from node 0"));
            }
        }
        Ok(())
    }

    /// Whether any event of stream `origin` reached node `i` (for topology tests).
    pub fn holds(&self, i: usize, id: &EventId) -> bool {
        self.nodes[i].db.vector.contains(id)
    }

    /// Ids of every event minted so far.
    pub fn minted(&self) -> &BTreeSet<EventId> {
        &self.acked
    }

    /// Node `i`'s engine (while up).
    pub fn engine(&self, i: usize) -> Option<&Engine> {
        self.nodes[i].engine.as_ref()
    }
}
