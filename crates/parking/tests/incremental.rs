//! The incremental fold against its oracle, the full fold.
//!
//! A simulated store keeps what storage keeps (sessions by id, conflicts, the [`SettledPoint`])
//! and takes a random history in random chunks, the way the writer takes commands: duplicates are
//! ignored, a chunk with an operator event or one that [`fold_after`] refuses is folded in full,
//! any other chunk folds only the events after the settled point. After every chunk the store
//! must hold exactly the full fold of everything it has seen. Histories have late, duplicated and
//! reordered events, edits, deletes, `entry_ref` exits (by event id and by edge id, with edge ids
//! that repeat), concurrent entries, sightings, imported copies, exits matched from a look-alike
//! plate and undos of such matches.
//!
//! Cases: 256 by default; `INCREMENTAL_CASES=N` runs more.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use parkmesh_parking::fold::{Conflict, Session, fold_plate};
use parkmesh_parking::import::ImportTag;
use parkmesh_parking::incremental::{SettledPoint, SortKey, fold_after, fold_with_settled_point};
use parkmesh_protocol::{Event, EventKind};
use proptest::prelude::*;

const PLATE: &str = "30A11111";
const ORIGINS: [&str; 3] = ["a", "b", "c"];

#[derive(Debug, Clone)]
enum Act {
    Entry {
        edge: Option<u8>,
        import: Option<u8>,
    },
    Exit {
        by_ref: Option<(usize, bool)>,
        import: Option<u8>,
    },
    Location,
    Edit {
        target: usize,
    },
    Delete {
        target: usize,
    },
    /// An exit read as a look-alike plate and matched to this plate's open session.
    ConfusableExit,
    Unmatch {
        target: usize,
    },
}

fn arb_import() -> impl Strategy<Value = Option<u8>> {
    prop_oneof![8 => Just(None), 1 => (0u8..3).prop_map(Some)]
}

fn arb_act() -> impl Strategy<Value = Act> {
    prop_oneof![
        5 => (prop::option::of(0u8..4), arb_import()).prop_map(|(edge, import)| Act::Entry { edge, import }),
        3 => arb_import().prop_map(|import| Act::Exit { by_ref: None, import }),
        3 => ((any::<usize>(), any::<bool>()), arb_import())
            .prop_map(|(r, import)| Act::Exit { by_ref: Some(r), import }),
        2 => Just(Act::Location),
        1 => any::<usize>().prop_map(|target| Act::Edit { target }),
        1 => any::<usize>().prop_map(|target| Act::Delete { target }),
        2 => Just(Act::ConfusableExit),
        1 => any::<usize>().prop_map(|target| Act::Unmatch { target }),
    ]
}

fn tag(e: Event, import: Option<u8>) -> Event {
    match import {
        None => e,
        Some(k) => Event {
            payload: ImportTag {
                key: format!("parkai:{k}"),
                source: None,
                fee: None,
                at_ms: None,
            }
            .attach(e.payload.clone()),
            ..e
        },
    }
}

/// Events in "real" order: time mostly moves forward, with a step back now and then (a gate
/// clock behind, an edge queue replayed).
fn build(specs: Vec<(usize, i64, Act)>) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::new();
    let mut entries: Vec<(String, String)> = Vec::new();
    let mut minute = 0i64;
    for (i, (origin, step, act)) in specs.into_iter().enumerate() {
        minute += step;
        let (o, seq, at) = (ORIGINS[origin], i as u64 + 1, T0 + minute * MIN);
        let e = match act {
            Act::Entry { edge, import } => {
                let mut p = entry_payload(o, seq, PLATE, at);
                if let Some(n) = edge {
                    p.edge_event_id = Some(format!("edge-{n}"));
                }
                let edge = p.edge_event_id.clone().unwrap_or_default();
                entries.push((id(o, seq), edge));
                use parkmesh_parking::payload::Payload;
                tag(
                    ev(o, seq, at, EventKind::VehicleEntry, p.to_value()),
                    import,
                )
            }
            Act::Exit { by_ref, import } => {
                let r = by_ref.and_then(|(n, global)| {
                    let (g, edge) = entries.get(n % entries.len().max(1))?;
                    Some(if global { g.clone() } else { edge.clone() })
                });
                tag(exit(o, seq, PLATE, at, r), import)
            }
            Act::Location => location(o, seq, PLATE, at, "Zone A"),
            Act::ConfusableExit => confusable_exit(o, seq, PLATE, "30A1111I", at),
            Act::Unmatch { target } if !out.is_empty() => {
                let t = out[target % out.len()].id.to_string();
                unmatch(o, seq, at, &t)
            }
            Act::Edit { target } if !out.is_empty() => {
                let t = out[target % out.len()].id.to_string();
                edit(o, seq, at, &t, "30A99999")
            }
            Act::Delete { target } if !out.is_empty() => {
                let t = out[target % out.len()].id.to_string();
                delete(o, seq, at, &t)
            }
            _ => entry(o, seq, PLATE, at),
        };
        out.push(e);
    }
    out
}

/// What storage keeps of one plate.
struct Store {
    held: Vec<Event>,
    ids: BTreeSet<String>,
    sessions: BTreeMap<String, Session>,
    conflicts: Vec<Conflict>,
    point: SettledPoint,
    incremental: usize,
}

impl Store {
    fn new() -> Self {
        let (_, point) = fold_with_settled_point(&[]);
        Self {
            held: Vec::new(),
            ids: BTreeSet::new(),
            sessions: BTreeMap::new(),
            conflicts: Vec::new(),
            point,
            incremental: 0,
        }
    }

    fn full(&mut self) {
        let (fold, point) = fold_with_settled_point(&self.held);
        self.sessions = fold
            .sessions
            .into_iter()
            .map(|s| (s.id.clone(), s))
            .collect();
        self.conflicts = fold.conflicts;
        self.point = point;
    }

    fn add(&mut self, chunk: &[Event]) {
        let new: Vec<Event> = chunk
            .iter()
            .filter(|e| self.ids.insert(e.id.to_string()))
            .cloned()
            .collect();
        if new.is_empty() {
            return;
        }
        self.held.extend(new.iter().cloned());
        // What storage loads: the events after the settled point and the operator events aimed at
        // them or at the new ones.
        let aimed: BTreeSet<String> = self
            .point
            .suffix
            .iter()
            .cloned()
            .chain(new.iter().map(|e| e.id.to_string()))
            .collect();
        let suffix: BTreeSet<&String> = self.point.suffix.iter().collect();
        let loaded: Vec<Event> = self
            .held
            .iter()
            .filter(|e| {
                let id = e.id.to_string();
                (suffix.contains(&id) && !new.iter().any(|n| n.id == e.id))
                    || e.payload
                        .get("session")
                        .and_then(|v| v.as_str())
                        .is_some_and(|t| aimed.contains(t))
            })
            .cloned()
            .collect();
        let after: BTreeSet<&String> = self.point.sessions.iter().collect();
        let names_prefix = |r: &str| {
            self.sessions.values().any(|s| {
                !after.contains(&s.id)
                    && !s.is_anomaly
                    && s.entry.as_ref().is_some_and(|en| {
                        en.event_id == r || en.edge_event_id.as_deref() == Some(r)
                    })
            })
        };
        let new_refs: Vec<&Event> = new.iter().collect();
        match fold_after(&self.point, &loaded, &new_refs, names_prefix) {
            Some((fold, point)) => {
                self.sessions.retain(|id, _| !after.contains(id));
                self.conflicts.retain(|c| !after.contains(&c.winner));
                self.sessions
                    .extend(fold.sessions.into_iter().map(|s| (s.id.clone(), s)));
                self.conflicts.extend(fold.conflicts);
                self.point = point;
                self.incremental += 1;
            }
            None => self.full(),
        }
    }
}

fn sorted(conflicts: &[Conflict]) -> Vec<String> {
    let mut v: Vec<String> = conflicts.iter().map(|c| format!("{c:?}")).collect();
    v.sort();
    v
}

fn cases() -> u32 {
    std::env::var("INCREMENTAL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn incremental_fold_equals_full_fold(
        specs in prop::collection::vec(
            (0..ORIGINS.len(), prop_oneof![6 => 0i64..90, 1 => -600i64..0], arb_act()),
            1..40,
        ),
        swaps in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 0..6),
        dups in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
        chunks in prop::collection::vec(1usize..4, 1..40),
    ) {
        let events = build(specs);
        // Arrival order: real order with a few events swapped and a few repeated.
        let mut arrival = events.clone();
        for (a, b) in &swaps {
            let (a, b) = (a.index(arrival.len()), b.index(arrival.len()));
            arrival.swap(a, b);
        }
        for d in &dups {
            let at = d.index(arrival.len());
            arrival.insert(at, events[d.index(events.len())].clone());
        }
        let mut store = Store::new();
        let mut rest = arrival.as_slice();
        let mut sizes = chunks.iter().cycle();
        while !rest.is_empty() {
            let n = (*sizes.next().unwrap_or(&1)).min(rest.len());
            let (chunk, tail) = rest.split_at(n);
            store.add(chunk);
            rest = tail;
            let oracle = fold_plate(&store.held);
            let by_id: BTreeMap<String, Session> =
                oracle.sessions.iter().map(|s| (s.id.clone(), s.clone())).collect();
            prop_assert_eq!(&store.sessions, &by_id);
            prop_assert_eq!(sorted(&store.conflicts), sorted(&oracle.conflicts));
        }
    }
}

#[test]
fn a_plate_with_closed_sessions_folds_from_its_last_exit() {
    let mut events = Vec::new();
    for day in 0..3u64 {
        let at = T0 + day as i64 * 24 * 60 * MIN;
        events.push(entry("a", 2 * day + 1, PLATE, at));
        events.push(exit(
            "a",
            2 * day + 2,
            PLATE,
            at + 60 * MIN,
            Some(format!("edge-a-{}", 2 * day + 1)),
        ));
    }
    let (full, point) = fold_with_settled_point(&events);
    assert_eq!(full.sessions.len(), 3);
    assert!(point.suffix.is_empty() && point.sessions.is_empty());
    assert_eq!(point.after, SortKey::of(&events[5]));

    // The next visit folds alone.
    let visit = entry("a", 7, PLATE, T0 + 4 * 24 * 60 * MIN);
    let (fold, point) =
        fold_after(&point, &[], &[&visit], |_| false).expect("a later entry is covered");
    assert_eq!(fold.sessions.len(), 1);
    assert_eq!(point.suffix, vec![visit.id.to_string()]);
    assert_eq!(point.sessions, vec![visit.id.to_string()]);
}

#[test]
fn late_operator_imported_and_backward_events_fall_back_to_the_full_fold() {
    let events = vec![
        entry("a", 1, PLATE, T0),
        exit("a", 2, PLATE, T0 + 60 * MIN, None),
    ];
    let (_, point) = fold_with_settled_point(&events);
    let late = entry("b", 3, PLATE, T0 + 30 * MIN);
    assert!(fold_after(&point, &[], &[&late], |_| false).is_none());
    let deletion = delete("b", 3, T0 + 90 * MIN, &id("a", 1));
    assert!(fold_after(&point, &[], &[&deletion], |_| false).is_none());
    let imported = tag(entry("b", 3, PLATE, T0 + 90 * MIN), Some(1));
    assert!(fold_after(&point, &[], &[&imported], |_| false).is_none());
    let backward = exit("b", 3, PLATE, T0 + 90 * MIN, Some("edge-a-1".into()));
    assert!(fold_after(&point, &[], &[&backward], |r| r == "edge-a-1").is_none());
}
