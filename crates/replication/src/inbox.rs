//! Receiver side: deduplication on `(stream, seq)`, gap detection and the single outstanding
//! `Apply` batch. Only events that extend a stream's contiguous prefix are released to the
//! driver; later ones wait in a bounded buffer until the gap is filled, and are never skipped.

use std::collections::BTreeMap;

use parkmesh_protocol::{Event, StreamId, VersionVector};

/// What happened to a received batch.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Received {
    /// Events already held, being applied or buffered.
    pub(crate) duplicates: usize,
    /// Events buffered behind a gap.
    pub(crate) buffered: usize,
    /// Events dropped because the buffer is full (the sender will resend them).
    pub(crate) dropped: usize,
    /// Events of this node's own stream, which only it may mint (ignored).
    pub(crate) forged: usize,
}

/// Received events on their way to the log.
#[derive(Debug, Default)]
pub(crate) struct Inbox {
    /// Per stream, the highest seq released to the driver (ready or in the outstanding batch).
    released: VersionVector,
    /// Contiguous events waiting for the outstanding batch to finish.
    ready: Vec<Event>,
    /// Per stream, the highest seq of the outstanding batch (`None`: no batch outstanding).
    in_apply: Option<BTreeMap<StreamId, u64>>,
    /// Events behind a gap, per stream by seq.
    gapped: BTreeMap<StreamId, BTreeMap<u64, Event>>,
    n_gapped: usize,
}

impl Inbox {
    /// The highest seq per stream the node holds or is about to hold.
    pub(crate) fn head(&self, local: &VersionVector, stream: &StreamId) -> u64 {
        local.get(stream).max(self.released.get(stream))
    }

    /// Events held in memory (ready plus gapped).
    pub(crate) fn len(&self) -> usize {
        self.ready.len() + self.n_gapped
    }

    /// Whether some stream has events waiting behind a gap.
    pub(crate) fn has_gap(&self) -> bool {
        self.n_gapped > 0
    }

    /// Sorts received events into duplicates, ready (contiguous) and gapped ones.
    pub(crate) fn receive(
        &mut self,
        local: &VersionVector,
        own: &StreamId,
        events: Vec<Event>,
        max_buffered: usize,
    ) -> Received {
        let mut r = Received::default();
        for e in events {
            let stream = e.id.stream();
            if stream == *own {
                r.forged += 1;
                continue;
            }
            let head = self.head(local, &stream);
            let seq = e.id.seq;
            if seq <= head {
                r.duplicates += 1;
            } else if seq == head + 1 {
                self.released.advance(&stream, seq);
                self.ready.push(e);
                self.drain_gapped(&stream);
            } else if self
                .gapped
                .get(&stream)
                .is_some_and(|m| m.contains_key(&seq))
            {
                r.duplicates += 1;
            } else if self.len() >= max_buffered {
                r.dropped += 1;
            } else {
                self.gapped.entry(stream).or_default().insert(seq, e);
                self.n_gapped += 1;
                r.buffered += 1;
            }
        }
        r
    }

    /// Moves gapped events of `stream` that now follow its head into `ready`.
    fn drain_gapped(&mut self, stream: &StreamId) {
        let Some(map) = self.gapped.get_mut(stream) else {
            return;
        };
        let mut next = self.released.get(stream) + 1;
        while let Some(e) = map.remove(&next) {
            self.n_gapped -= 1;
            self.ready.push(e);
            self.released.advance(stream, next);
            next += 1;
        }
        if map.is_empty() {
            self.gapped.remove(stream);
        }
    }

    /// The next batch to apply, if none is outstanding and some events are ready.
    pub(crate) fn take_batch(&mut self) -> Option<Vec<Event>> {
        if self.in_apply.is_some() || self.ready.is_empty() {
            return None;
        }
        let batch = std::mem::take(&mut self.ready);
        let mut heads = BTreeMap::new();
        for e in &batch {
            heads.insert(e.id.stream(), e.id.seq);
        }
        self.in_apply = Some(heads);
        Some(batch)
    }

    /// Whether a batch is outstanding.
    pub(crate) fn applying(&self) -> bool {
        self.in_apply.is_some()
    }

    /// The outstanding batch was persisted: its per-stream heads, to advance the local vector.
    pub(crate) fn applied(&mut self) -> BTreeMap<StreamId, u64> {
        self.in_apply.take().unwrap_or_default()
    }

    /// The outstanding batch was not persisted: forget it and everything released after it;
    /// senders resend (gapped events stay, they are still beyond the head).
    pub(crate) fn apply_failed(&mut self, local: &VersionVector) {
        self.in_apply = None;
        self.ready.clear();
        self.released = local.clone();
        // Gapped events at or below the rolled-back head cannot exist (they were above the old
        // head, which is ≥ the local one), so the buffer stays consistent.
    }
}

#[cfg(test)]
mod tests {
    use parkmesh_protocol::{CentralId, EventId, EventKind, Hlc};

    use crate::inbox::*;

    fn ev(o: &str, seq: u64) -> Event {
        Event {
            id: EventId {
                origin: CentralId::new(o).unwrap(),
                incarnation: 1,
                seq,
            },
            hlc: Hlc::default(),
            kind: EventKind::VehicleEntry,
            payload: serde_json::Value::Null,
            schema: 1,
        }
    }

    fn st(o: &str) -> StreamId {
        StreamId {
            origin: CentralId::new(o).unwrap(),
            incarnation: 1,
        }
    }

    fn seqs(batch: &[Event]) -> Vec<u64> {
        batch.iter().map(|e| e.id.seq).collect()
    }

    #[test]
    fn releases_only_contiguous_events_and_fills_gaps_later() {
        let mut inbox = Inbox::default();
        let local = VersionVector::default();
        let r = inbox.receive(
            &local,
            &st("me"),
            vec![ev("a", 1), ev("a", 3), ev("a", 4)],
            100,
        );
        assert_eq!(r.buffered, 2);
        assert!(inbox.has_gap());
        assert_eq!(seqs(&inbox.take_batch().unwrap()), vec![1]);
        // A second batch waits for the first to finish.
        inbox.receive(&local, &st("me"), vec![ev("a", 2)], 100);
        assert!(!inbox.has_gap());
        assert!(inbox.take_batch().is_none());
        let heads = inbox.applied();
        assert_eq!(heads.get(&st("a")), Some(&1));
        assert_eq!(seqs(&inbox.take_batch().unwrap()), vec![2, 3, 4]);
    }

    #[test]
    fn deduplicates_against_log_release_and_buffer() {
        let mut inbox = Inbox::default();
        let mut local = VersionVector::default();
        local.advance(&st("a"), 2);
        let r = inbox.receive(
            &local,
            &st("me"),
            vec![
                ev("a", 1),
                ev("a", 2),
                ev("a", 3),
                ev("a", 3),
                ev("a", 5),
                ev("a", 5),
            ],
            100,
        );
        assert_eq!(r.duplicates, 4);
        assert_eq!(r.buffered, 1);
        assert_eq!(seqs(&inbox.take_batch().unwrap()), vec![3]);
    }

    #[test]
    fn own_stream_is_never_accepted_from_peers() {
        let mut inbox = Inbox::default();
        let r = inbox.receive(&VersionVector::default(), &st("me"), vec![ev("me", 1)], 100);
        assert_eq!(r.forged, 1);
        assert!(inbox.take_batch().is_none());
    }

    #[test]
    fn buffer_is_bounded_and_failure_rolls_back() {
        let mut inbox = Inbox::default();
        let local = VersionVector::default();
        let r = inbox.receive(
            &local,
            &st("me"),
            vec![ev("a", 1), ev("a", 5), ev("a", 6), ev("a", 7)],
            2,
        );
        assert_eq!((r.buffered, r.dropped), (1, 2));
        assert!(inbox.take_batch().is_some());
        inbox.apply_failed(&local);
        assert_eq!(inbox.head(&local, &st("a")), 0);
        inbox.receive(&local, &st("me"), vec![ev("a", 1)], 10);
        assert_eq!(seqs(&inbox.take_batch().unwrap()), vec![1]);
    }
}
