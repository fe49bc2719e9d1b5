//! The fold order, written once: a plate's vehicle events are folded by
//! `(at_ms, kind rank, hlc, origin, incarnation, seq)` — business time first, then entry before
//! sighting before exit, then [`Event::order_key`]. [`Position`] is that order over borrowed
//! events (the fold sorts by it), [`SortKey`] its owned copy (the settled point stores one), and
//! both compare through [`Position`], so the two can never disagree.

use std::cmp::Ordering;

use parkmesh_protocol::{CentralId, Event, EventKind, Hlc};

use crate::import::ImportTag;
use crate::payload::{EntryPayload, ExitPayload, LocationPayload, Payload, PlateMatch};

/// The typed payload of a vehicle event.
pub(crate) enum Vehicle {
    Entry(EntryPayload),
    Exit(ExitPayload),
    Location(LocationPayload),
}

impl Vehicle {
    /// The typed payload of a vehicle event; `None` for other kinds and malformed payloads.
    pub(crate) fn decode(e: &Event) -> Option<Self> {
        match e.kind {
            EventKind::VehicleEntry => EntryPayload::from_event(e).ok().map(Self::Entry),
            EventKind::VehicleExit => ExitPayload::from_event(e).ok().map(Self::Exit),
            EventKind::VehicleLocation => LocationPayload::from_event(e).ok().map(Self::Location),
            _ => None,
        }
    }

    /// Business time (ms): the gate's or the sighting's own timestamp.
    fn at_ms(&self) -> i64 {
        match self {
            Self::Entry(p) => p.at_ms,
            Self::Exit(p) => p.gate.at_ms,
            Self::Location(p) => p.at_ms,
        }
    }

    /// Turns a confusably matched exit back into the exit the camera read (its `exit_plate`,
    /// no entry named; the plate it was matched to stays listed as its candidate); returns
    /// whether it was such an exit (an `exit.unmatch` of any other event changes nothing).
    pub(crate) fn unmatch(&mut self) -> bool {
        let Self::Exit(x) = self else {
            return false;
        };
        if !x.matched.is_confusable() {
            return false;
        }
        let matched = std::mem::take(&mut x.matched);
        let Some(read) = matched.exit_plate else {
            return false;
        };
        x.gate.plate_view = matched.exit_plate_view.unwrap_or_else(|| read.clone());
        let matched_to = std::mem::replace(&mut x.gate.plate_id, read);
        x.entry_ref = None;
        x.matched = PlateMatch {
            match_candidates: vec![matched_to],
            ..PlateMatch::default()
        };
        true
    }

    /// Kind rank at equal business time: entry 0, sighting 1, exit 2.
    fn rank(&self) -> u8 {
        match self {
            Self::Entry(_) => 0,
            Self::Location(_) => 1,
            Self::Exit(_) => 2,
        }
    }
}

/// A decoded vehicle event, as the fold walks it.
pub(crate) struct Item<'a> {
    pub(crate) event: &'a Event,
    pub(crate) what: Vehicle,
    pub(crate) import: Option<ImportTag>,
    /// An exit whose confusable match an operator undid (`exit.unmatch`): its payload reads
    /// as the plate the camera saw, and it closes nothing.
    pub(crate) unmatched: bool,
}

impl Item<'_> {
    /// Where the item stands in fold order.
    pub(crate) fn position(&self) -> Position<'_> {
        Position::of(self.event, &self.what)
    }
}

/// A place in fold order, borrowed from an event: the one definition of the order.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Position<'a> {
    at_ms: i64,
    rank: u8,
    event: (Hlc, &'a CentralId, u64, u64),
}

impl<'a> Position<'a> {
    /// The position of vehicle event `e` with decoded payload `what`.
    pub(crate) fn of(e: &'a Event, what: &Vehicle) -> Self {
        Self {
            at_ms: what.at_ms(),
            rank: what.rank(),
            event: e.order_key(),
        }
    }
}

/// A position in a plate's fold order, owned: `(at_ms, kind rank, hlc, origin, incarnation,
/// seq)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    /// Business time (ms).
    pub at_ms: i64,
    /// 0 entry, 1 sighting, 2 exit.
    pub rank: u8,
    /// The recording central's clock.
    pub hlc: Hlc,
    /// Origin of the event.
    pub origin: CentralId,
    /// Incarnation of its stream.
    pub incarnation: u64,
    /// Seq in its stream.
    pub seq: u64,
}

impl SortKey {
    /// The fold-order key of a vehicle event; `None` for other kinds and malformed payloads
    /// (which the fold skips).
    pub fn of(e: &Event) -> Option<Self> {
        Vehicle::decode(e).map(|what| Self::new(&Position::of(e, &what)))
    }

    /// The owned copy of `at`.
    pub(crate) fn new(at: &Position<'_>) -> Self {
        let (hlc, origin, incarnation, seq) = at.event;
        Self {
            at_ms: at.at_ms,
            rank: at.rank,
            hlc,
            origin: origin.clone(),
            incarnation,
            seq,
        }
    }

    /// The borrowed form, through which keys compare.
    pub(crate) fn position(&self) -> Position<'_> {
        Position {
            at_ms: self.at_ms,
            rank: self.rank,
            event: (self.hlc, &self.origin, self.incarnation, self.seq),
        }
    }
}

impl Ord for SortKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.position().cmp(&other.position())
    }
}

impl PartialOrd for SortKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
