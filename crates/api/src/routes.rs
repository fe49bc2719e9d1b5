//! Every route of the API in one tree, with CORS, the rejection handler and the status counter.

use std::collections::HashMap;
use std::convert::Infallible;

use warp::Filter;

use crate::filters::{admin, body, with_state};
use crate::state::AppState;
use crate::{
    cameras, edge, frontend, manual, metrics, operator, p2p, reply, reports, site, status_page,
    watchlist, ws,
};

/// All routes of the API, with CORS for a browser frontend on another origin and the
/// rejection handler.
pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (impl warp::Reply,), Error = Infallible> + Clone {
    let st = || with_state(state.clone());
    let adm = || admin(state.clone());

    let root = warp::path::end().and(warp::get()).map(frontend::root);
    let edge_event = warp::path!("api" / "edge" / "event")
        .and(warp::post())
        .and(st())
        .and(body())
        .then(|s, b| async move { reply::finish(edge::post_event(s, b).await) });
    let heartbeat = warp::path!("api" / "edge" / "heartbeat")
        .and(warp::post())
        .and(st())
        .and(body())
        .then(|s, b| async move { reply::finish(edge::heartbeat(s, b).await) });
    let stats = warp::path!("api" / "stats")
        .and(warp::get())
        .and(st())
        .then(|s| async move { reply::finish(frontend::stats(s).await) });
    let status = warp::path!("api" / "status")
        .and(warp::get())
        .and(st())
        .then(|s| async move { reply::finish(frontend::status(s).await) });
    let cameras = warp::path!("api" / "cameras")
        .and(warp::get())
        .and(st())
        .then(|s| async move { reply::finish(frontend::cameras(s).await) });
    let state_r = warp::path!("api" / "parking" / "state")
        .and(warp::get())
        .and(st())
        .then(|s| async move { reply::finish(frontend::parking_state(s).await) });
    let history = warp::path!("api" / "parking" / "history")
        .and(warp::get())
        .and(st())
        .and(warp::query::<HashMap<String, String>>())
        .then(|s, q| async move { reply::finish(frontend::history(s, q).await) });
    let get_fees = warp::path!("api" / "parking" / "fees")
        .and(warp::get())
        .and(st())
        .then(|s| async move { reply::finish(frontend::get_fees(s).await) });
    let put_fees = warp::path!("api" / "parking" / "fees")
        .and(warp::put())
        .and(adm())
        .and(st())
        .and(body())
        .then(|s, b| async move { reply::finish(frontend::put_fees(s, b).await) });

    // Read at start like the listener: `metrics: false` answers 404 as if there were no route.
    let metrics_on = state.manager.config().metrics_enabled();
    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(warp::any().and_then(move || async move {
            if metrics_on {
                Ok(())
            } else {
                Err(warp::reject::not_found())
            }
        }))
        .untuple_one()
        .and(st())
        .then(|s: AppState| async move {
            match metrics::render(&s).await {
                Ok(text) => Ok(Box::new(warp::reply::with_header(
                    text,
                    "content-type",
                    metrics::CONTENT_TYPE,
                )) as Box<dyn warp::Reply>),
                Err(e) => reply::finish(Err(e)).map(|r| Box::new(r) as Box<dyn warp::Reply>),
            }
        });

    let ws_history = warp::path!("ws" / "history").and(warp::ws()).and(st()).map(
        |w: warp::ws::Ws, s: AppState| {
            w.max_message_size(ws::MAX_WS_FRAME)
                .on_upgrade(move |sock| ws::history(sock, s))
        },
    );
    let ws_cameras = warp::path!("ws" / "cameras").and(warp::ws()).and(st()).map(
        |w: warp::ws::Ws, s: AppState| {
            w.max_message_size(ws::MAX_WS_FRAME)
                .on_upgrade(move |sock| ws::cameras(sock, s))
        },
    );
    let ws_edge =
        warp::path!("ws" / "edge")
            .and(warp::ws())
            .and(st())
            .map(|w: warp::ws::Ws, s: AppState| {
                w.max_message_size(ws::MAX_WS_FRAME)
                    .on_upgrade(move |sock| ws::edge(sock, s))
            });

    let cors = warp::cors()
        .allow_any_origin()
        .allow_methods(["GET", "POST", "PUT", "DELETE", "OPTIONS"])
        .allow_headers(["content-type", "authorization", "x-operator", "accept"]);

    let api = root
        .or(edge_event)
        .or(heartbeat)
        .or(stats)
        .or(status)
        .or(cameras)
        .or(state_r)
        .or(history)
        .or(get_fees)
        .or(put_fees)
        .or(p2p::routes(state.clone()))
        .or(operator::routes(state.clone()))
        .or(watchlist::routes(state.clone()))
        .or(site::routes(state.clone()))
        .or(cameras::routes(state.clone()))
        .or(cameras::stream_route(state.clone()))
        .or(ws_history)
        .or(ws_cameras)
        .or(ws_edge)
        .or(manual::route(state.clone()))
        .or(metrics)
        .or(status_page::routes(state.clone()))
        .or(reports::routes(state.clone()));
    let counted = state.metrics.clone();
    // Every answer carries the CORS headers: the rejection handler runs inside the CORS wrapper,
    // so errors, 404, 405 and 413 get them as well; a refused preflight (a header or method
    // outside the lists) is answered by `recover_cors`, which adds them itself. Answers are
    // counted by status class after the rejection handler, so refusals are counted too.
    api.recover(reply::recover)
        .with(warp::log::custom(move |info| {
            counted.observe_status(info.status().as_u16())
        }))
        .with(cors)
        .with(warp::trace::request())
        .recover(reply::recover_cors)
        .map(|r| r)
}
