//! Parking domain rules of parkmesh, free of IO: plates, the tariff, subscriptions, site-local
//! time, event payloads and the deterministic session fold.
//!
//! Nothing here reads a clock, a socket or a database; every "now" is an argument. That keeps
//! the fold usable by storage (incrementally, per plate) and by the replication simulation
//! (over whole event sets) with exactly the same results.
//!
//! # Layout
//! - `plate`: normalisation and validation ([`plate::normalize`]).
//! - `fee`: [`Tariff`] and [`fee::duration_text`].
//! - `subscription`: passes and [`subscription::exemption`].
//! - `time`: site-local text and "today".
//! - `payload`: typed payloads of the event kinds.
//! - `session`: what a fold produces (sessions, sides, conflicts), re-exported by `fold`.
//! - `order`: the fold order, written once.
//! - `fold`: [`fold::fold_plate`], sessions and conflicts of one plate; its state while it walks
//!   a plate is a type with one step per event kind.
//! - `settled`: the settled point a fold reports; `incremental`: folding from it
//!   ([`incremental::fold_after`]).
//! - `import`: the tag and key of sessions imported from an original ParkAI central.
//! - `parkai`: rows of an original ParkAI database turned into importable sessions.
//! - `report`: aggregation rules of the network reports (local days, stay percentile, peak
//!   occupancy).
//! - `project`: [`project()`] over a whole event set, [`group_by_plate`] and
//!   [`effective_plate`] (sessions filed under the operator-corrected plate).
//!
//! In the crate graph it depends only on `parkmesh-protocol`.

mod error;
pub mod fee;
pub mod fold;
pub mod import;
pub mod incremental;
mod order;
pub mod parkai;
pub mod payload;
pub mod plate;
mod project;
pub mod report;
mod session;
mod settled;
pub mod subscription;
pub mod time;

pub use crate::error::ParkingError;
pub use crate::fee::Tariff;
pub use crate::fold::blocks_entry;
pub use crate::project::{
    Projection, WATCH_PREFIX, effective_plate, group_by_plate, moves_events, project,
};
