//! Wire types of the parkmesh mesh protocol v2.
//!
//! This crate is the bottom of the dependency graph: every other crate may use it, it uses none of
//! them, and it does no IO (no sockets, no clock, no database). It defines
//!
//! - [`CentralId`], [`EventId`], [`Hlc`] and [`Event`]: the immutable event log entry that every
//!   mutation anywhere in the mesh becomes (`event`);
//! - [`StreamId`]: one central in one incarnation, the unit of gap-free sequencing;
//! - [`VersionVector`]: per stream, the highest contiguous sequence number a node holds (`vector`);
//! - [`HlcClock`]: the hybrid logical clock that stamps new events, fed the wall clock by the
//!   caller (`clock`);
//! - [`Frame`]: the versioned JSON messages centrals exchange, with [`Frame::encode`] and the
//!   size-bounded, panic-free [`Frame::decode`] (`frame`);
//! - [`auth_proof`] / [`verify_auth_proof`]: the HMAC-SHA256 handshake proof (`auth`);
//! - [`BuildInfo`]: the software version this process announces to peers (`build`).
//! - [`Deflater`] / [`Inflater`]: the negotiated `deflate` frame compression, one stream per
//!   direction of a connection (`deflate`).
//!
//! Everything here is serde-serialisable because it is the mesh wire format; serialisation is
//! versioned (see `Event::schema` and the frame envelope's `v`) and unknown event kinds and close
//! codes are kept and relayed, never dropped.
#![warn(missing_docs)]

mod auth;
mod build;
mod clock;
mod deflate;
mod event;
mod frame;
mod vector;

#[cfg(test)]
mod tests;

pub use crate::auth::{
    AuthProof, HexError, Nonce, auth_proof, membership_proof, verify_auth_proof,
    verify_membership_proof,
};
pub use crate::build::{BuildInfo, build_info, set_build_info};
pub use crate::clock::HlcClock;
pub use crate::deflate::{CAP_DEFLATE, Deflater, Inflater};
pub use crate::event::{CentralId, Event, EventId, EventKind, Hlc, IdError, StreamId};
pub use crate::frame::{
    CloseCode, Frame, Hello, MAX_FRAME_BYTES, PROTO_MAX, PROTO_MIN, ProtocolError,
};
pub use crate::vector::VersionVector;
