//! The simulated world: nodes, network, scheduler, fault injection and invariants.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use parkmesh_parking::payload::{EntryPayload, ExitPayload, Payload};
use parkmesh_protocol::{
    CentralId, Event, EventId, EventKind, Frame, HlcClock, Nonce, StreamId, VersionVector,
};
use parkmesh_replication::{ConnId, Direction, Engine, EngineConfig, Output};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const EPOCH_MS: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const SECRET: &[u8] = b"sim-cluster-secret";

/// Shape of the peer graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    /// Everyone peers with everyone.
    Full,
    /// `0 – 1 – 2 – …`: only neighbours peer; relay is the only way across.
    Line,
    /// A random spanning tree plus random extra edges.
    Random,
}

/// Knobs of one run.
#[derive(Debug, Clone)]
pub struct SimParams {
    pub n_nodes: usize,
    pub topology: Topology,
    /// Length of the chaos phase (events and faults), virtual ms.
    pub chaos_ms: u64,
    /// Mean gap between minted events, virtual ms.
    pub event_gap_ms: u64,
    pub p_drop: f64,
    pub p_dup: f64,
    pub p_reorder: f64,
    /// Mean gap between faults (partition, heal, crash), virtual ms; 0 disables faults.
    pub fault_gap_ms: u64,
    pub max_skew_ms: i64,
    pub page_size: usize,
    pub max_inflight_pages: usize,
    pub max_buffered_events: usize,
    pub relay_delay_ms: u64,
    pub n_plates: usize,
    /// Probability that a log read fails (a storage fault) while faults are on.
    pub p_read_fail: f64,
}

impl SimParams {
    /// Parameters drawn from the seed.
    pub fn random(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed_cafe);
        let roll = rng.random_range(0..100);
        let n_nodes = if roll < 70 {
            rng.random_range(3..=6)
        } else if roll < 96 {
            rng.random_range(7..=12)
        } else {
            rng.random_range(13..=50)
        };
        let topology = match rng.random_range(0..100) {
            0..60 => Topology::Full,
            60..85 => Topology::Random,
            _ => Topology::Line,
        };
        let big = n_nodes > 12;
        Self {
            n_nodes,
            topology,
            chaos_ms: if big {
                8_000
            } else {
                rng.random_range(5_000..25_000)
            },
            event_gap_ms: if big { 200 } else { rng.random_range(40..300) },
            p_drop: rng.random_range(0.0..0.03),
            p_dup: rng.random_range(0.0..0.03),
            p_reorder: rng.random_range(0.0..0.03),
            fault_gap_ms: if rng.random_bool(0.15) {
                0
            } else {
                rng.random_range(300..3_000)
            },
            max_skew_ms: rng.random_range(0..=180_000),
            page_size: rng.random_range(1..=32),
            max_inflight_pages: rng.random_range(1..=4),
            max_buffered_events: rng.random_range(8..=256),
            relay_delay_ms: [0, 50, 200][rng.random_range(0..3)],
            n_plates: rng.random_range(3..=30),
            // Drawn from a generator of its own so that the other parameters of every seed stay
            // what they were before read faults existed.
            p_read_fail: {
                let mut rng = StdRng::seed_from_u64(seed ^ 0x0bad_d15c);
                if rng.random_bool(0.3) {
                    rng.random_range(0.02..0.3)
                } else {
                    0.0
                }
            },
        }
    }

    /// A quiet run: no faults, small clock skew.
    pub fn calm(n_nodes: usize, topology: Topology) -> Self {
        Self {
            n_nodes,
            topology,
            chaos_ms: 5_000,
            event_gap_ms: 50,
            p_drop: 0.0,
            p_dup: 0.0,
            p_reorder: 0.0,
            fault_gap_ms: 0,
            max_skew_ms: 1_000,
            page_size: 8,
            max_inflight_pages: 2,
            max_buffered_events: 64,
            relay_delay_ms: 200,
            n_plates: 10,
            p_read_fail: 0.0,
        }
    }
}

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

    fn send(&mut self, i: usize, conn: u64, frame: &Frame) {
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

    fn deliver(&mut self, conn: u64, to_end: usize, text: &str) {
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

    fn link_up(&self, a: usize, b: usize) -> bool {
        !self.partitioned.contains(&(a.min(b), a.max(b)))
    }

    fn dial_check(&mut self) {
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

    fn connect(&mut self, a: usize, b: usize) {
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
    fn cut(&mut self, pred: impl Fn(&Conn) -> bool) {
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

    fn mint(&mut self) {
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

    fn mint_at(&mut self, i: usize) {
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
            let gate = |camera_type: &str| EntryPayload {
                plate_id: plate_id.clone(),
                plate_view: plate_id.clone(),
                at_ms: wall as i64,
                time_clamped: false,
                late: false,
                operator: None,
                camera_id: Some(i as i64),
                camera_name: format!("gate-{i}"),
                camera_type: camera_type.into(),
                confidence: 0.9,
                source: "auto".into(),
                edge_event_id: None,
                edge_id: Some(format!("edge-{i}")),
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

    fn fault(&mut self) {
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

    fn crash(&mut self, i: usize) {
        self.outcome.crashes += 1;
        let node = &mut self.nodes[i];
        node.engine = None;
        node.boot += 1; // Volatile work in flight (apply batches, reads, timers) dies with it.
        node.conns.clear();
        node.timer_at = None;
        self.cut(|c| c.ends.contains(&i));
    }

    fn restart(&mut self, i: usize, lose_db: bool) {
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

    fn heal(&mut self) {
        self.healed = true;
        self.partitioned.clear();
        for i in 0..self.nodes.len() {
            if self.nodes[i].engine.is_none() {
                self.restart(i, false);
            }
        }
    }

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

fn node_id(i: usize) -> CentralId {
    match CentralId::new(format!("c{i:02}")) {
        Ok(id) => id,
        Err(e) => panic!("sim node id: {e}"),
    }
}
