//! Planners as plain functions on data: what a peer lacks, which log reads to issue, lag figures.

use std::collections::BTreeMap;

use parkmesh_protocol::{StreamId, VersionVector};

/// One log read to issue: `limit` events of `stream` from `from_seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReadPlan {
    pub(crate) stream: StreamId,
    pub(crate) from_seq: u64,
    pub(crate) limit: u64,
}

/// For a peer, the streams where `target` (what we may send) is ahead of `base` (what the peer
/// has or was already sent), as `(stream, first missing seq, last sendable seq)`, in stream order.
pub(crate) fn missing(target: &VersionVector, base: &VersionVector) -> Vec<(StreamId, u64, u64)> {
    target
        .0
        .iter()
        .filter_map(|(s, &t)| {
            let b = base.get(s);
            (t > b).then(|| (s.clone(), b + 1, t))
        })
        .collect()
}

/// Reads to issue: oldest first within each stream, one read per stream at most, skipping
/// streams already being read, within `reads_left` reads and `budget` events, pages of `page`.
pub(crate) fn plan_reads(
    missing: &[(StreamId, u64, u64)],
    busy: impl Fn(&StreamId) -> bool,
    mut reads_left: usize,
    mut budget: u64,
    page: u64,
) -> Vec<ReadPlan> {
    let mut plans = Vec::new();
    for (stream, from, to) in missing {
        if reads_left == 0 || budget == 0 {
            break;
        }
        if busy(stream) {
            continue;
        }
        let limit = (to - from + 1).min(page).min(budget);
        plans.push(ReadPlan {
            stream: stream.clone(),
            from_seq: *from,
            limit,
        });
        reads_left -= 1;
        budget -= limit;
    }
    plans
}

/// Events sent but not yet acknowledged: per stream `sent − known`, summed.
pub(crate) fn unacked(sent: &VersionVector, known: &VersionVector) -> u64 {
    sent.0
        .iter()
        .map(|(s, &n)| n.saturating_sub(known.get(s)))
        .sum()
}

/// Per stream, how many events `local` holds that `peer` lacks (only non-zero entries).
pub fn lag(local: &VersionVector, peer: &VersionVector) -> BTreeMap<StreamId, u64> {
    local
        .0
        .iter()
        .filter_map(|(s, &n)| {
            let d = n.saturating_sub(peer.get(s));
            (d > 0).then(|| (s.clone(), d))
        })
        .collect()
}

/// Pointwise maximum of two vectors.
pub(crate) fn join(a: &VersionVector, b: &VersionVector) -> VersionVector {
    let mut r = a.clone();
    r.merge(b);
    r
}

#[cfg(test)]
mod tests {
    use parkmesh_protocol::CentralId;

    use crate::plan::*;

    fn s(o: &str) -> StreamId {
        StreamId {
            origin: CentralId::new(o).unwrap(),
            incarnation: 1,
        }
    }

    fn vv(entries: &[(&str, u64)]) -> VersionVector {
        VersionVector(entries.iter().map(|(o, n)| (s(o), *n)).collect())
    }

    /// (local vector, peer vector, expected missing ranges).
    type Case<'a> = (
        &'a [(&'a str, u64)],
        &'a [(&'a str, u64)],
        &'a [(&'a str, u64, u64)],
    );

    #[test]
    fn missing_table() {
        let cases: &[Case<'_>] = &[
            (&[], &[], &[]),
            (&[("a", 5)], &[], &[("a", 1, 5)]),
            (&[("a", 5)], &[("a", 5)], &[]),
            (&[("a", 5)], &[("a", 9)], &[]),
            (
                &[("a", 5), ("b", 2)],
                &[("a", 3), ("c", 7)],
                &[("a", 4, 5), ("b", 1, 2)],
            ),
        ];
        for (target, base, want) in cases {
            let got = missing(&vv(target), &vv(base));
            let want: Vec<_> = want.iter().map(|(o, f, t)| (s(o), *f, *t)).collect();
            assert_eq!(got, want, "target {target:?} base {base:?}");
        }
    }

    #[test]
    fn plan_reads_respects_pages_budget_reads_and_busy_streams() {
        let m = vec![(s("a"), 1, 1000), (s("b"), 4, 5), (s("c"), 1, 3)];
        let plans = plan_reads(&m, |_| false, 8, 10_000, 256);
        assert_eq!(
            plans.iter().map(|p| p.limit).collect::<Vec<_>>(),
            vec![256, 2, 3]
        );
        let plans = plan_reads(&m, |st| *st == s("a"), 1, 10_000, 256);
        assert_eq!(
            plans,
            vec![ReadPlan {
                stream: s("b"),
                from_seq: 4,
                limit: 2
            }]
        );
        let plans = plan_reads(&m, |_| false, 8, 100, 256);
        assert_eq!(
            plans,
            vec![ReadPlan {
                stream: s("a"),
                from_seq: 1,
                limit: 100
            }]
        );
        assert!(plan_reads(&m, |_| false, 0, 100, 256).is_empty());
    }

    #[test]
    fn unacked_and_lag() {
        assert_eq!(
            unacked(&vv(&[("a", 9), ("b", 2)]), &vv(&[("a", 4), ("b", 5)])),
            5
        );
        let l = lag(&vv(&[("a", 9), ("b", 2)]), &vv(&[("a", 4), ("b", 5)]));
        assert_eq!(l, [(s("a"), 5)].into_iter().collect());
    }
}
