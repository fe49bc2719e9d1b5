//! The simulated world: nodes, their durable logs, the scheduler and the engines' inputs and
//! outputs. By topic, the rest of `World` is in `world/`: `network` (frames and links), `mint`
//! (traffic), `faults` (fault injection and the heal) and `invariants` (the final checks).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use parkmesh_parking::payload::{EntryPayload, ExitPayload, Payload};
use parkmesh_protocol::{
    CentralId, Event, EventId, EventKind, Frame, HlcClock, Nonce, StreamId, VersionVector,
};
use parkmesh_replication::{ConnId, Direction, Engine, EngineConfig, Output};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::params::{SimParams, Topology};

mod faults;
mod invariants;
mod mint;
mod network;

const EPOCH_MS: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const SECRET: &[u8] = b"sim-cluster-secret";

/// The durable part of a node: survives crashes unless the whole DB is lost.
#[derive(Debug, Default, Clone)]
struct Db {
    incarnation: u64,
    vector: VersionVector,
    log: BTreeMap<StreamId, Vec<Event>>,
    max_hlc: parkmesh_protocol::Hlc,
}

impl Db {
    fn append(&mut self, e: Event, node: &CentralId) {
        let stream = e.id.stream();
        let head = self.vector.get(&stream);
        assert_eq!(
            e.id.seq,
            head + 1,
            "{node}: append of {} breaks contiguity (head {head})",
            e.id
        );
        self.max_hlc = self.max_hlc.max(e.hlc);
        self.vector.advance(&stream, e.id.seq);
        self.log.entry(stream).or_default().push(e);
    }

    fn read(&self, stream: &StreamId, from: u64, limit: usize) -> Vec<Event> {
        let Some(log) = self.log.get(stream) else {
            return Vec::new();
        };
        let start = usize::try_from(from.saturating_sub(1)).unwrap_or(usize::MAX);
        log.iter().skip(start).take(limit).cloned().collect()
    }

    fn ids(&self) -> BTreeSet<EventId> {
        self.log.values().flatten().map(|e| e.id.clone()).collect()
    }

    fn events(&self) -> Vec<Event> {
        self.log.values().flatten().cloned().collect()
    }
}

#[derive(Debug)]
struct Node {
    id: CentralId,
    peers: BTreeSet<usize>,
    db: Db,
    engine: Option<Engine>,
    clock: HlcClock,
    skew_ms: i64,
    boot: u64,
    timer_at: Option<u64>,
    /// Open connections: conn → peer node.
    conns: BTreeMap<u64, usize>,
    backoff_ms: BTreeMap<usize, u64>,
    next_dial_ms: BTreeMap<usize, u64>,
}

#[derive(Debug)]
struct Conn {
    ends: [usize; 2],
    boots: [u64; 2],
    /// Cut by a partition or a crash: nothing more is delivered either way.
    cut: bool,
    /// End `i` has closed its side: it receives nothing more.
    closed: [bool; 2],
    /// Per direction (index of the sender), the latest scheduled delivery time (FIFO).
    last_at: [u64; 2],
}

#[derive(Debug)]
enum Task {
    Deliver {
        conn: u64,
        to_end: usize,
        text: String,
    },
    Disconnect {
        conn: u64,
        to_end: usize,
    },
    Timer {
        node: usize,
        boot: u64,
    },
    ApplyDone {
        node: usize,
        boot: u64,
        events: Vec<Event>,
    },
    ReadDone {
        node: usize,
        boot: u64,
        read: parkmesh_replication::ReadId,
        stream: StreamId,
        from: u64,
        limit: usize,
    },
    Mint,
    Fault,
    Restart {
        node: usize,
        lose_db: bool,
    },
    DialCheck,
    Heal,
}

/// Counters of one run.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    pub minted: usize,
    pub lost_legitimately: usize,
    pub crashes: usize,
    pub db_losses: usize,
    pub partitions: usize,
    pub read_failures: usize,
    pub frames: usize,
    pub converged_at_ms: u64,
}

/// The simulated mesh.
pub struct World {
    params: SimParams,
    rng: StdRng,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<(u64, u64, usize)>>,
    tasks: BTreeMap<usize, Task>,
    next_task: usize,
    nodes: Vec<Node>,
    conns: BTreeMap<u64, Conn>,
    next_conn: u64,
    partitioned: BTreeSet<(usize, usize)>,
    healed: bool,
    next_incarnation: u64,
    /// Events committed and answered to an edge.
    acked: BTreeSet<EventId>,
    /// Events that existed only in a DB that was then lost.
    lost_candidates: BTreeSet<EventId>,
    inside: BTreeMap<usize, usize>,
    pub outcome: Outcome,
}

impl World {
    pub fn new(seed: u64, params: SimParams) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let n = params.n_nodes;
        let mut edges: BTreeSet<(usize, usize)> = BTreeSet::new();
        match params.topology {
            Topology::Full => edges.extend((0..n).flat_map(|i| (i + 1..n).map(move |j| (i, j)))),
            Topology::Line => edges.extend((1..n).map(|i| (i - 1, i))),
            Topology::Random => {
                for i in 1..n {
                    let j = rng.random_range(0..i);
                    edges.insert((j, i));
                }
                for _ in 0..n {
                    let (a, b) = (rng.random_range(0..n), rng.random_range(0..n));
                    if a != b {
                        edges.insert((a.min(b), a.max(b)));
                    }
                }
            }
        }
        let nodes = (0..n)
            .map(|i| {
                let peers = edges
                    .iter()
                    .filter_map(|&(a, b)| {
                        if a == i {
                            Some(b)
                        } else if b == i {
                            Some(a)
                        } else {
                            None
                        }
                    })
                    .collect();
                let skew = if params.max_skew_ms > 0 {
                    rng.random_range(-params.max_skew_ms..=params.max_skew_ms)
                } else {
                    0
                };
                Node {
                    id: node_id(i),
                    peers,
                    db: Db {
                        incarnation: 1,
                        ..Db::default()
                    },
                    engine: None,
                    clock: HlcClock::default(),
                    skew_ms: skew,
                    boot: 0,
                    timer_at: None,
                    conns: BTreeMap::new(),
                    backoff_ms: BTreeMap::new(),
                    next_dial_ms: BTreeMap::new(),
                }
            })
            .collect();
        let mut w = Self {
            params,
            rng,
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            tasks: BTreeMap::new(),
            next_task: 0,
            nodes,
            conns: BTreeMap::new(),
            next_conn: 1,
            partitioned: BTreeSet::new(),
            healed: false,
            next_incarnation: 2,
            acked: BTreeSet::new(),
            lost_candidates: BTreeSet::new(),
            inside: BTreeMap::new(),
            outcome: Outcome::default(),
        };
        for i in 0..n {
            w.boot(i);
        }
        w.schedule(0, Task::DialCheck);
        w.schedule(1, Task::Mint);
        if w.params.fault_gap_ms > 0 {
            let gap = w.params.fault_gap_ms;
            w.schedule(gap, Task::Fault);
        }
        let chaos = w.params.chaos_ms;
        w.schedule(chaos, Task::Heal);
        w
    }

    fn schedule(&mut self, delay: u64, task: Task) {
        let id = self.next_task;
        self.next_task += 1;
        self.seq += 1;
        self.tasks.insert(id, task);
        self.queue.push(Reverse((self.now + delay, self.seq, id)));
    }

    fn config(&self, i: usize) -> EngineConfig {
        let node = &self.nodes[i];
        let mut cfg = EngineConfig::new(
            node.id.clone(),
            node.db.incarnation,
            SECRET,
            node.peers.iter().map(|&p| node_id(p)),
        );
        cfg.page_size = self.params.page_size;
        cfg.max_inflight_pages = self.params.max_inflight_pages;
        cfg.max_buffered_events = self.params.max_buffered_events;
        cfg.relay_delay_ms = self.params.relay_delay_ms;
        cfg.ping_interval_ms = 1_000;
        cfg.dead_after_ms = 3_000;
        cfg.handshake_timeout_ms = 2_000;
        cfg.retransmit_after_ms = 1_000;
        cfg.gap_timeout_ms = 500;
        cfg
    }

    fn boot(&mut self, i: usize) {
        let cfg = self.config(i);
        let node = &mut self.nodes[i];
        node.boot += 1;
        node.engine = Some(Engine::new(cfg, node.db.vector.clone()));
        node.clock = HlcClock::starting_after(node.db.max_hlc);
        node.conns.clear();
        node.backoff_ms.clear();
        node.next_dial_ms.clear();
        node.timer_at = None;
    }

    fn wall_ms(&self, i: usize) -> u64 {
        (EPOCH_MS + self.now as i64 + self.nodes[i].skew_ms).max(0) as u64
    }

    /// Runs until converged after healing, or panics at the deadline.
    pub fn run(&mut self) {
        let deadline = self.params.chaos_ms + 180_000;
        let mut next_check = 0;
        while let Some(Reverse((at, _, id))) = self.queue.pop() {
            let Some(task) = self.tasks.remove(&id) else {
                continue;
            };
            self.now = self.now.max(at);
            self.run_task(task);
            if self.healed && self.now >= next_check {
                next_check = self.now + 250;
                if self.converged() {
                    self.outcome.converged_at_ms = self.now;
                    return;
                }
            }
            assert!(
                self.now <= deadline,
                "no convergence by {deadline} ms: {}",
                self.describe()
            );
        }
        assert!(
            self.converged(),
            "queue ran dry before convergence: {}",
            self.describe()
        );
    }

    fn describe(&self) -> String {
        let mut s = String::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let total: u64 = n.db.vector.0.values().sum();
            let st = n.engine.as_ref().map(|e| e.status());
            let peers = st.map(|st| {
                st.peers
                    .iter()
                    .map(|p| {
                        format!(
                            "{}:{}lag{}",
                            p.peer,
                            if p.conn.is_some() { "up," } else { "down," },
                            p.lag_total
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            });
            s.push_str(&format!(
                "\n  node {i} inc {} events {total} conns {} peers [{}]",
                n.db.incarnation,
                n.conns.len(),
                peers.unwrap_or_default()
            ));
        }
        s
    }

    fn converged(&self) -> bool {
        let first = &self.nodes[0].db.vector;
        self.nodes
            .iter()
            .all(|n| n.engine.is_some() && n.db.vector == *first)
    }

    fn run_task(&mut self, task: Task) {
        match task {
            Task::Deliver { conn, to_end, text } => self.deliver(conn, to_end, &text),
            Task::Disconnect { conn, to_end } => {
                let Some(c) = self.conns.get(&conn) else {
                    return;
                };
                let (node, boot) = (c.ends[to_end], c.boots[to_end]);
                if self.nodes[node].boot == boot {
                    self.nodes[node].conns.remove(&conn);
                    self.input(node, |e, now| e.handle_disconnect(ConnId(conn), now));
                }
            }
            Task::Timer { node, boot } => {
                let n = &self.nodes[node];
                if n.boot == boot && n.timer_at.is_some_and(|t| t <= self.now) {
                    self.nodes[node].timer_at = None;
                    self.input(node, |e, now| e.handle_timeout(now));
                }
            }
            Task::ApplyDone { node, boot, events } => {
                if self.nodes[node].boot != boot {
                    return;
                }
                let n = &mut self.nodes[node];
                for e in events {
                    n.clock.observe(e.hlc);
                    n.db.append(e, &n.id.clone());
                }
                self.input(node, |e, now| e.handle_applied(now));
            }
            Task::ReadDone {
                node,
                boot,
                read,
                stream,
                from,
                limit,
            } => {
                if self.nodes[node].boot != boot {
                    return;
                }
                let p = self.params.p_read_fail;
                if p > 0.0 && !self.healed && self.rng.random_bool(p) {
                    self.outcome.read_failures += 1;
                    self.input(node, |e, now| {
                        e.handle_log_read_failed(read, "injected storage fault", now)
                    });
                    return;
                }
                let events = self.nodes[node].db.read(&stream, from, limit);
                self.input(node, |e, now| e.handle_log_read(read, events, now));
            }
            Task::Mint => self.mint(),
            Task::Fault => self.fault(),
            Task::Restart { node, lose_db } => self.restart(node, lose_db),
            Task::DialCheck => self.dial_check(),
            Task::Heal => self.heal(),
        }
    }

    /// Feeds one input to node `i`'s engine and carries out its outputs.
    fn input(&mut self, i: usize, f: impl FnOnce(&mut Engine, u64)) {
        let now = self.now;
        let Some(engine) = self.nodes[i].engine.as_mut() else {
            return;
        };
        f(engine, now);
        let mut outputs = Vec::new();
        while let Some(o) = engine.poll_output() {
            outputs.push(o);
        }
        let timeout = engine.poll_timeout();
        for o in outputs {
            self.output(i, o);
        }
        if let Some(t) = timeout {
            let node = &mut self.nodes[i];
            if node.timer_at != Some(t) {
                node.timer_at = Some(t);
                let boot = node.boot;
                self.schedule(t.saturating_sub(self.now), Task::Timer { node: i, boot });
            }
        }
    }

    fn output(&mut self, i: usize, o: Output) {
        let boot = self.nodes[i].boot;
        match o {
            Output::Send { conn, frame } => self.send(i, conn.0, &frame),
            Output::Close { conn, .. } => {
                self.nodes[i].conns.remove(&conn.0);
                if let Some(c) = self.conns.get_mut(&conn.0) {
                    let end = usize::from(c.ends[1] == i && c.boots[1] == boot);
                    c.closed[end] = true;
                    let at = c.last_at[end].max(self.now) + 1;
                    if !c.closed[1 - end] {
                        let delay = at - self.now;
                        self.schedule(
                            delay,
                            Task::Disconnect {
                                conn: conn.0,
                                to_end: 1 - end,
                            },
                        );
                    }
                }
            }
            Output::ReadLog {
                read,
                stream,
                from_seq,
                limit,
                ..
            } => {
                let d = self.rng.random_range(0..3);
                self.schedule(
                    d,
                    Task::ReadDone {
                        node: i,
                        boot,
                        read,
                        stream,
                        from: from_seq,
                        limit,
                    },
                );
            }
            Output::Apply { events } => {
                let d = self.rng.random_range(1..6);
                self.schedule(
                    d,
                    Task::ApplyDone {
                        node: i,
                        boot,
                        events,
                    },
                );
            }
            Output::PeerUp { peer, .. } => {
                if let Some(p) = self.nodes.iter().position(|n| n.id == peer) {
                    self.nodes[i].backoff_ms.remove(&p);
                }
            }
            Output::PeerDown { .. } => {}
        }
    }
}

fn node_id(i: usize) -> CentralId {
    match CentralId::new(format!("c{i:02}")) {
        Ok(id) => id,
        Err(e) => panic!("sim node id: {e}"),
    }
}
