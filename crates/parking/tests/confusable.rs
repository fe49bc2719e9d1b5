//! Exits matched to a confusable plate's session: the match closes the real session with the fee
//! from its entry and keeps both plates; an operator's `exit.unmatch` reopens the session and
//! files the exit as an exception under the plate it was read as, in any arrival order.

mod common;

use common::*;
use parkmesh_parking::fold::SessionStatus;
use parkmesh_parking::project;

const REAL: &str = "51G12345";
const READ: &str = "51G1234S";

#[test]
fn a_confusable_exit_closes_the_real_session_and_keeps_both_plates() {
    let p = project(&[
        entry("a", 1, REAL, T0),
        confusable_exit("b", 1, REAL, READ, T0 + 91 * MIN),
    ]);
    assert_eq!(p.plates.len(), 1, "{:?}", p.plates.keys());
    let s = &p.plates[REAL].sessions[0];
    assert_eq!(
        (s.status, s.fee, s.exception),
        (SessionStatus::Out, 50_000, false)
    );
    assert_eq!(s.plate_id, REAL);
    let exit = s.exit.as_ref().unwrap();
    assert_eq!(exit.matched.exit_plate.as_deref(), Some(READ));
    assert_eq!(exit.matched.plate_match.as_deref(), Some("confusable"));
}

#[test]
fn an_undone_match_reopens_the_session_and_makes_the_exit_an_exception() {
    let events = vec![
        entry("a", 1, REAL, T0),
        confusable_exit("b", 1, REAL, READ, T0 + 91 * MIN),
        unmatch("a", 2, T0 + 100 * MIN, &id("b", 1)),
    ];
    for seed in 0..6 {
        let mut mixed = events.clone();
        shuffle(&mut mixed, seed);
        let p = project(&mixed);
        let real = &p.plates[REAL].sessions;
        assert_eq!(real.len(), 1);
        assert!(real[0].is_open() && real[0].exit.is_none(), "{real:?}");
        let read = &p.plates[READ].sessions;
        assert_eq!(read.len(), 1, "{:?}", p.plates.keys());
        assert!(read[0].exception);
        assert_eq!(
            (read[0].id.as_str(), read[0].plate_id.as_str()),
            (id("b", 1).as_str(), READ)
        );
        let side = read[0].exit.as_ref().unwrap();
        assert_eq!(side.matched.match_candidates, vec![REAL.to_owned()]);
        assert_eq!(side.matched.plate_match, None);
    }
}

#[test]
fn an_unmatch_of_an_exact_exit_changes_nothing() {
    let base = vec![entry("a", 1, REAL, T0), exit("a", 2, REAL, T0 + MIN, None)];
    let mut with = base.clone();
    with.push(unmatch("a", 3, T0 + 2 * MIN, &id("a", 2)));
    assert_eq!(project(&with).plates, project(&base).plates);
}
