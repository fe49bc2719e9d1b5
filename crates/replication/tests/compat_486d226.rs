//! Mixed versions in one mesh: release 486d226's frames against today's code.
//!
//! `data/v2-486d226/` holds what that release sent, captured from its own engine: a whole
//! session between `central-a` and `central-b` (handshake, catch-up pages, acks, a live push,
//! pings, the shutdown close; `mesh-session.jsonl`, one `{from, now, text}` a line) and single
//! frames (`*.json`). The tests check both directions:
//! - today's decoder reads every old frame, and today's encoder, with no optional feature
//!   negotiated, writes the very same bytes back;
//! - today's engine, standing in for `central-b` and fed `central-a`'s old frames, finishes the
//!   handshake, replicates both ways, and every frame it sends decodes with the frozen copy of
//!   the old release's types ([`frozen`]) to what the old `central-b` sent.

mod compat;

use std::path::PathBuf;

use compat::frozen;
use parkmesh_protocol::{CentralId, Event, EventId, EventKind, Frame, Hlc, Nonce, VersionVector};
use parkmesh_replication::{ConnId, Direction, Engine, EngineConfig, Output};
use serde_json::Value;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/v2-486d226")
}

struct Line {
    from: String,
    now: u64,
    text: String,
}

fn session() -> Vec<Line> {
    let text = std::fs::read_to_string(data_dir().join("mesh-session.jsonl")).unwrap();
    text.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            Line {
                from: v["from"].as_str().unwrap().to_owned(),
                now: v["now"].as_u64().unwrap(),
                text: v["text"].as_str().unwrap().to_owned(),
            }
        })
        .collect()
}

/// Every old frame: the session's and the single ones.
fn golden_frames() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = session()
        .into_iter()
        .enumerate()
        .map(|(i, l)| (format!("mesh-session.jsonl line {}", i + 1), l.text))
        .collect();
    for entry in std::fs::read_dir(data_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).unwrap();
            out.push((path.display().to_string(), text.trim_end().to_owned()));
        }
    }
    assert!(out.len() > 20, "golden files missing: {}", out.len());
    out
}

#[test]
fn todays_decoder_reads_every_old_frame_and_writes_it_back_byte_for_byte() {
    let mut types = std::collections::BTreeSet::new();
    for (name, text) in golden_frames() {
        let frame = Frame::decode(&text).unwrap_or_else(|e| panic!("{name}: {e}: {text}"));
        types.insert(frame.type_name());
        if let Frame::Hello(h) = &frame {
            assert_eq!(
                h.version, None,
                "{name}: the old release announces no version"
            );
        }
        assert_eq!(frame.encode(), text, "{name}: today's encoding differs");
        assert!(frozen::decode(&text).is_ok(), "{name}: frozen copy rejects");
    }
    let all = [
        "hello", "auth", "vector", "page", "live", "ack", "ping", "pong", "close",
    ];
    assert_eq!(types.into_iter().collect::<Vec<_>>().len(), all.len());
}

fn id(s: &str) -> CentralId {
    CentralId::new(s).unwrap()
}

/// `central-b`'s log when the session was recorded.
fn log_b() -> Vec<Event> {
    vec![Event {
        id: EventId {
            origin: id("central-b"),
            incarnation: 1,
            seq: 1,
        },
        hlc: Hlc {
            wall_ms: 1_765_000_001_000,
            counter: 0,
        },
        kind: EventKind::VehicleEntry,
        payload: serde_json::json!({"plate": "30F99999", "raw_plate": "30F-999.99", "camera_id": 2,
            "camera_name": "Gate B", "confidence": 0.88, "source": "auto", "ts_ms": 1_765_000_002_000i64}),
        schema: 1,
    }]
}

/// Runs today's engine as `central-b` against the recorded `central-a`; returns the frames it
/// sent (as text) and the events it applied.
fn replay_as_b() -> (Vec<String>, Vec<Event>) {
    let mut log = log_b();
    let mut vector = VersionVector::default();
    vector.advance(&log[0].id.stream(), 1);
    let mut cfg = EngineConfig::new(
        id("central-b"),
        1,
        b"golden-cluster-secret".to_vec(),
        [id("central-a")],
    );
    cfg.relay_delay_ms = 0;
    cfg.software_version = Some("9.9.9+today".into());
    let mut b = Engine::new(cfg, vector);
    let conn = ConnId(1);
    b.handle_connect(conn, Direction::Inbound, Nonce([0x22; 16]), 0);
    let (mut sent, mut applied, mut now) = (Vec::new(), Vec::new(), 0);
    let mut serve = |b: &mut Engine, now: u64, sent: &mut Vec<String>, applied: &mut Vec<Event>| {
        while let Some(o) = b.poll_output() {
            match o {
                Output::Send { frame, .. } => sent.push(frame.encode()),
                Output::ReadLog {
                    read,
                    stream,
                    from_seq,
                    limit,
                    ..
                } => {
                    let page: Vec<Event> = log
                        .iter()
                        .filter(|e| e.id.stream() == stream && e.id.seq >= from_seq)
                        .take(limit)
                        .cloned()
                        .collect();
                    b.handle_log_read(read, page, now);
                }
                Output::Apply { events } => {
                    log.extend(events.iter().cloned());
                    applied.extend(events);
                    b.handle_applied(now);
                }
                _ => {}
            }
        }
    };
    for line in session().iter().filter(|l| l.from == "central-a") {
        if line.now > now {
            now = line.now;
            serve(&mut b, now, &mut sent, &mut applied);
            b.handle_timeout(now);
        }
        serve(&mut b, now, &mut sent, &mut applied);
        b.handle_text(conn, &line.text, now);
    }
    serve(&mut b, now, &mut sent, &mut applied);
    (sent, applied)
}

#[test]
fn todays_engine_replicates_with_the_old_release_both_ways() {
    let (sent, applied) = replay_as_b();
    // From the old central-a: its entry, its time zone and the exit pushed live.
    let got: Vec<String> = applied.iter().map(|e| e.id.to_string()).collect();
    assert_eq!(
        got,
        ["central-a:1:1", "central-a:1:2", "central-a:1:3"],
        "{sent:#?}"
    );
    // To the old central-a: every frame today's central-b sent is one the old release reads,
    // and reads as what the old central-b sent in its place (the hello's new version field
    // aside, which it ignores). Acks are the one intended change: today's name only the streams
    // that moved, and the old release joins every ack into what it knows of the peer, so what
    // it knows after each ack must be what the old central-b's full ack told it.
    let old_b: Vec<String> = session()
        .into_iter()
        .filter(|l| l.from == "central-b")
        .map(|l| l.text)
        .collect();
    let decode_all = |texts: &[String]| -> Vec<frozen::Frame> {
        texts
            .iter()
            .map(|t| frozen::decode(t).unwrap_or_else(|e| panic!("old release rejects {t}: {e}")))
            .collect()
    };
    let (today, old) = (decode_all(&sent), decode_all(&old_b));
    assert_eq!(today.len(), old.len(), "{today:#?}\n{old:#?}");
    let mut known_today = std::collections::BTreeMap::new();
    let mut known_old = std::collections::BTreeMap::new();
    let join = |known: &mut std::collections::BTreeMap<_, u64>,
                v: &std::collections::BTreeMap<_, u64>| {
        for (stream, seq) in v {
            let at = known.entry(Clone::clone(stream)).or_insert(0);
            *at = (*at).max(*seq);
        }
    };
    for (i, (t, o)) in today.iter().zip(&old).enumerate() {
        match (t, o) {
            (frozen::Frame::Vector(tv), frozen::Frame::Vector(ov)) => {
                assert_eq!(tv, ov, "frame {i}");
                join(&mut known_today, tv);
                join(&mut known_old, ov);
            }
            (frozen::Frame::Ack { vector: tv }, frozen::Frame::Ack { vector: ov }) => {
                for (stream, seq) in tv {
                    assert_eq!(
                        ov.get(stream),
                        Some(seq),
                        "frame {i}: ack names {stream:?} at another seq"
                    );
                }
                join(&mut known_today, tv);
                join(&mut known_old, ov);
                assert_eq!(
                    known_today, known_old,
                    "frame {i}: the old release would know less"
                );
                assert!(!tv.is_empty(), "frame {i}: an empty ack");
            }
            _ => {
                assert_eq!(t, o, "frame {i}");
                if !matches!(t, frozen::Frame::Hello(_)) {
                    assert_eq!(sent[i], old_b[i], "frame {i} differs in its bytes");
                }
            }
        }
    }
    // The hello differs only by the announced version.
    let hello = &sent[0];
    assert!(hello.contains(r#""version":"9.9.9+today""#), "{hello}");
    assert_eq!(
        hello.replace(r#","version":"9.9.9+today""#, ""),
        old_b[0],
        "hello differs beyond the version"
    );
}
