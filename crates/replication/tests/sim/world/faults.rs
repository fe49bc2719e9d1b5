//! Fault injection: partitions, connection cuts, crashes and restarts (with or without the
//! database), and the heal that ends the chaos phase.

use super::*;

impl World {
    pub(super) fn fault(&mut self) {
        if self.healed {
            return;
        }
        let n = self.nodes.len();
        match self.rng.random_range(0..100) {
            0..35 => {
                let (a, b) = (self.rng.random_range(0..n), self.rng.random_range(0..n));
                if a != b {
                    self.outcome.partitions += 1;
                    self.partitioned.insert((a.min(b), a.max(b)));
                    self.cut(|c| c.ends.contains(&a) && c.ends.contains(&b));
                }
            }
            35..60 => {
                // Split the mesh in two halves for a while.
                let side: BTreeSet<usize> = (0..n).filter(|_| self.rng.random_bool(0.5)).collect();
                for a in 0..n {
                    for b in a + 1..n {
                        if side.contains(&a) != side.contains(&b) {
                            self.partitioned.insert((a, b));
                        }
                    }
                }
                self.outcome.partitions += 1;
                self.cut(|c| side.contains(&c.ends[0]) != side.contains(&c.ends[1]));
            }
            60..80 => self.partitioned.clear(),
            r => {
                let i = self.rng.random_range(0..n);
                if self.nodes[i].engine.is_some() {
                    self.crash(i);
                    let lose_db = r >= 97;
                    let down = self.rng.random_range(100..5_000);
                    self.schedule(down, Task::Restart { node: i, lose_db });
                }
            }
        }
        let gap = self.rng.random_range(1..=2 * self.params.fault_gap_ms);
        self.schedule(gap, Task::Fault);
    }

    pub(super) fn crash(&mut self, i: usize) {
        self.outcome.crashes += 1;
        let node = &mut self.nodes[i];
        node.engine = None;
        node.boot += 1; // Volatile work in flight (apply batches, reads, timers) dies with it.
        node.conns.clear();
        node.timer_at = None;
        self.cut(|c| c.ends.contains(&i));
    }

    pub(super) fn restart(&mut self, i: usize, lose_db: bool) {
        if self.nodes[i].engine.is_some() {
            return;
        }
        if lose_db {
            self.outcome.db_losses += 1;
            let others: BTreeSet<EventId> = (0..self.nodes.len())
                .filter(|&j| j != i)
                .flat_map(|j| self.nodes[j].db.ids())
                .collect();
            let mine = self.nodes[i].db.ids();
            self.lost_candidates
                .extend(mine.difference(&others).cloned());
            let inc = self.next_incarnation;
            self.next_incarnation += 1;
            self.nodes[i].db = Db {
                incarnation: inc,
                ..Db::default()
            };
        }
        if self.rng.random_bool(0.3) && self.params.max_skew_ms > 0 {
            let m = self.params.max_skew_ms;
            self.nodes[i].skew_ms = self.rng.random_range(-m..=m);
        }
        self.boot(i);
    }

    pub(super) fn heal(&mut self) {
        self.healed = true;
        self.partitioned.clear();
        for i in 0..self.nodes.len() {
            if self.nodes[i].engine.is_none() {
                self.restart(i, false);
            }
        }
    }
}
