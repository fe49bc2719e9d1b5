//! Deterministic simulation of N centrals over the real engine and the real parking fold.
//!
//! One process, one virtual clock, one seeded RNG, one event queue ordered by `(time, seq)`. Each
//! node has a durable "database" (its log, which survives crashes unless the whole DB is lost)
//! and volatile state (the engine, a pending `Apply` batch) that a crash throws away. The
//! network delivers encoded text frames over per-pair connections with latency, and injects
//! partitions, connection cuts, and drop/duplicate/reorder of data frames. Nodes mint vehicle
//! entries/exits with skewed wall clocks. After the chaos phase everything heals and the world
//! runs until all vectors agree; [`World::check`] then verifies the invariants.

// The harness is shared by several test binaries; not every one uses every item.
#![allow(unreachable_pub, dead_code, unused_imports)]

mod params;
mod world;

pub use params::{SimParams, Topology};
pub use world::{Outcome, World};
