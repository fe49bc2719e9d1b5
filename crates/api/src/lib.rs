//! The HTTP/WS API of a central: the seed's edge and frontend endpoints (byte-compatible shapes)
//! plus the `/api/p2p/*` management API, on warp.
//!
//! Only this crate knows the seed's JSON shapes; it renders them by hand from storage rows.
//! Every request body is size-limited before parsing and every failure is a JSON
//! `{"success": false, "error": ...}` with a 4xx that names the problem.
//!
//! # Layout
//! - `state`: [`AppState`] and the settings read from the configuration in force.
//! - `filters`: the shared warp filters (state, body, admin rule, operator name).
//! - `routes`: the one route tree ([`routes()`]).
//! - `reply`: JSON replies, [`ApiError`], [`MAX_BODY`], the rejection handler.
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
//! - `watchlist`: the network's watch list and the edge's detection preview
//!   (`POST /api/edge/detection`).
//! - `tariff`: the fee table: the stored `"fees"` setting read, merged and validated once.
//! - `metrics`: `GET /metrics` (Prometheus text); `counters`: the figures this crate counts.
//! - `status_page`: the operator's status page `GET /mesh`, its JSON and live stream.

// warp route trees are deep generic types; release builds need more room to evaluate them.
#![recursion_limit = "512"]

mod cameras;
mod client;
mod counters;
mod edge;
mod fields;
mod filters;
mod frontend;
mod hub;
mod manual;
mod metrics;
mod operator;
mod p2p;
mod render;
mod reply;
mod reports;
mod routes;
mod server;
mod site;
mod state;
mod status_page;
mod tariff;
mod watchlist;
mod ws;

pub use crate::client::{Target, call_with_token};
pub use crate::reply::{ApiError, MAX_BODY};
pub use crate::routes::routes;
pub use crate::server::serve;
pub use crate::state::AppState;
