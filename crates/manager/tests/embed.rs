//! Embedding, as `examples/embed.rs` shows it: two `P2PManager`s in one process on listeners
//! the test bound itself, replicating over loopback. Site B registers all three callbacks; an
//! entry appended at site A fires B's `on_vehicle_entry_pending` and
//! `on_vehicle_entry_confirmed` once each with that event, and A's exit fires B's
//! `on_vehicle_exit` once with the exit, after which B's projection shows the fee.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use parkmesh_config::{Config, RawCentral, RawConfig};
use parkmesh_manager::P2PManager;
use parkmesh_parking::payload::{EntryPayload, ExitPayload};
use parkmesh_protocol::{Event, EventKind};
use parkmesh_storage::{HistoryQuery, Ingested, Intent, Storage, StorageOptions};
use tokio::net::TcpListener;

const SECRET: &str = "embedding-test-cluster-secret-0123";

fn raw(me: &RawCentral, peer: &RawCentral, data: &std::path::Path) -> Config {
    let mut raw = RawConfig::standalone(me.id.clone(), "127.0.0.1");
    raw.this_central = me.clone();
    raw.peer_centrals = vec![peer.clone()];
    raw.bind = "127.0.0.1".into();
    raw.cluster_secret = Some(SECRET.into());
    raw.data_dir = data.display().to_string();
    Config::from_raw(raw, parkmesh_config::no_env)
        .unwrap()
        .config
}

async fn central(config: Config, listener: TcpListener) -> P2PManager {
    let storage = Storage::open(StorageOptions {
        db_path: config.db_path(),
        origin: config.this_central().id.clone(),
        tz: config.timezone().clone(),
    })
    .await
    .unwrap();
    P2PManager::start_on(config, None, storage, Some(listener))
        .await
        .unwrap()
}

fn gate(plate: &str, at_ms: i64, camera: &str) -> EntryPayload {
    EntryPayload::read(plate, at_ms)
        .with_camera(1, camera, &camera.to_uppercase())
        .with_read(0.95, "backend")
}

type Seen = Arc<Mutex<Vec<Event>>>;

fn recorder(seen: &Seen) -> impl Fn(&Event) + Send + Sync + 'static {
    let seen = seen.clone();
    move |e: &Event| seen.lock().unwrap().push(e.clone())
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn stored(outcome: Ingested) -> Event {
    match outcome {
        Ingested::Stored { event, .. } => event,
        other => panic!("expected a stored event, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_fire_once_with_the_peers_entry_and_exit() {
    let dir = tempfile::tempdir().unwrap();
    let (la, lb) = (
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
    );
    let mut a = RawCentral::new("site-a", "127.0.0.1");
    let mut b = RawCentral::new("site-b", "127.0.0.1");
    a.p2p_port = i64::from(la.local_addr().unwrap().port());
    b.p2p_port = i64::from(lb.local_addr().unwrap().port());
    // The API ports are only validated (the manager serves no HTTP).
    (a.api_port, b.api_port) = (a.p2p_port + 1, b.p2p_port + 1);
    let site_a = central(raw(&a, &b, &dir.path().join("a")), la).await;
    let site_b = central(raw(&b, &a, &dir.path().join("b")), lb).await;

    let (pending, confirmed, exits): (Seen, Seen, Seen) = Default::default();
    site_b.on_vehicle_entry_pending(recorder(&pending));
    site_b.on_vehicle_entry_confirmed(recorder(&confirmed));
    site_b.on_vehicle_exit(recorder(&exits));

    let t0 = parkmesh_clock::now_ms() - 2 * 3_600_000;
    let entry = stored(
        site_a
            .append(Intent::Entry {
                payload: gate("30A12345", t0, "entry"),
                request_key: None,
            })
            .await
            .unwrap(),
    );
    until("the entry at B", || confirmed.lock().unwrap().len() == 1).await;
    let exit = stored(
        site_a
            .append(Intent::Exit {
                payload: ExitPayload::at_gate(gate("30A12345", t0 + 2 * 3_600_000, "exit"), None),
                matching: parkmesh_parking::plate::ExitMatch::Exact,
                request_key: None,
            })
            .await
            .unwrap(),
    );
    until("the exit at B", || exits.lock().unwrap().len() == 1).await;

    let ids = |seen: &Seen| {
        let seen = seen.lock().unwrap();
        seen.iter().map(|e| e.id.clone()).collect::<Vec<_>>()
    };
    assert_eq!(ids(&pending), vec![entry.id.clone()], "pending fired once");
    assert_eq!(ids(&confirmed), vec![entry.id.clone()], "confirmed once");
    assert_eq!(ids(&exits), vec![exit.id.clone()], "exit fired once");
    assert_eq!(confirmed.lock().unwrap()[0].kind, EventKind::VehicleEntry);
    assert_eq!(exits.lock().unwrap()[0].kind, EventKind::VehicleExit);
    // B's own projection closed the session with the fee from A's entry time.
    let rows = site_b
        .storage()
        .history(&HistoryQuery {
            limit: 10,
            search: Some("30A12345".into()),
            ..HistoryQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0].status.as_str(), rows[0].fee), ("OUT", 50_000));
    site_a.stop().await;
    site_b.stop().await;
}
