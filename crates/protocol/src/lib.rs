//! Wire types of the parkmesh mesh protocol v2.
//!
//! This crate is the bottom of the dependency graph: every other crate may use it, it uses none of
//! them, and it does no IO (no sockets, no clock, no database). It defines
//!
//! - [`CentralId`], [`EventId`], [`Hlc`] and [`Event`]: the immutable event log entry that every
//!   mutation anywhere in the mesh becomes (`event`);
//! - [`StreamId`]: one central in one incarnation, the unit of gap-free sequencing;
//! - [`VersionVector`]: per stream, the highest contiguous sequence number a node holds (`vector`).
//!
//! Everything here is serde-serialisable because it is the mesh wire format; serialisation is
//! versioned (see `Event::schema`) and unknown event kinds are kept and relayed, never dropped.
#![warn(missing_docs)]

mod event;
mod vector;

pub use crate::event::{CentralId, Event, EventId, EventKind, Hlc, IdError, StreamId};
pub use crate::vector::VersionVector;
