//! Round-trip, robustness and lattice tests for the wire types.

use std::collections::BTreeMap;

use proptest::prelude::*;

use crate::*;

fn id(s: &str) -> CentralId {
    CentralId::new(s).unwrap()
}

fn stream(o: &str, inc: u64) -> StreamId {
    StreamId {
        origin: id(o),
        incarnation: inc,
    }
}

fn event(o: &str, inc: u64, seq: u64, kind: &str) -> Event {
    Event {
        id: EventId {
            origin: id(o),
            incarnation: inc,
            seq,
        },
        hlc: Hlc {
            wall_ms: 1_700_000_000_000 + seq,
            counter: 3,
        },
        kind: EventKind::from(kind.to_owned()),
        payload: serde_json::json!({"plate": "51A-123.45", "n": seq, "nested": {"x": [1, 2]}}),
        schema: 1,
    }
}

fn all_frames() -> Vec<Frame> {
    let mut v = VersionVector::default();
    v.advance(&stream("a", 1), 7);
    v.advance(&stream("b-2", 9), 3);
    vec![
        Frame::Hello(Hello {
            node_id: id("central-1"),
            incarnation: 42,
            proto_min: 2,
            proto_max: 2,
            caps: vec!["relay".into()],
            nonce: Nonce([7; 16]),
            version: Some("0.1.0+0123456789ab".into()),
        }),
        Frame::Auth {
            proof: AuthProof([9; 32]),
        },
        Frame::Vector(v.clone()),
        Frame::Page {
            events: vec![
                event("a", 1, 1, "vehicle.entry"),
                event("a", 1, 2, "future.kind"),
            ],
            more: true,
        },
        Frame::Live {
            events: vec![event("b-2", 9, 4, "vehicle.exit")],
        },
        Frame::Ack { vector: v },
        Frame::Ping { nonce: u64::MAX },
        Frame::Pong { nonce: 0 },
        Frame::Close {
            code: CloseCode::BadAuth,
            reason: "wrong cluster secret".into(),
        },
        Frame::Close {
            code: CloseCode::Other("future_code".into()),
            reason: String::new(),
        },
    ]
}

#[test]
fn every_frame_round_trips() {
    for f in all_frames() {
        let text = f.encode();
        assert!(text.starts_with("{\"v\":2,"), "{text}");
        assert_eq!(Frame::decode(&text).unwrap(), f, "{text}");
    }
}

#[test]
fn wire_shape_is_stable() {
    let f = Frame::Ack {
        vector: VersionVector(BTreeMap::from([(stream("a", 1), 5)])),
    };
    assert_eq!(
        f.encode(),
        r#"{"v":2,"type":"ack","body":{"vector":{"a:1":5}}}"#
    );
    let f = Frame::Ping { nonce: 3 };
    assert_eq!(f.encode(), r#"{"v":2,"type":"ping","body":{"nonce":3}}"#);
}

/// Named kinds keep their wire names, so centrals that still hold them as unknown kinds (and
/// events stored before they were named) agree with this build.
#[test]
fn event_kinds_keep_their_wire_names() {
    for (kind, wire) in [
        (EventKind::VehicleEntry, "vehicle.entry"),
        (EventKind::VehicleExit, "vehicle.exit"),
        (EventKind::VehicleLocation, "vehicle.location"),
        (EventKind::HistoryEdit, "history.edit"),
        (EventKind::HistoryDelete, "history.delete"),
        (EventKind::FeesSet, "fees.set"),
        (EventKind::SubscriptionsSet, "subscriptions.set"),
        (EventKind::StaffSet, "staff.set"),
        (EventKind::ZoneConfig, "zone.config"),
        (EventKind::CamerasConfig, "config.cameras"),
        (EventKind::SiteTimezone, "site.timezone"),
        (EventKind::ExitUnmatch, "exit.unmatch"),
        (EventKind::WatchlistSet, "watchlist.set"),
    ] {
        assert_eq!(kind.as_str(), wire);
        assert_eq!(EventKind::from(wire.to_owned()), kind);
        let e = event("a", 1, 1, wire);
        let back: Event = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert_eq!(back.kind, kind);
        assert_eq!(serde_json::to_value(&back).unwrap()["kind"], wire);
    }
}

#[test]
fn unknown_event_kinds_survive_a_page() {
    let f = Frame::Page {
        events: vec![event("a", 1, 1, "x.y.z")],
        more: false,
    };
    let Frame::Page { events, .. } = Frame::decode(&f.encode()).unwrap() else {
        panic!()
    };
    assert_eq!(events[0].kind, EventKind::Other("x.y.z".into()));
}

#[test]
fn later_fields_default_and_unknown_fields_are_ignored() {
    let text = r#"{"v":2,"type":"hello","body":{"node_id":"b","incarnation":1,"proto_min":2,
        "proto_max":2,"nonce":"00000000000000000000000000000000","future":true}}"#;
    let Frame::Hello(h) = Frame::decode(text).unwrap() else {
        panic!()
    };
    assert!(h.caps.is_empty());
    let text = r#"{"v":2,"type":"close","body":{"code":"bad_auth"},"extra":1}"#;
    assert_eq!(
        Frame::decode(text).unwrap(),
        Frame::Close {
            code: CloseCode::BadAuth,
            reason: String::new()
        }
    );
}

#[test]
fn version_handling() {
    let ping = r#"{"v":3,"type":"ping","body":{"nonce":1}}"#;
    assert_eq!(
        Frame::decode(ping),
        Err(ProtocolError::UnsupportedVersion(3))
    );
    let ping = r#"{"v":1,"type":"ping","body":{"nonce":1}}"#;
    assert_eq!(
        Frame::decode(ping),
        Err(ProtocolError::UnsupportedVersion(1))
    );
    // A Hello from a newer build still decodes, so the handshake can say "no common version".
    let hello = r#"{"v":9,"type":"hello","body":{"node_id":"b","incarnation":1,"proto_min":9,
        "proto_max":9,"nonce":"00000000000000000000000000000000"}}"#;
    assert!(matches!(Frame::decode(hello), Ok(Frame::Hello(h)) if h.proto_min == 9));
}

#[test]
fn garbage_is_classified() {
    assert!(matches!(
        Frame::decode(""),
        Err(ProtocolError::Malformed(_))
    ));
    assert!(matches!(
        Frame::decode("[1,2]"),
        Err(ProtocolError::Malformed(_))
    ));
    assert!(matches!(
        Frame::decode(r#"{"type":"ping","body":{"nonce":1}}"#),
        Err(ProtocolError::Malformed(_))
    ));
    assert_eq!(
        Frame::decode(r#"{"v":2,"type":"gossip","body":{}}"#),
        Err(ProtocolError::UnknownType("gossip".into()))
    );
    assert!(matches!(
        Frame::decode(r#"{"v":2,"type":"ping","body":{"nonce":-1}}"#),
        Err(ProtocolError::Malformed(_))
    ));
    assert!(matches!(
        Frame::decode(r#"{"v":2,"type":"ack","body":{"vector":{"no-colon":1}}}"#),
        Err(ProtocolError::Malformed(_))
    ));
    assert!(matches!(
        Frame::decode(r#"{"v":2,"type":"auth","body":{"proof":"abc"}}"#),
        Err(ProtocolError::Malformed(_))
    ));
}

#[test]
fn oversize_frames_are_refused_before_parsing() {
    let big = format!(
        "{{\"v\":2,\"type\":\"ping\",\"body\":{{\"nonce\":1}},\"pad\":\"{}\"}}",
        "x".repeat(100)
    );
    assert!(Frame::decode_with_limit(&big, 1_000).is_ok());
    assert_eq!(
        Frame::decode_with_limit(&big, 50),
        Err(ProtocolError::TooLarge {
            len: big.len(),
            max: 50
        })
    );
}

fn arb_vector() -> impl Strategy<Value = VersionVector> {
    prop::collection::btree_map((0_u8..5, 0_u64..3), 0_u64..20, 0..6).prop_map(|m| {
        VersionVector(
            m.into_iter()
                .map(|((o, inc), seq)| (stream(&format!("n{o}"), inc), seq))
                .collect(),
        )
    })
}

fn merged(a: &VersionVector, b: &VersionVector) -> VersionVector {
    let mut r = a.clone();
    r.merge(b);
    r
}

/// Equality of vectors up to explicit zero entries (a missing stream counts as 0).
fn norm(v: VersionVector) -> VersionVector {
    VersionVector(v.0.into_iter().filter(|(_, s)| *s > 0).collect())
}

proptest! {
    #[test]
    fn decode_never_panics(s in ".{0,300}") {
        let _ = Frame::decode(&s);
    }

    #[test]
    fn decode_never_panics_on_mutated_frames(idx in 0_usize..10, cut in 0_usize..400, byte in 0_u8..128) {
        let frames = all_frames();
        let mut text = frames[idx % frames.len()].encode().into_bytes();
        if !text.is_empty() {
            let at = cut % text.len();
            text[at] = byte;
        }
        let _ = Frame::decode(&String::from_utf8_lossy(&text));
    }

    #[test]
    fn vector_merge_is_commutative(a in arb_vector(), b in arb_vector()) {
        prop_assert_eq!(norm(merged(&a, &b)), norm(merged(&b, &a)));
    }

    #[test]
    fn vector_merge_is_associative(a in arb_vector(), b in arb_vector(), c in arb_vector()) {
        prop_assert_eq!(norm(merged(&merged(&a, &b), &c)), norm(merged(&a, &merged(&b, &c))));
    }

    #[test]
    fn vector_merge_is_idempotent(a in arb_vector(), b in arb_vector()) {
        prop_assert_eq!(merged(&a, &a), a.clone());
        let ab = merged(&a, &b);
        prop_assert_eq!(merged(&ab, &b), ab.clone());
    }

    #[test]
    fn vector_round_trips_as_json(a in arb_vector()) {
        let f = Frame::Vector(a);
        prop_assert_eq!(Frame::decode(&f.encode()).unwrap(), f);
    }
}
