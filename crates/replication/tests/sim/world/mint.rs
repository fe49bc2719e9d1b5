//! Traffic: nodes mint vehicle entries and exits (and now and then a kind no build knows) with
//! their skewed wall clocks, as local commits of the real engine.

use super::*;

impl World {
    pub(super) fn mint(&mut self) {
        if self.healed {
            return;
        }
        let up: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].engine.is_some())
            .collect();
        if !up.is_empty() {
            let i = up[self.rng.random_range(0..up.len())];
            self.mint_at(i);
        }
        let gap = self.rng.random_range(1..=2 * self.params.event_gap_ms);
        self.schedule(gap, Task::Mint);
    }

    pub(super) fn mint_at(&mut self, i: usize) {
        let plate = self.rng.random_range(0..self.params.n_plates);
        let wall = self.wall_ms(i);
        let anomaly = self.rng.random_bool(0.05);
        let entering = self.inside.contains_key(&plate) == anomaly;
        let plate_id = format!("51A{plate:05}");
        let (kind, payload) = if self.rng.random_bool(0.02) {
            (
                EventKind::Other("future.kind".into()),
                serde_json::json!({"plate_id": plate_id}),
            )
        } else {
            let gate = |camera_type: &str| {
                EntryPayload::read(&plate_id, wall as i64)
                    .with_camera(i as i64, &format!("gate-{i}"), camera_type)
                    .with_read(0.9, "auto")
                    .with_edge(&format!("edge-{i}"), None)
            };
            if entering {
                self.inside.insert(plate, i);
                (EntryPayload::KIND, gate("ENTRY").to_value())
            } else {
                self.inside.remove(&plate);
                let p = ExitPayload::at_gate(gate("EXIT"), None);
                (ExitPayload::KIND, p.to_value())
            }
        };
        let node = &mut self.nodes[i];
        let own = StreamId {
            origin: node.id.clone(),
            incarnation: node.db.incarnation,
        };
        let seq = node.db.vector.get(&own) + 1;
        let e = Event {
            id: EventId {
                origin: own.origin.clone(),
                incarnation: own.incarnation,
                seq,
            },
            hlc: node.clock.now(wall),
            kind,
            payload,
            schema: 1,
        };
        node.db.append(e.clone(), &node.id.clone());
        self.acked.insert(e.id.clone());
        self.outcome.minted += 1;
        let mut res = Ok(());
        self.input(i, |eng, now| res = eng.handle_local_commit(vec![e], now));
        assert_eq!(res, Ok(()), "local commit refused");
    }
}
