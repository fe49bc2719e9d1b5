//! `GET /metrics`: the central's figures in the Prometheus text format (version 0.0.4).
//!
//! Figures come from three places. The storage counts what its writer does (events stored by
//! kind and source, group-commit batches and fsync time, edge request rows); this crate counts
//! what it serves (`ApiMetrics`: ingest answer latency, WebSocket clients, refused requests by
//! status class); everything about the mesh is read at scrape time from the manager's status
//! snapshot (link up, RTT, lag per stream in events and seconds, catch-up remaining, traffic,
//! handshake refusals), so the mesh's hot paths carry no metric code. Each scrape builds a fresh
//! registry from these; nothing here holds plate data, so the endpoint needs no admin token. The
//! `metrics` configuration key (read at start) turns it off.

use std::sync::atomic::AtomicU64;

use parkmesh_storage::Labels;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use crate::reply::ApiError;
use crate::state::AppState;

/// `Content-Type` of the answer.
pub(crate) const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

type GaugeF = Gauge<f64, AtomicU64>;

fn peer(id: &str) -> Labels {
    vec![("peer", id.to_owned())]
}

async fn file_size(path: std::path::PathBuf) -> u64 {
    tokio::fs::metadata(path)
        .await
        .map(|m| m.len())
        .unwrap_or(0)
}

/// Renders every figure of the central.
pub(crate) async fn render(state: &AppState) -> Result<String, ApiError> {
    let mut r = Registry::default();
    state.storage().metrics().register(&mut r);
    state.metrics.register(&mut r);

    let build = parkmesh_protocol::build_info();
    let build_info: Family<Labels, Gauge> = Family::default();
    build_info
        .get_or_create(&vec![
            ("version", build.version.clone()),
            ("commit", build.commit.clone()),
        ])
        .set(1);
    r.register(
        "parkmesh_build_info",
        "Always 1; the labels name the running software's version and git commit",
        build_info,
    );

    let status = state.manager.status();
    let now_ms = parkmesh_clock::now_ms();
    let log_events: Gauge = Gauge::default();
    let held = state.storage().vector().await?;
    log_events.set(held.0.values().map(|&v| v as i64).sum());
    r.register(
        "parkmesh_log_events",
        "Events held in the log (per stream, up to its contiguous head)",
        log_events,
    );
    let db = state.manager.config().db_path();
    let mut wal = db.clone().into_os_string();
    wal.push("-wal");
    let db_bytes: Gauge = Gauge::default();
    db_bytes.set((file_size(db).await + file_size(wal.into()).await) as i64);
    r.register_with_unit(
        "parkmesh_database_size",
        "Size of the database file and its write-ahead log",
        Unit::Bytes,
        db_bytes,
    );
    let conflicts: Gauge = Gauge::default();
    conflicts.set(state.storage().conflict_count().await?);
    r.register(
        "parkmesh_conflicts_open",
        "Conflicts the fold has recorded (e.g. concurrent entries of one plate)",
        conflicts,
    );

    let overstays: Gauge = Gauge::default();
    if let Some(cutoff) = crate::frontend::overstay_cutoff(state) {
        overstays.set(state.storage().overstay_count(cutoff).await?);
    }
    r.register(
        "parkmesh_overstay_sessions",
        "Cars inside for longer than max_stay_hours (0 when it is off)",
        overstays,
    );

    let up: Family<Labels, Gauge> = Family::default();
    let rtt: Family<Labels, GaugeF> = Family::default();
    let lag: Family<Labels, Gauge> = Family::default();
    let lag_secs: Family<Labels, GaugeF> = Family::default();
    let remaining: Family<Labels, Gauge> = Family::default();
    let traffic: [Family<Labels, Counter>; 4] = Default::default();
    let resent: [Family<Labels, Counter>; 2] = Default::default();
    for p in &status.peers {
        for (family, v) in resent.iter().zip([p.resent_events, p.retransmit_timeouts]) {
            family.get_or_create(&peer(&p.peer_id)).inc_by(v);
        }
        up.get_or_create(&peer(&p.peer_id))
            .set(i64::from(p.connected));
        if let Some(ms) = p.rtt_ms {
            rtt.get_or_create(&peer(&p.peer_id)).set(ms / 1000.0);
        }
        remaining
            .get_or_create(&peer(&p.peer_id))
            .set(p.catchup_remaining as i64);
        let t = p.traffic;
        for (family, v) in traffic
            .iter()
            .zip([t.bytes_in, t.bytes_out, t.frames_in, t.frames_out])
        {
            family.get_or_create(&peer(&p.peer_id)).inc_by(v);
        }
        // Every stream this central holds, lagging or not, so each series exists from the start.
        for (stream, _) in &status.local {
            let n = p
                .lag_by_stream
                .iter()
                .find(|(s, _)| s == stream)
                .map_or(&0, |(_, n)| n);
            let labels = vec![("peer", p.peer_id.clone()), ("stream", stream.to_string())];
            lag.get_or_create(&labels).set(*n as i64);
            let acked = p
                .acked
                .iter()
                .find(|(s, _)| s == stream)
                .map_or(0, |(_, v)| *v);
            let oldest = if *n > 0 {
                state.storage().read_stream(stream, acked + 1, 1).await?
            } else {
                Vec::new()
            };
            let secs = oldest.first().map_or(0.0, |e| {
                (now_ms - e.hlc.wall_ms as i64).max(0) as f64 / 1000.0
            });
            lag_secs.get_or_create(&labels).set(secs);
        }
    }
    r.register(
        "parkmesh_peer_up",
        "1 while an authenticated mesh link to the peer is up",
        up,
    );
    r.register_with_unit(
        "parkmesh_peer_rtt",
        "Last measured round trip to the peer",
        Unit::Seconds,
        rtt,
    );
    r.register(
        "parkmesh_peer_lag_events",
        "Events of a stream this central holds that the peer has not acknowledged",
        lag,
    );
    r.register_with_unit(
        "parkmesh_peer_lag",
        "Age of the oldest event of a stream the peer has not acknowledged",
        Unit::Seconds,
        lag_secs,
    );
    r.register(
        "parkmesh_peer_catchup_remaining_events",
        "Events the peer holds that this central still lacks",
        remaining,
    );
    let [bytes_in, bytes_out, frames_in, frames_out] = traffic;
    r.register_with_unit(
        "parkmesh_peer_received",
        "Mesh bytes received from the peer",
        Unit::Bytes,
        bytes_in,
    );
    r.register_with_unit(
        "parkmesh_peer_sent",
        "Mesh bytes sent to the peer",
        Unit::Bytes,
        bytes_out,
    );
    r.register(
        "parkmesh_peer_received_frames",
        "Mesh frames received from the peer",
        frames_in,
    );
    r.register(
        "parkmesh_peer_sent_frames",
        "Mesh frames sent to the peer",
        frames_out,
    );
    let [resent_events, timeouts] = resent;
    r.register(
        "parkmesh_peer_resent_events",
        "Events sent to the peer a second time on the same connection (after no ack came in time, or a gap re-request)",
        resent_events,
    );
    r.register(
        "parkmesh_peer_retransmit_timeouts",
        "Times no ack progress came from the peer within the retransmit timeout",
        timeouts,
    );
    let refusals: Family<Labels, Counter> = Family::default();
    for (reason, n) in &status.handshake_refusals {
        refusals
            .get_or_create(&vec![("reason", reason.clone())])
            .inc_by(*n);
    }
    r.register(
        "parkmesh_handshake_refusals",
        "Mesh connections refused before their handshake finished, by reason",
        refusals,
    );

    let mut out = String::with_capacity(8 * 1024);
    prometheus_client::encoding::prometheus_text::encode(&mut out, &r)
        .map_err(|_| ApiError::Unavailable("cannot encode the metrics".into()))?;
    Ok(out)
}
