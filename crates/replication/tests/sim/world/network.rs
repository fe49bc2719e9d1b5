//! The simulated network: frames encoded and delivered over per-pair connections with latency,
//! data frames dropped, duplicated or reordered while faults are on, dialing and cutting links.

use super::*;

impl World {
    pub(super) fn send(&mut self, i: usize, conn: u64, frame: &Frame) {
        let text = frame.encode();
        self.outcome.frames += 1;
        let faults = !self.healed
            && matches!(
                frame,
                Frame::Page { .. }
                    | Frame::Live { .. }
                    | Frame::Ack { .. }
                    | Frame::Ping { .. }
                    | Frame::Pong { .. }
            );
        let (p_drop, p_dup, p_reorder) =
            (self.params.p_drop, self.params.p_dup, self.params.p_reorder);
        let latency = self.rng.random_range(1..20);
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.cut {
            return;
        }
        let end = usize::from(c.ends[1] == i);
        if faults && self.rng.random_bool(p_drop) {
            return;
        }
        let copies = if faults && self.rng.random_bool(p_dup) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut at = self.now + latency;
            if !(faults && self.rng.random_bool(p_reorder)) {
                at = at.max(c.last_at[end]);
                c.last_at[end] = at;
            }
            let delay = at - self.now;
            self.seq += 1;
            let id = self.next_task;
            self.next_task += 1;
            self.tasks.insert(
                id,
                Task::Deliver {
                    conn,
                    to_end: 1 - end,
                    text: text.clone(),
                },
            );
            self.queue.push(Reverse((self.now + delay, self.seq, id)));
        }
    }

    pub(super) fn deliver(&mut self, conn: u64, to_end: usize, text: &str) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if c.cut || c.closed[to_end] {
            return;
        }
        let (node, boot) = (c.ends[to_end], c.boots[to_end]);
        if self.nodes[node].boot != boot {
            return;
        }
        self.input(node, |e, now| e.handle_text(ConnId(conn), text, now));
    }

    pub(super) fn link_up(&self, a: usize, b: usize) -> bool {
        !self.partitioned.contains(&(a.min(b), a.max(b)))
    }

    pub(super) fn dial_check(&mut self) {
        for i in 0..self.nodes.len() {
            if self.nodes[i].engine.is_none() {
                continue;
            }
            let peers: Vec<usize> = self.nodes[i]
                .peers
                .iter()
                .copied()
                .filter(|&p| p > i)
                .collect();
            for p in peers {
                let connected = self.nodes[i].conns.values().any(|&q| q == p);
                let due = self.nodes[i]
                    .next_dial_ms
                    .get(&p)
                    .is_none_or(|&t| t <= self.now);
                if connected || !due {
                    continue;
                }
                if self.link_up(i, p) && self.nodes[p].engine.is_some() {
                    self.connect(i, p);
                }
                let b = self.nodes[i].backoff_ms.get(&p).copied().unwrap_or(125);
                let b = (b * 2).min(4_000);
                let jitter = self.rng.random_range(0..=b / 4);
                self.nodes[i].backoff_ms.insert(p, b);
                self.nodes[i].next_dial_ms.insert(p, self.now + b + jitter);
            }
        }
        self.schedule(100, Task::DialCheck);
    }

    pub(super) fn connect(&mut self, a: usize, b: usize) {
        let conn = self.next_conn;
        self.next_conn += 1;
        self.conns.insert(
            conn,
            Conn {
                ends: [a, b],
                boots: [self.nodes[a].boot, self.nodes[b].boot],
                cut: false,
                closed: [false; 2],
                last_at: [0; 2],
            },
        );
        self.nodes[a].conns.insert(conn, b);
        self.nodes[b].conns.insert(conn, a);
        let (na, nb) = (Nonce(self.rng.random()), Nonce(self.rng.random()));
        let peer = self.nodes[b].id.clone();
        self.input(a, |e, now| {
            e.handle_connect(ConnId(conn), Direction::Outbound { peer }, na, now)
        });
        self.input(b, |e, now| {
            e.handle_connect(ConnId(conn), Direction::Inbound, nb, now)
        });
    }

    /// Cuts every connection matching `pred`; each surviving end notices at once or by timeout.
    pub(super) fn cut(&mut self, pred: impl Fn(&Conn) -> bool) {
        let ids: Vec<u64> = self
            .conns
            .iter()
            .filter(|(_, c)| !c.cut && pred(c))
            .map(|(&id, _)| id)
            .collect();
        for id in ids {
            let c = self.conns.get_mut(&id).map(|c| {
                c.cut = true;
                (c.ends, c.boots)
            });
            let Some((ends, boots)) = c else { continue };
            for end in 0..2 {
                let node = ends[end];
                if self.nodes[node].boot != boots[end] {
                    continue;
                }
                if self.rng.random_bool(0.5) {
                    let d = self.rng.random_range(1..50);
                    self.nodes[node].conns.remove(&id);
                    if let Some(c) = self.conns.get_mut(&id) {
                        c.cut = false;
                    }
                    self.schedule(
                        d,
                        Task::Disconnect {
                            conn: id,
                            to_end: end,
                        },
                    );
                    if let Some(c) = self.conns.get_mut(&id) {
                        c.cut = true;
                    }
                }
            }
        }
    }
}
