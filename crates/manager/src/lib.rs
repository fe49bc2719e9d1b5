//! `P2PManager`: the embeddable façade of a parkmesh central's mesh.
//!
//! An existing parking backend embeds this crate (with `parkmesh-storage`) to get replication
//! without the HTTP API: it opens the storage, starts the manager with a validated
//! configuration, appends its local events with [`P2PManager::append`] (the one door for writes;
//! the embedder reads through the storage), registers callbacks for events from peers, and reads
//! the mesh status. Configuration changes are saved atomically and applied live: peers are added,
//! removed or re-addressed without a restart and without losing anything queued (the log is the
//! queue).
//!
//! # Layout
//! - this file: [`P2PManager`] (start/stop, append, config, status, probes, callbacks).
//! - `mesh`: the driver task that runs the replication engine over real sockets and the log.
//! - `mesh/traffic`, `mesh/progress`: per-peer traffic and refusal counts, catch-up progress
//!   lines.
//! - `status`: [`MeshStatus`] and [`PeerStatus`]; `callbacks`: the peer-event callbacks.
//! - `error`: [`ManagerError`].
//! - `timezone`: the site's time zone announced at start (`site.timezone`).
//!
//! In the crate graph it sits above `storage`, `replication` and `transport`, below `api`.
#![warn(missing_docs)]

mod callbacks;
mod error;
mod mesh;
mod status;
mod timezone;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use parkmesh_config::Config;
use parkmesh_protocol::{CentralId, Event};
use parkmesh_storage::{Ingested, Intent, Storage};
use parkmesh_transport::tls::Tls;
use tokio::sync::{mpsc, oneshot};

pub use crate::callbacks::EventCallback;
pub use crate::error::ManagerError;
pub use crate::status::{MeshStatus, PeerStatus, Traffic};

struct Inner {
    storage: Storage,
    config: RwLock<Config>,
    config_path: Option<PathBuf>,
    shared: Arc<Mutex<mesh::Shared>>,
    mesh: mpsc::Sender<mesh::MeshCmd>,
    callbacks: callbacks::Callbacks,
    tls: Option<Tls>,
    api_tls: bool,
}

/// The mesh façade. Cheap to clone.
#[derive(Clone)]
pub struct P2PManager {
    inner: Arc<Inner>,
}

impl P2PManager {
    /// Starts the mesh for `storage` with `config`: listens on `this_central.p2p_port`, dials the
    /// configured peers and replicates. `config_path`, when given, is where configuration changes
    /// are saved. With no peers it runs standalone and can take peers later without a restart.
    /// It announces the configured time zone to the mesh (a `site.timezone` event) when this
    /// central has not announced that zone yet.
    pub async fn start(
        config: Config,
        config_path: Option<PathBuf>,
        storage: Storage,
    ) -> Result<Self, ManagerError> {
        Self::start_on(config, config_path, storage, None).await
    }

    /// [`P2PManager::start`] on a mesh listener the caller already bound (for example to port 0
    /// in a test, or a socket handed over by a service manager); `None` binds
    /// `bind:this_central.p2p_port` from the configuration.
    pub async fn start_on(
        config: Config,
        config_path: Option<PathBuf>,
        storage: Storage,
        listener: Option<tokio::net::TcpListener>,
    ) -> Result<Self, ManagerError> {
        if config.is_standalone() {
            tracing::info!(central = %config.this_central().id, "no peers configured: standalone mode");
        }
        let api_tls = config.api_tls();
        let tls = match config.tls() {
            Some((cert, key, ca)) => Some(Tls::load(cert, key, ca)?),
            None => None,
        };
        storage.set_request_retention(config.edge_request_retention());
        timezone::announce(&storage, config.timezone_name()).await?;
        let shared = Arc::new(Mutex::new(mesh::Shared::default()));
        let callbacks = callbacks::Callbacks::default();
        let (mesh, _task) = mesh::start(
            config.clone(),
            storage.clone(),
            shared.clone(),
            callbacks.clone(),
            tls.clone(),
            listener,
        )
        .await?;
        Ok(Self {
            inner: Arc::new(Inner {
                storage,
                config: RwLock::new(config),
                config_path,
                shared,
                mesh,
                callbacks,
                tls,
                api_tls,
            }),
        })
    }

    /// The TLS setup loaded from the configuration's `tls` section at start; the mesh uses it.
    /// `None` means plain TCP.
    pub fn tls(&self) -> Option<&Tls> {
        self.inner.tls.as_ref()
    }

    /// The TLS setup of the HTTP API (serving, and calling peers' APIs): [`P2PManager::tls`]
    /// when the configuration at start left `tls.api` on, else `None`. Decided once at start,
    /// like the listener itself, so a saved change takes effect at the next start.
    pub fn api_tls(&self) -> Option<&Tls> {
        self.inner.tls.as_ref().filter(|_| self.inner.api_tls)
    }

    /// Stops the mesh (closes every peer connection with `shutting_down`); the storage stays
    /// usable.
    pub async fn stop(&self) {
        let (tx, rx) = oneshot::channel();
        if self.inner.mesh.send(mesh::MeshCmd::Stop(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// The central's storage.
    pub fn storage(&self) -> &Storage {
        &self.inner.storage
    }

    /// Appends a local event (the same path the HTTP API uses); it replicates to every peer.
    pub async fn append(&self, intent: Intent) -> Result<Ingested, ManagerError> {
        Ok(self.inner.storage.ingest(intent).await?)
    }

    /// Calls `f` for every vehicle entry received from a peer, before it is stored.
    pub fn on_vehicle_entry_pending(&self, f: impl Fn(&Event) + Send + Sync + 'static) {
        self.inner.callbacks.add_entry_pending(Arc::new(f));
    }

    /// Calls `f` for every vehicle entry from a peer once it is stored here.
    pub fn on_vehicle_entry_confirmed(&self, f: impl Fn(&Event) + Send + Sync + 'static) {
        self.inner.callbacks.add_entry_confirmed(Arc::new(f));
    }

    /// Calls `f` for every vehicle exit from a peer once it is stored here.
    pub fn on_vehicle_exit(&self, f: impl Fn(&Event) + Send + Sync + 'static) {
        self.inner.callbacks.add_exit(Arc::new(f));
    }

    /// A copy of the configuration in force.
    pub fn config(&self) -> Config {
        self.inner
            .config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Saves `new` atomically to the config file (when there is one) and applies it live.
    /// The caller passes a validated [`Config`]; this central's id cannot change.
    pub async fn update_config(&self, new: Config) -> Result<(), ManagerError> {
        let current = self.config();
        if new.this_central().id != current.this_central().id {
            return Err(ManagerError::IdChange {
                from: current.this_central().id.to_string(),
                to: new.this_central().id.to_string(),
            });
        }
        if let Some(path) = &self.inner.config_path {
            new.save_atomic(path)?;
        }
        self.inner
            .storage
            .set_request_retention(new.edge_request_retention());
        *self.inner.config.write().unwrap_or_else(|p| p.into_inner()) = new.clone();
        self.inner
            .mesh
            .send(mesh::MeshCmd::Reload(Box::new(new)))
            .await
            .map_err(|_| ManagerError::Stopped)?;
        tracing::info!("configuration updated and applied");
        Ok(())
    }

    /// Measures a real round trip to a connected peer.
    pub async fn test_connection(&self, peer_id: &str) -> Result<Duration, ManagerError> {
        let peer =
            CentralId::new(peer_id).map_err(|_| ManagerError::UnknownPeer(peer_id.to_owned()))?;
        if self.config().peer(&peer).is_none() {
            return Err(ManagerError::UnknownPeer(peer_id.to_owned()));
        }
        let (tx, rx) = oneshot::channel();
        self.inner
            .mesh
            .send(mesh::MeshCmd::Probe(peer, tx))
            .await
            .map_err(|_| ManagerError::Stopped)?;
        rx.await
            .ok()
            .flatten()
            .ok_or_else(|| ManagerError::NotConnected(peer_id.to_owned()))
    }

    /// A snapshot of the mesh: this central and one entry per configured peer.
    pub fn status(&self) -> MeshStatus {
        let config = self.config();
        let snapshot = mesh::lock(&self.inner.shared).status.clone();
        let mut status = snapshot.unwrap_or_else(|| MeshStatus {
            this_central: config.this_central().id.to_string(),
            running: true,
            standalone: config.is_standalone(),
            peers: Vec::new(),
            messages_sent: 0,
            messages_received: 0,
            handshake_refusals: Vec::new(),
            local: Vec::new(),
        });
        // The configuration is the source of truth for which peers exist (a reload may be in
        // flight to the driver).
        status.standalone = config.is_standalone();
        status.peers = config
            .peer_centrals()
            .iter()
            .map(|p| {
                status
                    .peers
                    .iter()
                    .find(|s| s.peer_id == p.id.as_str())
                    .cloned()
                    .unwrap_or_else(|| PeerStatus::disconnected(p))
            })
            .collect();
        status
    }
}
