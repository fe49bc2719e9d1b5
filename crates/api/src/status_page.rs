//! The operator's status page: `GET /mesh` (HTML), `GET /api/mesh` (its data as JSON) and
//! `GET /api/mesh/events` (the same data as a server-sent event every second).
//!
//! The page is one plain HTML file with its CSS and JS inline (`assets/mesh.html`), compiled into
//! the binary; no build step. The server writes the current state into the page it serves, so
//! the page is complete as soon as it loads (a reload always shows the truth, and a browser
//! without JavaScript still sees the state as of the load); the script then renders each
//! server-sent update. It shows this central, every configured peer (link state, RTT, lag,
//! catch-up), open conflicts with both sides, the latest events and today's entries and exits
//! per site. No plate data leaves the central beyond what `/api/parking/history` already shows.

use std::convert::Infallible;
use std::time::Duration;

use parkmesh_protocol::Event;
use serde_json::{Value, json};
use warp::Filter;

use crate::reply::ApiError;
use crate::state::AppState;

/// The page, with `__MESH_STATE__` where the server puts the state.
const PAGE: &str = include_str!("assets/mesh.html");
/// Time between two server-sent updates.
const UPDATE_EVERY: Duration = Duration::from_secs(1);
/// Events listed under "recent events".
const RECENT_EVENTS: usize = 15;

/// Origin (central id) of an event id text `origin:incarnation:seq`.
fn site_of(event_id: &str) -> &str {
    event_id.split(':').next().unwrap_or(event_id)
}

fn event_json(e: &Event, tz: &jiff::tz::TimeZone) -> Value {
    let plate = e
        .payload
        .get("plate_id")
        .or_else(|| e.payload.get("plate_view"))
        .and_then(Value::as_str);
    json!({
        "id": e.id.to_string(),
        "site": e.id.origin.as_str(),
        "kind": e.kind.as_str(),
        "plate": plate,
        "time": parkmesh_parking::time::format_local(e.hlc.wall_ms as i64, tz),
    })
}

/// Everything the page shows.
pub(crate) async fn snapshot(state: &AppState) -> Result<Value, ApiError> {
    let status = state.manager.status();
    let tz = &state.settings().tz;
    let now = parkmesh_clock::now_ms();
    let day = parkmesh_parking::time::local_day_range(now, tz);
    let storage = state.storage();
    let mut by_id: Vec<&parkmesh_manager::PeerStatus> = status.peers.iter().collect();
    by_id.sort_by(|a, b| a.peer_id.cmp(&b.peer_id));
    let peers: Vec<Value> = by_id
        .into_iter()
        .map(|p| {
            json!({
                "id": p.peer_id,
                "address": format!("{}:{}", p.peer_ip, p.peer_port),
                "state": p.status,
                "connected": p.connected,
                "rtt_ms": p.rtt_ms,
                "lag_events": p.lag_events,
                "catching_up": p.catching_up,
                "catchup_remaining": p.catchup_remaining,
                "last_seen_ms_ago": p.last_ping_ms.map(|t| (now - t).max(0)),
            })
        })
        .collect();
    let conflicts: Vec<Value> = storage
        .conflicts()
        .await?
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "plate": c.plate_key,
                "kind": c.kind,
                "time": parkmesh_parking::time::format_local(c.at_ms, tz),
                "winner": { "id": c.winner, "site": site_of(&c.winner) },
                "losers": c.losers.iter()
                    .map(|l| json!({ "id": l, "site": site_of(l) }))
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    let recent: Vec<Value> = storage
        .recent_events(RECENT_EVENTS)
        .await?
        .iter()
        .map(|e| event_json(e, tz))
        .collect();
    let sites: Vec<Value> = storage
        .site_counts(day)
        .await?
        .into_iter()
        .map(|s| json!({ "site": s.site, "entries": s.entries, "exits": s.exits }))
        .collect();
    Ok(json!({
        "success": true,
        "central": {
            "id": status.this_central,
            "standalone": status.standalone,
            "events": status.local.iter().map(|(_, v)| *v).sum::<u64>(),
            "version": env!("CARGO_PKG_VERSION"),
        },
        "time": parkmesh_parking::time::format_local(now, tz),
        "peers": peers,
        "conflicts": conflicts,
        "recent_events": recent,
        "sites_today": sites,
    }))
}

/// The page with `state` written in: `<` is escaped so no string in it can close the script.
fn page(state: &Value) -> String {
    let data = state.to_string().replace('<', "\\u003c");
    PAGE.replace("__MESH_STATE__", &data)
}

/// The server-sent updates of one client: a task renders a snapshot now and every
/// [`UPDATE_EVERY`] and ends when the client is gone.
fn updates(
    state: AppState,
) -> impl futures_util::Stream<Item = Result<warp::sse::Event, Infallible>> + Send + Sync {
    let (tx, rx) = tokio::sync::mpsc::channel::<warp::sse::Event>(1);
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(UPDATE_EVERY);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let data = match snapshot(&state).await {
                Ok(v) => v,
                Err(e) => json!({ "success": false, "error": e.to_string() }),
            };
            let event = warp::sse::Event::default()
                .event("mesh")
                .data(data.to_string());
            if tx.send(event).await.is_err() {
                break;
            }
        }
    });
    futures_util::stream::unfold(
        rx,
        |mut rx| async move { rx.recv().await.map(|e| (Ok(e), rx)) },
    )
}

/// `GET /mesh`, `GET /api/mesh`, `GET /api/mesh/events`.
pub(crate) fn routes(
    state: AppState,
) -> impl Filter<Extract = (impl warp::Reply,), Error = warp::Rejection> + Clone {
    let st = move || crate::filters::with_state(state.clone());
    let html = warp::path!("mesh")
        .and(warp::get())
        .and(st())
        .then(|s: AppState| async move {
            match snapshot(&s).await {
                Ok(v) => Box::new(warp::reply::html(page(&v))) as Box<dyn warp::Reply>,
                Err(e) => Box::new(e.reply()),
            }
        });
    let data =
        warp::path!("api" / "mesh")
            .and(warp::get())
            .and(st())
            .then(|s: AppState| async move {
                crate::reply::finish(snapshot(&s).await.map(crate::reply::ok))
            });
    let events = warp::path!("api" / "mesh" / "events")
        .and(warp::get())
        .and(st())
        .map(|s: AppState| warp::sse::reply(warp::sse::keep_alive().stream(updates(s))));
    html.or(data).or(events)
}
