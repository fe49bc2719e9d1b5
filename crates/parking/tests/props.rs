//! Properties of the fold and the projection: any permutation and duplication of an event set
//! yields the same output (conflicts included); no plate ever has two open sessions; no entry or
//! exit is silently dropped; a well-formed visit sequence folds to closed sessions whatever the
//! arrival order.

mod common;

use std::collections::BTreeSet;

use common::*;
use parkmesh_parking::fold::{SessionStatus, fold_plate};
use parkmesh_parking::{Projection, project};
use parkmesh_protocol::{Event, EventKind};
use proptest::prelude::*;

const PLATES: [&str; 3] = ["30A11111", "30A22222", "51G33333"];
const ORIGINS: [&str; 3] = ["a", "b", "c"];
/// How an exit camera might misread each plate (confusable characters only).
const READ_AS: [&str; 3] = ["30A1111I", "30A2222Z", "5IG33333"];

/// One generated action; targets index earlier actions (modulo how many exist).
#[derive(Debug, Clone)]
enum Act {
    Entry,
    Exit {
        by_ref: Option<(usize, bool)>,
    },
    Location,
    Edit {
        target: usize,
        plate: usize,
    },
    Delete {
        target: usize,
    },
    /// An exit read as `READ_AS[plate]` and matched to the plate's open session.
    ConfusableExit,
    Unmatch {
        target: usize,
    },
}

fn arb_act() -> impl Strategy<Value = Act> {
    prop_oneof![
        4 => Just(Act::Entry),
        3 => Just(Act::Exit { by_ref: None }),
        2 => (any::<usize>(), any::<bool>()).prop_map(|r| Act::Exit { by_ref: Some(r) }),
        2 => Just(Act::Location),
        1 => (any::<usize>(), 0..PLATES.len()).prop_map(|(target, plate)| Act::Edit { target, plate }),
        1 => any::<usize>().prop_map(|target| Act::Delete { target }),
        2 => Just(Act::ConfusableExit),
        1 => any::<usize>().prop_map(|target| Act::Unmatch { target }),
    ]
}

fn build(specs: Vec<(usize, usize, i64, Act)>) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::new();
    let mut entries: Vec<(String, String)> = Vec::new(); // (global id, edge id)
    for (i, (origin, plate, minute, act)) in specs.into_iter().enumerate() {
        let (o, p, seq, at) = (
            ORIGINS[origin],
            PLATES[plate],
            i as u64 + 1,
            T0 + minute * MIN,
        );
        let e = match act {
            Act::Entry => {
                entries.push((id(o, seq), format!("edge-{o}-{seq}")));
                entry(o, seq, p, at)
            }
            Act::Exit { by_ref } => {
                let r = by_ref.and_then(|(n, global)| {
                    let (g, edge) = entries.get(n % entries.len().max(1))?;
                    Some(if global { g.clone() } else { edge.clone() })
                });
                exit(o, seq, p, at, r)
            }
            Act::Location => location(o, seq, p, at, "Zone A"),
            Act::ConfusableExit => confusable_exit(o, seq, p, READ_AS[plate], at),
            Act::Unmatch { target } if !out.is_empty() => {
                let t = out[target % out.len()].id.to_string();
                unmatch(o, seq, at, &t)
            }
            Act::Edit { target, plate } if !out.is_empty() => {
                let t = out[target % out.len()].id.to_string();
                edit(o, seq, at, &t, PLATES[plate])
            }
            Act::Delete { target } if !out.is_empty() => {
                let t = out[target % out.len()].id.to_string();
                delete(o, seq, at, &t)
            }
            _ => entry(o, seq, p, at),
        };
        out.push(e);
    }
    out
}

fn arb_events() -> impl Strategy<Value = Vec<Event>> {
    let one = (0..ORIGINS.len(), 0..PLATES.len(), 0i64..600, arb_act());
    prop::collection::vec(one, 1..32).prop_map(build)
}

fn mix(events: &[Event], dups: &[prop::sample::Index], seed: u64) -> Vec<Event> {
    let mut mixed = events.to_vec();
    for d in dups {
        mixed.push(events[d.index(events.len())].clone());
    }
    shuffle(&mut mixed, seed);
    mixed
}

fn check_invariants(events: &[Event], p: &Projection) -> Result<(), TestCaseError> {
    let mut session_sides = BTreeSet::new();
    let mut losers = BTreeSet::new();
    for (plate, f) in &p.plates {
        let open = f.sessions.iter().filter(|s| s.is_open()).count();
        prop_assert!(open <= 1, "plate {} has {} open sessions", plate, open);
        for s in &f.sessions {
            session_sides.extend(s.entry.iter().map(|x| x.event_id.clone()));
            session_sides.extend(s.exit.iter().map(|x| x.event_id.clone()));
        }
        for c in &f.conflicts {
            losers.extend(c.losers.iter().cloned());
        }
    }
    for e in events {
        if matches!(e.kind, EventKind::VehicleEntry | EventKind::VehicleExit) {
            let id = e.id.to_string();
            prop_assert!(
                session_sides.contains(&id) || losers.contains(&id),
                "event {} was dropped",
                id
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_permutation_and_duplication_gives_the_same_projection(
        events in arb_events(),
        seed in any::<u64>(),
        dups in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let reference = project(&events);
        check_invariants(&events, &reference)?;
        prop_assert_eq!(project(&mix(&events, &dups, seed)), reference);
    }

    #[test]
    fn any_permutation_and_duplication_gives_the_same_plate_fold(
        events in arb_events(),
        seed in any::<u64>(),
        dups in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        // One raw plate plus every operator event (those aimed elsewhere are ignored).
        let plate: Vec<Event> = events
            .iter()
            .filter(|e| {
                e.payload.get("plate_id").and_then(|v| v.as_str()) == Some(PLATES[0])
                    || matches!(
                        e.kind,
                        EventKind::HistoryEdit | EventKind::HistoryDelete | EventKind::ExitUnmatch
                    )
            })
            .cloned()
            .collect();
        prop_assume!(!plate.is_empty());
        let reference = fold_plate(&plate);
        prop_assert!(reference.sessions.iter().filter(|s| s.is_open()).count() <= 1);
        prop_assert_eq!(fold_plate(&mix(&plate, &dups, seed)), reference);
    }

    #[test]
    fn visits_fold_to_closed_sessions_in_any_arrival_order(
        visits in prop::collection::vec((0..PLATES.len(), 0..ORIGINS.len(), 0..ORIGINS.len(), 1i64..300, 1i64..300), 1..16),
        with_ref in any::<bool>(),
        seed in any::<u64>(),
    ) {
        // Each plate enters and leaves in turn, possibly at different centrals.
        let mut clock = [0i64; 3];
        let mut events = Vec::new();
        for (i, (plate, o_in, o_out, gap, stay)) in visits.into_iter().enumerate() {
            let seq = 2 * i as u64 + 1;
            let t_in = T0 + (clock[plate] + gap) * MIN;
            let t_out = t_in + stay * MIN;
            clock[plate] = (t_out - T0) / MIN;
            let (p, oi, oo) = (PLATES[plate], ORIGINS[o_in], ORIGINS[o_out]);
            events.push(entry(oi, seq, p, t_in));
            let r = with_ref.then(|| format!("edge-{oi}-{seq}"));
            events.push(exit(oo, seq + 1, p, t_out, r));
        }
        let n = events.len() / 2;
        shuffle(&mut events, seed);
        let p = project(&events);
        let sessions: Vec<_> = p.plates.values().flat_map(|f| &f.sessions).collect();
        prop_assert_eq!(sessions.len(), n);
        for s in sessions {
            prop_assert_eq!(s.status, SessionStatus::Out);
            prop_assert!(!s.exception && !s.is_anomaly);
        }
        prop_assert!(p.plates.values().all(|f| f.conflicts.is_empty()));
    }
}
