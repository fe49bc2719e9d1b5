//! The HTTP/WS API of a central: the seed's edge and frontend endpoints (byte-compatible shapes)
//! plus the `/api/p2p/*` management API, on warp.
//!
//! Only this crate knows the seed's JSON shapes; it renders them by hand from storage rows.
//! Every request body is size-limited before parsing and every failure is a JSON
//! `{"success": false, "error": ...}` with a 4xx that names the problem.
//!
//! # Layout
//! - `reply`: JSON replies, [`ApiError`], the rejection handler.
//! - `fields`: typed access to untrusted JSON fields.
//! - `edge`: `POST /api/edge/event`, `/api/edge/heartbeat`.
//! - `frontend`: stats, state, history, cameras, fees, status.
//! - `operator`: history edits/deletes and their audit, subscriptions, staff.
//! - `manual`: `POST /api/parking/manual-entry`, an operator's entry or exit.
//! - `cameras`: the camera list and the WebRTC offer proxy to edges.
//! - `site`: `/api/config`, `/api/edge/sync-config`, `/api/parking/occupancy`.
//! - `p2p`: `/api/p2p/*`; `client`: the small HTTP client for peer membership calls.
//! - `ws`: `/ws/history`, `/ws/cameras`, `/ws/edge`; `hub`: their fan-out.
//! - `server`: the accept loop (plain or TLS) and graceful shutdown.
//! - `render`: the seed's JSON shapes, and the edge event type and camera they speak of.
//! - `tariff`: the fee table: the stored `"fees"` setting read, merged and validated once.
//! - `metrics`: `GET /metrics` (Prometheus text) and the figures this crate counts.
//! - `status_page`: the operator's status page `GET /mesh`, its JSON and live stream.

// warp route trees are deep generic types; release builds need more room to evaluate them.
#![recursion_limit = "512"]

mod cameras;
mod client;
mod edge;
mod fields;
mod frontend;
mod hub;
mod manual;
mod metrics;
mod operator;
mod p2p;
mod render;
mod reply;
mod reports;
mod server;
mod site;
mod status_page;
mod tariff;
mod ws;

use std::collections::HashMap;
use std::convert::Infallible;

use parkmesh_config::{AdminDenied, AdminGrant};
use parkmesh_manager::P2PManager;
use parkmesh_parking::plate::PlatePolicy;
use parkmesh_storage::Storage;
use warp::Filter;

pub use crate::client::{Target, call_with_token};
pub use crate::reply::ApiError;
pub use crate::server::serve;

/// Largest request body accepted (bytes); checked before parsing.
pub const MAX_BODY: u64 = 64 * 1024;

/// A camera with no heartbeat for this long is offline (seed: 60 s).
pub(crate) const CAMERA_TIMEOUT_MS: i64 = 60_000;

/// The settings the API reads from the configuration. They are taken from the manager's
/// configuration in force on every request ([`AppState::settings`]), so a change saved through
/// `PUT /api/p2p/config` applies to the next request; nothing is copied at start.
#[derive(Debug, Clone)]
pub(crate) struct ApiSettings {
    /// Site time zone: the one the database was opened with, which renders the stored history
    /// texts, so every time the API shows agrees with them (a new `timezone` needs a restart).
    pub(crate) tz: jiff::tz::TimeZone,
    /// Plate validation policy.
    pub(crate) plate_policy: PlatePolicy,
    /// How far in the future an edge timestamp is honoured (ms): `max_clock_skew_secs`.
    pub(crate) max_skew_ms: i64,
    /// How far in the past an edge timestamp is honoured (ms): `max_event_age_secs`.
    pub(crate) max_age_ms: i64,
}

impl ApiSettings {
    fn from_config(config: &parkmesh_config::Config, tz: &jiff::tz::TimeZone) -> Self {
        let ms = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Self {
            tz: tz.clone(),
            plate_policy: config.plate_policy(),
            max_skew_ms: ms(config.max_clock_skew()),
            max_age_ms: ms(config.max_event_age()),
        }
    }
}

/// Shared state of the API.
#[derive(Clone)]
pub struct AppState {
    manager: P2PManager,
    hubs: hub::Hubs,
    metrics: metrics::ApiMetrics,
}

impl AppState {
    /// Builds the state and starts the socket fan-out task. Settings are read from `manager`'s
    /// configuration in force on each request.
    pub fn new(manager: P2PManager) -> Self {
        let hubs = hub::Hubs::new();
        hubs.spawn_forwarder(manager.storage());
        Self {
            manager,
            hubs,
            metrics: metrics::ApiMetrics::default(),
        }
    }

    /// The API settings of the configuration in force now.
    pub(crate) fn settings(&self) -> ApiSettings {
        ApiSettings::from_config(&self.manager.config(), self.storage().tz())
    }

    /// Reads only: every write goes through [`AppState::append`].
    fn storage(&self) -> &Storage {
        self.manager.storage()
    }

    /// The one door for writes: the manager appends (the path an embedder uses too) and the
    /// storage commits and returns the typed outcome, which the caller renders.
    async fn append(
        &self,
        intent: parkmesh_storage::Intent,
    ) -> Result<parkmesh_storage::Ingested, reply::ApiError> {
        Ok(self.manager.append(intent).await?)
    }

    /// The TLS client for calls to peers' APIs, when the cluster's APIs run TLS.
    fn tls_client(&self) -> Option<&parkmesh_transport::tls::TlsClient> {
        self.manager.api_tls().map(|t| &t.client)
    }

    /// `http` or `https`: the scheme of this central's API (and every peer's).
    fn api_scheme(&self) -> &'static str {
        if self.manager.api_tls().is_some() {
            "https"
        } else {
            "http"
        }
    }
}

pub(crate) fn with_state(
    state: AppState,
) -> impl Filter<Extract = (AppState,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

pub(crate) fn body() -> impl Filter<Extract = (bytes::Bytes,), Error = warp::Rejection> + Clone {
    warp::body::content_length_limit(MAX_BODY).and(warp::body::bytes())
}

/// The admin rule ([`parkmesh_config::Config::authorize_admin`], applied to the configuration in
/// force): extracts how the caller was allowed, for the audit trail. A missing token is a 401,
/// a wrong token or an address outside `admin_networks` a 403.
pub(crate) fn admin_as(
    state: AppState,
) -> impl Filter<Extract = (AdminGrant,), Error = warp::Rejection> + Clone {
    warp::header::optional::<String>("authorization")
        .and(warp::ext::optional::<server::ClientAddr>())
        .and_then(
            move |auth: Option<String>, remote: Option<server::ClientAddr>| {
                let config = state.manager.config();
                async move {
                    config
                        .authorize_admin(remote.map(|r| r.0.ip()), auth.as_deref())
                        .map_err(|denied| {
                            let message = denied.to_string();
                            warp::reject::custom(match denied {
                                AdminDenied::MissingToken => ApiError::Unauthorized(message),
                                AdminDenied::WrongToken | AdminDenied::NotAdminNetwork { .. } => {
                                    ApiError::Forbidden(message)
                                }
                            })
                        })
                }
            },
        )
}

/// [`admin_as`] for routes that do not record who made the change.
pub(crate) fn admin(state: AppState) -> impl Filter<Extract = (), Error = warp::Rejection> + Clone {
    admin_as(state).map(|_| ()).untuple_one()
}

/// Who made an admin change: the `X-Operator` header when given (control characters removed,
/// at most 64 characters), else how the caller was allowed ([`AdminGrant::identity`]).
pub(crate) fn operator_name(grant: AdminGrant, header: Option<String>) -> String {
    header
        .map(|h| {
            h.chars()
                .filter(|c| !c.is_control())
                .take(64)
                .collect::<String>()
        })
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| grant.identity())
}

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
