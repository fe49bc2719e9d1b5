//! Handshake and session tests on two engines wired back to back, asserting on recorded outputs.

use parkmesh_protocol::{
    CentralId, CloseCode, Event, EventId, EventKind, Frame, Hello, Hlc, Nonce, StreamId,
    VersionVector,
};
use parkmesh_replication::{ConnId, Direction, Engine, EngineConfig, Output};

fn id(s: &str) -> CentralId {
    CentralId::new(s).unwrap()
}

fn cfg(me: &str, secret: &str, peers: &[&str]) -> EngineConfig {
    EngineConfig::new(id(me), 1, secret.as_bytes(), peers.iter().map(|p| id(p)))
}

fn drain(e: &mut Engine) -> Vec<Output> {
    std::iter::from_fn(|| e.poll_output()).collect()
}

/// Shuttles frames between `a` and `b` on connection 1 until both are quiet; answers log reads
/// from `logs` and applies batches. Returns every output seen, per side.
fn drive(a: &mut Engine, b: &mut Engine, logs: [&mut Vec<Event>; 2]) -> [Vec<Output>; 2] {
    let conn = ConnId(1);
    let mut seen: [Vec<Output>; 2] = [Vec::new(), Vec::new()];
    let [log_a, log_b] = logs;
    for _ in 0..1_000 {
        let (oa, ob) = (drain(a), drain(b));
        if oa.is_empty() && ob.is_empty() {
            return seen;
        }
        for (from, outs) in [(0, oa), (1, ob)] {
            for o in outs {
                let (me, other, log) = if from == 0 {
                    (&mut *a, &mut *b, &mut *log_a)
                } else {
                    (&mut *b, &mut *a, &mut *log_b)
                };
                match &o {
                    Output::Send { frame, .. } => other.handle_text(conn, &frame.encode(), 0),
                    Output::ReadLog {
                        read,
                        stream,
                        from_seq,
                        limit,
                        ..
                    } => {
                        let page: Vec<Event> = log
                            .iter()
                            .filter(|e| e.id.stream() == *stream && e.id.seq >= *from_seq)
                            .take(*limit)
                            .cloned()
                            .collect();
                        me.handle_log_read(*read, page, 0);
                    }
                    Output::Apply { events } => {
                        log.extend(events.iter().cloned());
                        me.handle_applied(0);
                    }
                    _ => {}
                }
                seen[from].push(o);
            }
        }
    }
    panic!("pair did not go quiet");
}

fn connect(a: &mut Engine, b: &mut Engine) {
    a.handle_connect(
        ConnId(1),
        Direction::Outbound {
            peer: b.config().node_id.clone(),
        },
        Nonce([1; 16]),
        0,
    );
    b.handle_connect(ConnId(1), Direction::Inbound, Nonce([2; 16]), 0);
}

fn close_code(outs: &[Output]) -> Option<CloseCode> {
    outs.iter().find_map(|o| match o {
        Output::Close { code, .. } => Some(code.clone()),
        _ => None,
    })
}

fn events(origin: &str, n: u64) -> Vec<Event> {
    (1..=n)
        .map(|seq| Event {
            id: EventId {
                origin: id(origin),
                incarnation: 1,
                seq,
            },
            hlc: Hlc {
                wall_ms: seq,
                counter: 0,
            },
            kind: EventKind::VehicleEntry,
            payload: serde_json::json!({ "plate_id": format!("P{seq}") }),
            schema: 1,
        })
        .collect()
}

#[test]
fn matching_secret_connects_both_sides() {
    let (mut a, mut b) = (
        Engine::new(cfg("a", "s", &["b"]), VersionVector::default()),
        Engine::new(cfg("b", "s", &["a"]), VersionVector::default()),
    );
    connect(&mut a, &mut b);
    let [oa, ob] = drive(&mut a, &mut b, [&mut Vec::new(), &mut Vec::new()]);
    assert!(
        oa.iter()
            .any(|o| matches!(o, Output::PeerUp { peer, .. } if peer.as_str() == "b"))
    );
    assert!(
        ob.iter()
            .any(|o| matches!(o, Output::PeerUp { peer, .. } if peer.as_str() == "a"))
    );
    assert_eq!(close_code(&oa), None);
}

#[test]
fn wrong_secret_is_refused_with_bad_auth() {
    let (mut a, mut b) = (
        Engine::new(cfg("a", "s1", &["b"]), VersionVector::default()),
        Engine::new(cfg("b", "s2", &["a"]), VersionVector::default()),
    );
    connect(&mut a, &mut b);
    let [oa, ob] = drive(&mut a, &mut b, [&mut Vec::new(), &mut Vec::new()]);
    assert_eq!(close_code(&oa), Some(CloseCode::BadAuth));
    assert!(matches!(close_code(&ob), Some(CloseCode::BadAuth)));
    assert!(
        !oa.iter()
            .chain(&ob)
            .any(|o| matches!(o, Output::PeerUp { .. }))
    );
}

#[test]
fn a_new_secret_closes_every_connection_and_only_the_new_secret_reconnects() {
    let (mut a, mut b) = (
        Engine::new(cfg("a", "old", &["b"]), VersionVector::default()),
        Engine::new(cfg("b", "old", &["a"]), VersionVector::default()),
    );
    connect(&mut a, &mut b);
    drive(&mut a, &mut b, [&mut Vec::new(), &mut Vec::new()]);
    // The same secret again changes nothing.
    a.set_secret(b"old".to_vec(), 1);
    assert_eq!(close_code(&drain(&mut a)), None);
    // A new secret closes the authenticated connection.
    a.set_secret(b"new".to_vec(), 1);
    let outs = drain(&mut a);
    assert_eq!(close_code(&outs), Some(CloseCode::BadAuth));
    a.handle_disconnect(ConnId(1), 1);
    b.handle_disconnect(ConnId(1), 1);
    // B still has the old secret: refused.
    connect(&mut a, &mut b);
    let [oa, _] = drive(&mut a, &mut b, [&mut Vec::new(), &mut Vec::new()]);
    assert_eq!(close_code(&oa), Some(CloseCode::BadAuth));
    a.handle_disconnect(ConnId(1), 2);
    b.handle_disconnect(ConnId(1), 2);
    // Once B has it too, they connect again.
    b.set_secret(b"new".to_vec(), 2);
    connect(&mut a, &mut b);
    let [oa, _] = drive(&mut a, &mut b, [&mut Vec::new(), &mut Vec::new()]);
    assert_eq!(close_code(&oa), None);
    assert!(
        oa.iter()
            .any(|o| matches!(o, Output::PeerUp { peer, .. } if peer.as_str() == "b"))
    );
}

#[test]
fn unknown_peer_and_wrong_dialled_id_are_refused() {
    let (mut a, mut b) = (
        Engine::new(cfg("a", "s", &["b"]), VersionVector::default()),
        Engine::new(cfg("b", "s", &["c"]), VersionVector::default()),
    );
    connect(&mut a, &mut b);
    let [_, ob] = drive(&mut a, &mut b, [&mut Vec::new(), &mut Vec::new()]);
    assert_eq!(close_code(&ob), Some(CloseCode::UnknownPeer));

    let (mut a, mut b) = (
        Engine::new(cfg("a", "s", &["b", "c"]), VersionVector::default()),
        Engine::new(cfg("b", "s", &["a"]), VersionVector::default()),
    );
    a.handle_connect(
        ConnId(1),
        Direction::Outbound { peer: id("c") },
        Nonce([1; 16]),
        0,
    );
    b.handle_connect(ConnId(1), Direction::Inbound, Nonce([2; 16]), 0);
    let [oa, _] = drive(&mut a, &mut b, [&mut Vec::new(), &mut Vec::new()]);
    assert_eq!(close_code(&oa), Some(CloseCode::UnknownPeer));
}

#[test]
fn id_clash_and_version_mismatch_are_refused() {
    let (mut a, mut b) = (
        Engine::new(cfg("a", "s", &["a"]), VersionVector::default()),
        Engine::new(cfg("a", "s", &["a"]), VersionVector::default()),
    );
    connect(&mut a, &mut b);
    let [oa, _] = drive(&mut a, &mut b, [&mut Vec::new(), &mut Vec::new()]);
    assert_eq!(close_code(&oa), Some(CloseCode::IdClash));

    let mut config = cfg("a", "s", &["b"]);
    config.software_version = Some("0.1.0+aaaa".into());
    let mut a = Engine::new(config, VersionVector::default());
    a.handle_connect(ConnId(9), Direction::Inbound, Nonce([1; 16]), 0);
    let hello = Hello {
        node_id: id("b"),
        incarnation: 1,
        proto_min: 9,
        proto_max: 9,
        caps: vec![],
        nonce: Nonce([3; 16]),
        version: Some("7.0.0+bbbb".into()),
    };
    a.handle_text(ConnId(9), &Frame::Hello(hello).encode_version(9), 0);
    let outs = drain(&mut a);
    assert_eq!(close_code(&outs), Some(CloseCode::NoCommonVersion));
    // The refusal names both software versions, so the operator knows which one to upgrade.
    let reason = outs
        .iter()
        .find_map(|o| match o {
            Output::Close { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .unwrap();
    assert!(
        reason.contains("7.0.0+bbbb") && reason.contains("0.1.0+aaaa"),
        "{reason}"
    );
}

#[test]
fn garbage_and_out_of_order_frames_close_with_protocol_error() {
    let mut a = Engine::new(cfg("a", "s", &["b"]), VersionVector::default());
    a.handle_connect(ConnId(1), Direction::Inbound, Nonce([1; 16]), 0);
    a.handle_text(ConnId(1), "{not json", 0);
    assert_eq!(close_code(&drain(&mut a)), Some(CloseCode::ProtocolError));

    a.handle_connect(ConnId(2), Direction::Inbound, Nonce([1; 16]), 0);
    a.handle_text(
        ConnId(2),
        &Frame::Live {
            events: events("b", 1),
        }
        .encode(),
        0,
    );
    assert_eq!(close_code(&drain(&mut a)), Some(CloseCode::ProtocolError));
}

#[test]
fn handshake_times_out() {
    let mut a = Engine::new(cfg("a", "s", &["b"]), VersionVector::default());
    a.handle_connect(ConnId(1), Direction::Inbound, Nonce([1; 16]), 0);
    drain(&mut a);
    let t = a.poll_timeout().unwrap();
    a.handle_timeout(t);
    assert_eq!(close_code(&drain(&mut a)), Some(CloseCode::Timeout));
}

#[test]
fn catch_up_streams_every_stream_in_bounded_pages_oldest_first() {
    let mut log_a = events("a", 40);
    log_a.extend(events("z", 25)); // A third origin's events, relayed by A.
    let mut va = VersionVector::default();
    va.advance(
        &StreamId {
            origin: id("a"),
            incarnation: 1,
        },
        40,
    );
    va.advance(
        &StreamId {
            origin: id("z"),
            incarnation: 1,
        },
        25,
    );
    let mut ca = cfg("a", "s", &["b"]);
    ca.page_size = 7;
    ca.relay_delay_ms = 0;
    let (mut a, mut b) = (
        Engine::new(ca, va.clone()),
        Engine::new(cfg("b", "s", &["a"]), VersionVector::default()),
    );
    connect(&mut a, &mut b);
    let mut log_b = Vec::new();
    let [oa, _] = drive(&mut a, &mut b, [&mut log_a, &mut log_b]);
    assert_eq!(b.local_vector(), &va);
    assert_eq!(log_b.len(), 65, "every event applied exactly once");
    let mut last: std::collections::BTreeMap<StreamId, u64> = Default::default();
    for o in &oa {
        if let Output::Send {
            frame: Frame::Page { events, .. },
            ..
        } = o
        {
            assert!(events.len() <= 7, "page of {} events", events.len());
            for e in events {
                let prev = last.insert(e.id.stream(), e.id.seq).unwrap_or(0);
                assert_eq!(e.id.seq, prev + 1, "pages go oldest first, contiguous");
            }
        }
    }
    assert_eq!(a.status().peers[0].lag_total, 0);
}

#[test]
fn local_commits_are_pushed_live_and_acked() {
    let (mut a, mut b) = (
        Engine::new(cfg("a", "s", &["b"]), VersionVector::default()),
        Engine::new(cfg("b", "s", &["a"]), VersionVector::default()),
    );
    connect(&mut a, &mut b);
    let (mut log_a, mut log_b) = (Vec::new(), Vec::new());
    drive(&mut a, &mut b, [&mut log_a, &mut log_b]);
    let evs = events("a", 3);
    log_a.extend(evs.clone());
    a.handle_local_commit(evs, 0).unwrap();
    let [oa, ob] = drive(&mut a, &mut b, [&mut log_a, &mut log_b]);
    assert!(oa.iter().any(
        |o| matches!(o, Output::Send { frame: Frame::Live { events }, .. } if events.len() == 3)
    ));
    assert!(ob.iter().any(|o| matches!(
        o,
        Output::Send {
            frame: Frame::Ack { .. },
            ..
        }
    )));
    assert_eq!(log_b.len(), 3);
    assert_eq!(a.status().peers[0].lag_total, 0);
    // A commit that skips a seq is refused.
    assert!(
        a.handle_local_commit(events("a", 5).split_off(4), 0)
            .is_err()
    );
}

#[test]
fn acks_name_only_the_streams_that_moved_and_caps_are_intersected() {
    let mut ca = cfg("a", "s", &["b"]);
    ca.caps = vec!["deflate".into(), "only-a".into()];
    let mut cb = cfg("b", "s", &["a"]);
    cb.caps = vec!["only-b".into(), "deflate".into()];
    // B already holds a stream of a third central, so its vector has two entries.
    let c_events = events("c", 2);
    let vb = VersionVector([(c_events[0].id.stream(), 2)].into_iter().collect());
    let (mut a, mut b) = (
        Engine::new(ca, VersionVector::default()),
        Engine::new(cb, vb),
    );
    connect(&mut a, &mut b);
    let (mut log_a, mut log_b) = (Vec::new(), c_events);
    let [oa, ob] = drive(&mut a, &mut b, [&mut log_a, &mut log_b]);
    for outs in [&oa, &ob] {
        assert!(
            outs.iter().any(
                |o| matches!(o, Output::PeerUp { caps, .. } if caps == &["deflate".to_owned()])
            )
        );
    }
    let evs = events("a", 3);
    let (a_stream, c_stream) = (evs[0].id.stream(), log_b[0].id.stream());
    log_a.extend(evs.clone());
    a.handle_local_commit(evs, 0).unwrap();
    let [_, ob] = drive(&mut a, &mut b, [&mut log_a, &mut log_b]);
    let acks: Vec<&VersionVector> = ob
        .iter()
        .filter_map(|o| match o {
            Output::Send {
                frame: Frame::Ack { vector },
                ..
            } => Some(vector),
            _ => None,
        })
        .collect();
    assert!(!acks.is_empty());
    for v in &acks {
        assert_eq!(v.0.len(), 1, "only a's stream moved: {v:?}");
    }
    // A still knows everything B holds, c's stream included (from B's first vector).
    let known = &a.status().peers[0].known;
    assert_eq!(known.get(&c_stream), 2);
    assert_eq!(known.get(&a_stream), 3);
}
