//! The mesh driver: one task that owns the sans-IO replication engine and carries out its
//! outputs with real sockets (`parkmesh-transport`) and the real log (`parkmesh-storage`).
//!
//! A closed event loop (one `select!`) takes every input in one place: frames and closes from
//! connections, accepted and dialled sockets, storage commits (own events go live to peers),
//! finished log reads and applies, the engine's timer, and commands from the façade (config
//! reload, probes, stop). After every input the engine's outputs are drained in order and one
//! timer is re-armed, as the engine's call order requires. Log reads and applies run as spawned
//! tasks so the loop never waits on the database. Dialling peers lives in `mesh/dial.rs`, the
//! traffic ledger in `mesh/traffic.rs`, catch-up progress lines in `mesh/progress.rs`, the
//! per-connection frame compression in `mesh/codec.rs`, the status snapshot in `mesh/snapshot.rs`,
//! the wait for close frames at a stop in `mesh/close.rs`.

mod close;
mod codec;
mod dial;
mod progress;
mod snapshot;
mod traffic;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use parkmesh_config::Config;
use parkmesh_protocol::{CAP_DEFLATE, CentralId, CloseCode, Event, Nonce, StreamId};
use parkmesh_replication::{ConnId, Direction, Engine, EngineConfig, Output};
use parkmesh_storage::Storage;
use parkmesh_transport::tls::{Tls, TlsClient};
use parkmesh_transport::{Accepted, Link, LinkCmd, LinkConfig, LinkEvent, listen, spawn_link};
use rand::RngCore;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::callbacks::Callbacks;
use crate::status::MeshStatus;

/// A connection that lasted this long resets its dialer's backoff.
const STABLE_AFTER: Duration = Duration::from_secs(10);

/// Commands from the façade to the driver.
pub(crate) enum MeshCmd {
    Reload(Box<Config>),
    Probe(CentralId, oneshot::Sender<Option<Duration>>),
    Stop(oneshot::Sender<()>),
}

/// Shared view the façade reads without talking to the driver.
#[derive(Default)]
pub(crate) struct Shared {
    pub(crate) status: Option<MeshStatus>,
    pub(crate) rtt_ms: HashMap<String, f64>,
    /// Each peer's software version as its last handshake announced it.
    pub(crate) versions: HashMap<String, String>,
}

enum Job {
    Read {
        read: parkmesh_replication::ReadId,
        events: Vec<Event>,
    },
    ReadFailed {
        read: parkmesh_replication::ReadId,
        reason: String,
    },
    Applied(Result<Vec<Event>, String>),
    OwnBackfill(Vec<Event>),
}

struct Dialled {
    peer: CentralId,
    ws: parkmesh_transport::ClientStream,
    addr: String,
    done: oneshot::Sender<()>,
}

struct Driver {
    engine: Engine,
    storage: Storage,
    config: Config,
    own: StreamId,
    link_cfg: LinkConfig,
    links: HashMap<u64, Link>,
    dial_done: HashMap<u64, (oneshot::Sender<()>, Instant)>,
    dialers: HashMap<CentralId, (String, JoinHandle<()>)>,
    next_conn: u64,
    started: Instant,
    events_tx: mpsc::Sender<LinkEvent>,
    jobs_tx: mpsc::Sender<Job>,
    dialled_tx: mpsc::Sender<Dialled>,
    shared: Arc<Mutex<Shared>>,
    callbacks: Callbacks,
    sent: u64,
    received: u64,
    last_snapshot: Instant,
    backfilling: bool,
    tls_client: Option<TlsClient>,
    traffic: traffic::Traffic,
    codecs: codec::Codecs,
    progress: progress::Progress,
    last_rtt_probe: Instant,
}

/// Starts the mesh for `config` on `storage`: binds the mesh port, dials peers, replicates.
pub(crate) async fn start(
    config: Config,
    storage: Storage,
    shared: Arc<Mutex<Shared>>,
    callbacks: Callbacks,
    tls: Option<Tls>,
    listener: Option<tokio::net::TcpListener>,
) -> Result<(mpsc::Sender<MeshCmd>, JoinHandle<()>), crate::error::ManagerError> {
    let secret = config
        .cluster_secret()
        .unwrap_or_default()
        .as_bytes()
        .to_vec();
    let own = storage.stream().clone();
    // Subscribe before reading the vector so no commit falls between the two.
    let commits = storage.subscribe();
    let vector = storage
        .vector()
        .await
        .map_err(crate::error::ManagerError::Storage)?;
    let peers: BTreeSet<CentralId> = config
        .peer_centrals()
        .iter()
        .map(|p| p.id.clone())
        .collect();
    let engine = Engine::new(engine_config(&config, &own, secret, peers), vector);
    let listener = match listener {
        Some(l) => l,
        None => {
            let addr = config.p2p_listen_addr();
            tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                crate::error::ManagerError::Bind {
                    addr: addr.to_string(),
                    reason: e.to_string(),
                }
            })?
        }
    };
    let addr = listener
        .local_addr()
        .map_or_else(|_| config.p2p_listen_addr().to_string(), |a| a.to_string());
    tracing::info!(central = %own.origin, %addr, "mesh listening");
    let link_cfg = LinkConfig::default();
    let (accepted_tx, accepted_rx) = mpsc::channel(64);
    listen(
        listener,
        link_cfg.clone(),
        tls.as_ref().map(|t| t.server.clone()),
        accepted_tx,
    );
    let (events_tx, events_rx) = mpsc::channel(4096);
    let (jobs_tx, jobs_rx) = mpsc::channel(256);
    let (dialled_tx, dialled_rx) = mpsc::channel(64);
    let (cmd_tx, cmd_rx) = mpsc::channel(64);
    let mut driver = Driver {
        engine,
        storage,
        config: config.clone(),
        own,
        link_cfg,
        links: HashMap::new(),
        dial_done: HashMap::new(),
        dialers: HashMap::new(),
        next_conn: 0,
        started: Instant::now(),
        events_tx,
        jobs_tx,
        dialled_tx,
        shared,
        callbacks,
        sent: 0,
        received: 0,
        last_snapshot: Instant::now(),
        backfilling: false,
        tls_client: tls.map(|t| t.client),
        traffic: traffic::Traffic::default(),
        codecs: codec::Codecs::default(),
        progress: progress::Progress::default(),
        last_rtt_probe: Instant::now(),
    };
    driver.sync_dialers();
    driver.snapshot();
    let task =
        tokio::spawn(driver.run(events_rx, accepted_rx, dialled_rx, jobs_rx, cmd_rx, commits));
    Ok((cmd_tx, task))
}

/// The engine's settings from the configuration: identity, secret, peers, the `deflate` offer
/// and the liveness timers of the `mesh` section.
fn engine_config(
    config: &Config,
    own: &StreamId,
    secret: Vec<u8>,
    peers: BTreeSet<CentralId>,
) -> EngineConfig {
    let mut cfg = EngineConfig::new(own.origin.clone(), own.incarnation, secret, peers);
    if config.mesh_compression() {
        cfg.caps.push(CAP_DEFLATE.to_owned());
    }
    cfg.ping_interval_ms = u64::try_from(config.mesh_ping_interval().as_millis()).unwrap_or(5_000);
    cfg.dead_after_ms = u64::try_from(config.mesh_dead_after().as_millis()).unwrap_or(15_000);
    cfg
}

impl Driver {
    fn now(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    async fn run(
        mut self,
        mut events: mpsc::Receiver<LinkEvent>,
        mut accepted: mpsc::Receiver<Accepted>,
        mut dialled: mpsc::Receiver<Dialled>,
        mut jobs: mpsc::Receiver<Job>,
        mut cmds: mpsc::Receiver<MeshCmd>,
        mut commits: broadcast::Receiver<Arc<parkmesh_storage::Commit>>,
    ) {
        loop {
            let deadline = self
                .engine
                .poll_timeout()
                .map(|t| self.started + Duration::from_millis(t));
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                Some(ev) = events.recv() => self.on_link_event(ev),
                Some(acc) = accepted.recv() => self.on_accepted(acc),
                Some(d) = dialled.recv() => self.on_dialled(d),
                Some(job) = jobs.recv() => self.on_job(job),
                commit = commits.recv() => match commit {
                    Ok(c) => self.on_commit(&c),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(skipped = n, "mesh lagged behind local commits; re-reading the log");
                        self.backfill_own();
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                cmd = cmds.recv() => match cmd {
                    Some(MeshCmd::Reload(config)) => self.on_reload(*config),
                    Some(MeshCmd::Probe(peer, reply)) => self.on_probe(&peer, reply),
                    Some(MeshCmd::Stop(done)) => {
                        let open = self.links.len();
                        self.stop();
                        close::closed_links(&mut events, open).await;
                        let _ = done.send(());
                        return;
                    }
                    None => {
                        self.stop();
                        return;
                    }
                },
                () = sleep => {
                    let now = self.now();
                    self.engine.handle_timeout(now);
                }
            }
            self.drain();
        }
        self.stop();
    }

    fn stop(&mut self) {
        let now = self.now();
        self.engine.shutdown(now);
        self.drain();
        for (_, (_, task)) in self.dialers.drain() {
            task.abort();
        }
        self.links.clear();
        tracing::info!("mesh stopped");
    }

    fn on_link_event(&mut self, ev: LinkEvent) {
        let now = self.now();
        match ev {
            LinkEvent::Text { conn, text } => {
                self.received += 1;
                self.traffic.received(conn, text.len());
                self.engine.handle_text(ConnId(conn), &text, now);
            }
            LinkEvent::Binary { conn, bytes } => {
                self.received += 1;
                self.traffic.received(conn, bytes.len());
                match self.codecs.decode(conn, &bytes, self.link_cfg.max_frame) {
                    Ok(text) => self.engine.handle_text(ConnId(conn), &text, now),
                    Err(reason) => {
                        self.engine
                            .close(ConnId(conn), CloseCode::ProtocolError, reason, now);
                    }
                }
            }
            LinkEvent::Closed { conn, reason } => {
                if self.links.remove(&conn).is_some() {
                    tracing::debug!(conn, %reason, "mesh connection lost");
                    self.engine.handle_disconnect(ConnId(conn), now);
                }
                self.traffic.closed(conn);
                self.codecs.closed(conn);
                self.finish_dial(conn);
            }
        }
    }

    fn new_conn(&mut self) -> u64 {
        self.next_conn += 1;
        self.next_conn
    }

    fn nonce() -> Nonce {
        let mut n = [0u8; 16];
        rand::rng().fill_bytes(&mut n);
        Nonce(n)
    }

    fn on_accepted(&mut self, acc: Accepted) {
        let conn = self.new_conn();
        let link = spawn_link(
            acc.ws,
            conn,
            acc.remote.to_string(),
            self.events_tx.clone(),
            &self.link_cfg,
        );
        tracing::debug!(conn, remote = %acc.remote, "mesh connection accepted");
        self.links.insert(conn, link);
        let now = self.now();
        self.engine
            .handle_connect(ConnId(conn), Direction::Inbound, Self::nonce(), now);
    }

    fn on_dialled(&mut self, d: Dialled) {
        let conn = self.new_conn();
        let link = spawn_link(
            d.ws,
            conn,
            d.addr.clone(),
            self.events_tx.clone(),
            &self.link_cfg,
        );
        tracing::debug!(conn, peer = %d.peer, addr = %d.addr, "mesh connection dialled");
        self.links.insert(conn, link);
        self.dial_done.insert(conn, (d.done, Instant::now()));
        let now = self.now();
        self.engine.handle_connect(
            ConnId(conn),
            Direction::Outbound { peer: d.peer },
            Self::nonce(),
            now,
        );
    }

    fn finish_dial(&mut self, conn: u64) {
        if let Some((done, _)) = self.dial_done.remove(&conn) {
            let _ = done.send(());
        }
    }

    fn on_job(&mut self, job: Job) {
        let now = self.now();
        match job {
            Job::Read { read, events } => self.engine.handle_log_read(read, events, now),
            Job::ReadFailed { read, reason } => {
                self.engine.handle_log_read_failed(read, &reason, now);
            }
            Job::Applied(Ok(stored)) => {
                self.engine.handle_applied(now);
                self.callbacks.confirmed(&stored);
            }
            Job::Applied(Err(e)) => {
                tracing::error!(error = %e, "storing replicated events failed; peers will resend");
                self.engine.handle_apply_failed(now);
            }
            Job::OwnBackfill(events) => {
                self.backfilling = false;
                self.feed_own(events);
            }
        }
    }

    fn on_commit(&mut self, commit: &parkmesh_storage::Commit) {
        let own: Vec<Event> = commit
            .events
            .iter()
            .filter(|e| e.id.stream() == self.own)
            .cloned()
            .collect();
        if !own.is_empty() {
            self.feed_own(own);
        }
    }

    fn feed_own(&mut self, events: Vec<Event>) {
        let head = self.engine.local_vector().get(&self.own);
        let events: Vec<Event> = events.into_iter().filter(|e| e.id.seq > head).collect();
        if events.is_empty() {
            return;
        }
        let now = self.now();
        if let Err(e) = self.engine.handle_local_commit(events, now) {
            tracing::warn!(error = %e, "local commits out of step with the mesh; re-reading the log");
            self.backfill_own();
        }
    }

    fn backfill_own(&mut self) {
        if self.backfilling {
            return;
        }
        self.backfilling = true;
        let from = self.engine.local_vector().get(&self.own) + 1;
        let (storage, own, jobs) = (self.storage.clone(), self.own.clone(), self.jobs_tx.clone());
        tokio::spawn(async move {
            let events = storage
                .read_stream(&own, from, usize::MAX >> 1)
                .await
                .unwrap_or_default();
            let _ = jobs.send(Job::OwnBackfill(events)).await;
        });
    }

    fn on_reload(&mut self, config: Config) {
        let peers: BTreeSet<CentralId> = config
            .peer_centrals()
            .iter()
            .map(|p| p.id.clone())
            .collect();
        let secret = config
            .cluster_secret()
            .unwrap_or_default()
            .as_bytes()
            .to_vec();
        self.config = config;
        let now = self.now();
        self.engine.set_peers(peers, now);
        self.engine.set_secret(secret, now);
        self.sync_dialers();
        tracing::info!(
            peers = self.config.peer_centrals().len(),
            "mesh peers reloaded"
        );
    }

    fn on_probe(&mut self, peer: &CentralId, reply: oneshot::Sender<Option<Duration>>) {
        let conn = self
            .engine
            .status()
            .peers
            .into_iter()
            .find(|p| &p.peer == peer)
            .and_then(|p| p.conn);
        match conn.and_then(|c| self.links.get(&c.0)) {
            Some(link) => {
                let (tx, rx) = oneshot::channel();
                if link.try_send(LinkCmd::Probe(tx)) {
                    let shared = self.shared.clone();
                    let peer = peer.to_string();
                    tokio::spawn(async move {
                        let rtt = tokio::time::timeout(Duration::from_secs(5), rx)
                            .await
                            .ok()
                            .and_then(Result::ok);
                        if let Some(rtt) = rtt {
                            lock(&shared)
                                .rtt_ms
                                .insert(peer, rtt.as_secs_f64() * 1000.0);
                        }
                        let _ = reply.send(rtt);
                    });
                } else {
                    let _ = reply.send(None);
                }
            }
            None => {
                let _ = reply.send(None);
            }
        }
    }

    /// Drains the engine's outputs in order, then refreshes the status snapshot now and then.
    fn drain(&mut self) {
        while let Some(out) = self.engine.poll_output() {
            match out {
                Output::Send { conn, frame } => {
                    let (cmd, len) = self.codecs.encode(conn.0, &frame);
                    let ok = self.links.get(&conn.0).is_some_and(|l| l.try_send(cmd));
                    if ok {
                        self.sent += 1;
                        self.traffic.sent(conn.0, len);
                    } else if self.links.remove(&conn.0).is_some() {
                        tracing::warn!(
                            conn = conn.0,
                            "peer is not reading (send queue full); dropping the connection"
                        );
                        let now = self.now();
                        self.engine.handle_disconnect(conn, now);
                        self.finish_dial(conn.0);
                    }
                }
                Output::Close { conn, code, reason } => {
                    self.traffic.closing(conn.0, &code);
                    if let Some(link) = self.links.remove(&conn.0) {
                        tracing::info!(conn = conn.0, remote = %link.remote, ?code, %reason, "closing mesh connection");
                        link.try_send(LinkCmd::Close(reason));
                    }
                    self.finish_dial(conn.0);
                }
                Output::ReadLog {
                    read,
                    stream,
                    from_seq,
                    limit,
                    ..
                } => {
                    let (storage, jobs) = (self.storage.clone(), self.jobs_tx.clone());
                    tokio::spawn(async move {
                        let job = match storage.read_stream(&stream, from_seq, limit).await {
                            Ok(events) => Job::Read { read, events },
                            Err(e) => {
                                tracing::error!(error = %e, %stream, from_seq, "log read for a peer failed");
                                Job::ReadFailed {
                                    read,
                                    reason: e.to_string(),
                                }
                            }
                        };
                        let _ = jobs.send(job).await;
                    });
                }
                Output::Apply { events } => {
                    // A page from a peer: look at the catch-up before it is applied, so that one
                    // finishing within a snapshot interval is still logged.
                    self.last_snapshot = Instant::now() - Duration::from_secs(1);
                    self.callbacks.pending(&events);
                    let (storage, jobs) = (self.storage.clone(), self.jobs_tx.clone());
                    tokio::spawn(async move {
                        let res = storage
                            .apply_remote(events)
                            .await
                            .map_err(|e| e.to_string());
                        let _ = jobs.send(Job::Applied(res)).await;
                    });
                }
                Output::PeerUp {
                    conn,
                    peer,
                    incarnation,
                    version,
                    caps,
                } => {
                    tracing::info!(conn = conn.0, %peer, incarnation, ?version, ?caps, "peer connected");
                    let mut shared = lock(&self.shared);
                    match version {
                        Some(v) => shared.versions.insert(peer.to_string(), v),
                        None => shared.versions.remove(peer.as_str()),
                    };
                    drop(shared);
                    self.traffic.established(conn.0, &peer);
                    self.codecs.negotiated(conn.0, &caps);
                    self.last_snapshot = Instant::now() - Duration::from_secs(1);
                }
                Output::PeerDown {
                    conn,
                    peer,
                    code,
                    reason,
                } => {
                    tracing::info!(conn = conn.0, %peer, ?code, %reason, "peer disconnected");
                    self.last_snapshot = Instant::now() - Duration::from_secs(1);
                }
            }
        }
        if self.last_snapshot.elapsed() >= Duration::from_millis(100) {
            self.probe_rtts();
            self.snapshot();
        }
    }
}

pub(crate) fn lock(m: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
