//! Embedding parkmesh in an existing parking backend, without the HTTP API.
//!
//! Two centrals run in this one process, each with its own database in a temp directory, and
//! replicate over loopback: the "backend" records an entry at site A through the manager, and
//! site B's callback sees it arrive. Run with `cargo run -p parkmesh-manager --example embed`.

use std::sync::Arc;
use std::time::Duration;

use parkmesh_config::{Config, RawCentral, RawConfig};
use parkmesh_manager::P2PManager;
use parkmesh_parking::payload::EntryPayload;
use parkmesh_storage::{Intent, Storage, StorageOptions};
use tokio::sync::Notify;

/// Four distinct free loopback ports: each listener is held until all four are chosen, so the
/// system cannot hand out the same port twice.
fn free_ports() -> std::io::Result<[u16; 4]> {
    let listeners = [(); 4].map(|()| std::net::TcpListener::bind("127.0.0.1:0"));
    let mut ports = [0; 4];
    for (port, listener) in ports.iter_mut().zip(listeners) {
        *port = listener?.local_addr()?.port();
    }
    Ok(ports)
}

fn config(
    me: &RawCentral,
    peer: &RawCentral,
    data: &std::path::Path,
) -> anyhow_free::Result<Config> {
    let mut raw = RawConfig::standalone(me.id.clone(), "127.0.0.1");
    raw.this_central = me.clone();
    raw.peer_centrals = vec![peer.clone()];
    raw.bind = "127.0.0.1".into();
    raw.cluster_secret = Some("example-cluster-secret-0123456789".into());
    raw.data_dir = data.display().to_string();
    Ok(Config::from_raw(raw, parkmesh_config::no_env)?.config)
}

async fn central(config: Config) -> anyhow_free::Result<P2PManager> {
    let storage = Storage::open(StorageOptions {
        db_path: config.db_path(),
        origin: config.this_central().id.clone(),
        tz: config.timezone().clone(),
    })
    .await?;
    Ok(P2PManager::start(config, None, storage).await?)
}

/// Plain `Box<dyn Error>` keeps the example free of extra dependencies.
mod anyhow_free {
    pub(crate) type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;
}

#[tokio::main]
async fn main() -> anyhow_free::Result<()> {
    init_logging();
    let dir = tempfile::tempdir()?;
    let mut a = RawCentral::new("site-a", "127.0.0.1");
    let mut b = RawCentral::new("site-b", "127.0.0.1");
    let [a_p2p, a_api, b_p2p, b_api] = free_ports()?.map(i64::from);
    (a.p2p_port, a.api_port) = (a_p2p, a_api);
    (b.p2p_port, b.api_port) = (b_p2p, b_api);
    let site_a = central(config(&a, &b, &dir.path().join("a"))?).await?;
    let site_b = central(config(&b, &a, &dir.path().join("b"))?).await?;

    let arrived = Arc::new(Notify::new());
    let signal = arrived.clone();
    site_b.on_vehicle_entry_confirmed(move |event| {
        let plate = event
            .payload
            .get("plate_id")
            .and_then(|v| v.as_str())
            .unwrap_or("?");
        tracing::info!(event_id = %event.id, plate, "site B learnt of an entry at site A");
        signal.notify_one();
    });

    // The backend's own gate logic decided to let 30A12345 in at site A.
    let now = parkmesh_clock::now_ms();
    let entry = EntryPayload::read("30A12345", now)
        .with_view("30A-123.45")
        .with_camera(1, "Gate A1", "ENTRY")
        .with_read(0.97, "backend");
    site_a
        .append(Intent::Entry {
            payload: entry,
            request_key: None,
        })
        .await?;
    tokio::time::timeout(Duration::from_secs(30), arrived.notified()).await?;
    let status = site_b.status();
    tracing::info!(
        connected = status.peers.iter().filter(|p| p.connected).count(),
        "site B status"
    );
    site_a.stop().await;
    site_b.stop().await;
    Ok(())
}

fn init_logging() {
    // An embedding backend installs its own subscriber; the example logs to stderr.
    tracing_subscriber::fmt()
        .with_env_filter("info")
        .with_writer(std::io::stderr)
        .init();
}
