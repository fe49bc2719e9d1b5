//! Dialling: the driver keeps one dialer task per configured peer with a higher id (the lower id
//! dials), restarts it when the peer's address changes, and each dialer reconnects forever with
//! backoff, handing every connected socket to the driver.

use std::collections::HashMap;
use std::time::Instant;

use parkmesh_config::Central;
use parkmesh_protocol::CentralId;
use parkmesh_transport::tls::TlsClient;
use parkmesh_transport::{Backoff, LinkConfig, dial};
use tokio::sync::{mpsc, oneshot};

use super::{Dialled, Driver, STABLE_AFTER};

impl Driver {
    /// Dials every configured peer with a higher id (the lower id dials); stops dialers of
    /// removed peers and restarts those whose address changed.
    pub(super) fn sync_dialers(&mut self) {
        let wanted: HashMap<CentralId, String> = if self.config.cluster_secret().is_some() {
            self.config
                .peer_centrals()
                .iter()
                .filter(|p| self.engine.config().dials(&p.id))
                .map(|p: &Central| (p.id.clone(), p.p2p_addr()))
                .collect()
        } else {
            if !self.config.is_standalone() {
                tracing::error!(
                    "peers are configured but no cluster_secret is set: the mesh stays offline"
                );
            }
            HashMap::new()
        };
        self.dialers.retain(|id, (addr, task)| {
            let keep = wanted.get(id) == Some(addr);
            if !keep {
                task.abort();
            }
            keep
        });
        for (id, addr) in wanted {
            if self.dialers.contains_key(&id) {
                continue;
            }
            let Some(peer) = self.config.peer(&id) else {
                continue;
            };
            let task = tokio::spawn(dialer(
                id.clone(),
                (peer.ip.to_string(), peer.p2p_port),
                self.link_cfg.clone(),
                self.tls_client.clone(),
                self.dialled_tx.clone(),
            ));
            self.dialers.insert(id, (addr, task));
        }
    }
}

/// Dials one peer forever: connect, hand the socket to the driver, wait for it to end, back off.
async fn dialer(
    peer: CentralId,
    (host, port): (String, u16),
    cfg: LinkConfig,
    tls: Option<TlsClient>,
    to_driver: mpsc::Sender<Dialled>,
) {
    let mut backoff = Backoff::default();
    let addr = format!("{host}:{port}");
    loop {
        match dial(&host, port, &cfg, tls.as_ref()).await {
            Ok(ws) => {
                let (done, ended) = oneshot::channel();
                let since = Instant::now();
                if to_driver
                    .send(Dialled {
                        peer: peer.clone(),
                        ws,
                        addr: addr.clone(),
                        done,
                    })
                    .await
                    .is_err()
                {
                    return;
                }
                let _ = ended.await;
                if since.elapsed() >= STABLE_AFTER {
                    backoff.reset();
                }
            }
            Err(e) => tracing::debug!(%peer, %addr, error = %e, "dial failed"),
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}
