//! Real centrals whose mesh link runs through the fault proxy (`parkmesh-faultproxy`): a slow
//! metered link with a long round trip, a blackholed link, a link cut every 2 s, and a link whose
//! acknowledgements are lost in one direction. Every test checks what arrived (nothing lost,
//! nothing applied twice) and what the mesh says about the link (`/api/p2p/status`, `/metrics`),
//! never how long it took.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use parkmesh_faultproxy::{Faults, Proxy};
use serde_json::{Value, json};

use common::{Central, Member, SECRET, now_secs};

/// Liveness timers short enough for tests, long enough for a slow noisy machine.
fn mesh_timers() -> Value {
    json!({ "mesh": { "ping_interval_secs": 1, "dead_after_secs": 6 } })
}

/// Members `a` (index 0) dialling `b` (index 1) through a proxy in front of `b`'s mesh port.
fn proxied_pair(faults: Faults) -> (Vec<Member>, Proxy) {
    let m = common::plan(&["central-a", "central-b"]);
    let upstream = format!("127.0.0.1:{}", m[1].p2p_port).parse().unwrap();
    let listen = format!("127.0.0.1:{}", common::free_port())
        .parse()
        .unwrap();
    let proxy = Proxy::start(listen, upstream, faults).unwrap();
    (m, proxy)
}

/// Starts member `idx` peered with `peers`, reaching each peer at the port `via` gives it.
fn start_via(
    m: &[Member],
    idx: usize,
    peers: &[usize],
    via: &[(usize, u16)],
    extra: Value,
) -> Central {
    let mut seen = m.to_vec();
    for (p, port) in via {
        seen[*p].p2p_port = *port;
    }
    let mut c = common::spawn_member(&seen, idx, peers, SECRET, extra);
    c.p2p_port = m[idx].p2p_port;
    common::wait_child_ready(&mut c.child, c.api_port);
    c
}

/// Posts `n` entries of distinct plates (prefix `tag`) over 4 keep-alive connections.
fn fill(c: &Central, tag: &str, n: usize) {
    fill_port(c.api_port, tag, n);
}

/// [`fill`] for a central known by its API port (for threads).
fn fill_port(port: u16, tag: &str, n: usize) {
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let tag = tag.to_owned();
            std::thread::spawn(move || {
                let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut w = s;
                for i in (t..n).step_by(4) {
                    let body = json!({ "type": "ENTRY", "camera_id": 1, "camera_name": "Gate",
                        "camera_type": "ENTRY", "timestamp": now_secs(),
                        "data": { "plate_text": format!("{tag}{i:06}"), "confidence": 0.9, "source": "auto" } })
                    .to_string();
                    write!(w, "POST /api/edge/event HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
                    let mut line = String::new();
                    r.read_line(&mut line).unwrap();
                    assert!(line.contains(" 200 "), "{line}");
                    let mut len = 0;
                    loop {
                        line.clear();
                        r.read_line(&mut line).unwrap();
                        if line.trim().is_empty() {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; len];
                    r.read_exact(&mut body).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// One sample of `/metrics`: `name` with `peer`'s label (0 when absent).
fn metric(c: &Central, name: &str, peer: &str) -> f64 {
    let (_, body) = common::request(c.api_port, "GET", "/metrics", None, &[]).unwrap();
    let text = String::from_utf8_lossy(&body).into_owned();
    let prefix = format!("{name}{{peer=\"{peer}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Events this central's log holds.
fn held(c: &Central) -> f64 {
    let (_, body) = common::request(c.api_port, "GET", "/metrics", None, &[]).unwrap();
    String::from_utf8_lossy(&body)
        .lines()
        .find_map(|l| l.strip_prefix("parkmesh_log_events "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Vehicles in the lot (one per distinct plate entered; a duplicate would not add one, so the
/// log count is checked beside it).
fn in_lot(c: &Central) -> i64 {
    let (_, v) = common::json(c.api_port, "GET", "/api/parking/state", None);
    v["vehicles_in_parking"]
        .as_array()
        .map_or(-1, |a| a.len() as i64)
}

fn peer_connected(c: &Central, peer: &str) -> bool {
    let (_, v) = common::json(c.api_port, "GET", "/api/p2p/status", None);
    v["peers"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["peer_id"] == peer))
        .is_some_and(|p| p["connected"] == true)
}

#[test]
fn a_backlog_catches_up_over_a_slow_long_link_without_resending_a_page() {
    // 200 ms round trip, 1 Mbit/s each way.
    let (m, proxy) = proxied_pair(Faults::wan(Duration::from_millis(200), 1_000_000));
    let a = start_via(&m, 0, &[1], &[(1, proxy.addr().port())], json!({}));
    let n = 20_000;
    fill(&a, "SLOW", n);
    let b = start_via(&m, 1, &[0], &[], json!({}));
    let total = held(&a);
    assert!(total >= n as f64);
    common::eventually("b holds the whole backlog", || {
        (held(&b) >= total).then_some(())
    });
    // B's own first event (its time zone) is the only one A lacked.
    common::eventually("a and b hold the same log", || {
        (held(&a) == held(&b)).then_some(())
    });
    assert_eq!(held(&b), total + 1.0, "nothing duplicated in b's log");
    common::eventually("b's projection shows every car", || {
        (in_lot(&b) == n as i64).then_some(())
    });
    assert_eq!(
        metric(&a, "parkmesh_peer_resent_events_total", "central-b"),
        0.0,
        "no page sent twice while the link was merely slow"
    );
    assert_eq!(
        metric(&a, "parkmesh_peer_retransmit_timeouts_total", "central-b"),
        0.0
    );
    let sent = metric(&a, "parkmesh_peer_sent_bytes_total", "central-b");
    assert!(sent > 0.0 && proxy.stats().up_bytes > 0);
}

#[test]
fn a_blackholed_link_shows_down_traffic_flows_elsewhere_and_it_catches_up_when_cleared() {
    let m = common::plan(&["central-a", "central-b", "central-c"]);
    let upstream = format!("127.0.0.1:{}", m[1].p2p_port).parse().unwrap();
    let listen = format!("127.0.0.1:{}", common::free_port())
        .parse()
        .unwrap();
    let proxy = Proxy::start(listen, upstream, Faults::default()).unwrap();
    let via = [(1, proxy.addr().port())];
    let a = start_via(&m, 0, &[1, 2], &via, mesh_timers());
    let b = start_via(&m, 1, &[0, 2], &[], mesh_timers());
    let c = start_via(&m, 2, &[0, 1], &[], mesh_timers());
    common::eventually("a sees b and c", || {
        (peer_connected(&a, "central-b") && peer_connected(&a, "central-c")).then_some(())
    });
    fill(&a, "PRE", 20);
    common::eventually("b and c hold a's first events", || {
        (in_lot(&b) == 20 && in_lot(&c) == 20).then_some(())
    });

    proxy.update(|f| f.stall = true);
    common::eventually("a shows b down in its status", || {
        (!peer_connected(&a, "central-b")).then_some(())
    });
    assert_eq!(metric(&a, "parkmesh_peer_up", "central-b"), 0.0);
    assert_eq!(metric(&a, "parkmesh_peer_up", "central-c"), 1.0);
    // B is cut off from A only: A's new events reach C at once, and B through C.
    fill(&a, "DUR", 50);
    common::eventually("c holds a's events written during the blackhole", || {
        (in_lot(&c) == 70).then_some(())
    });
    common::eventually("b gets them relayed by c", || {
        (in_lot(&b) == 70).then_some(())
    });

    proxy.update(|f| f.stall = false);
    common::eventually("a redials b when the link clears", || {
        peer_connected(&a, "central-b").then_some(())
    });
    fill(&a, "POST", 30);
    for x in [&a, &b, &c] {
        common::eventually("everyone holds every car", || {
            (in_lot(x) == 100).then_some(())
        });
    }
    common::eventually("everyone holds the same log", || {
        (held(&a) == held(&b) && held(&b) == held(&c)).then_some(())
    });
}

#[test]
fn a_link_cut_every_two_seconds_converges_with_nothing_lost_or_doubled() {
    let (m, proxy) = proxied_pair(Faults {
        cut_every: Some(Duration::from_secs(2)),
        ..Faults::default()
    });
    let a = start_via(&m, 0, &[1], &[(1, proxy.addr().port())], json!({}));
    let b = start_via(&m, 1, &[0], &[], json!({}));
    let (fa, fb) = (
        std::thread::spawn({
            let port = a.api_port;
            move || fill_port(port, "CUTA", 1_500)
        }),
        std::thread::spawn({
            let port = b.api_port;
            move || fill_port(port, "CUTB", 1_500)
        }),
    );
    fa.join().unwrap();
    fb.join().unwrap();
    for x in [&a, &b] {
        common::eventually("every car of both is in the lot once", || {
            (in_lot(x) == 3_000).then_some(())
        });
    }
    common::eventually("both hold the same log", || {
        (held(&a) == held(&b)).then_some(())
    });
    // Each central wrote its 1 500 entries and one time zone event.
    assert_eq!(held(&a), 3_002.0, "nothing duplicated");
    assert!(proxy.stats().cuts >= 1, "{:?}", proxy.stats());
}

#[test]
fn lost_acknowledgements_apply_nothing_twice_and_resends_stay_bounded() {
    let (m, proxy) = proxied_pair(Faults::default());
    let a = start_via(&m, 0, &[1], &[(1, proxy.addr().port())], mesh_timers());
    let b = start_via(&m, 1, &[0], &[], mesh_timers());
    common::eventually("a and b connected", || {
        peer_connected(&a, "central-b").then_some(())
    });
    // B's answers (acks, pongs) to A are lost; A's pages still reach B.
    proxy.update(|f| f.kill_down = true);
    let n = 2_000;
    fill(&a, "ACK", n);
    common::eventually("b receives a's first pages", || {
        (held(&b) > 0.0).then_some(())
    });
    common::eventually("a gives the half-open link up", || {
        (!peer_connected(&a, "central-b")).then_some(())
    });
    let resent_while_half_open = metric(&a, "parkmesh_peer_resent_events_total", "central-b");
    proxy.update(|f| f.kill_down = false);
    common::eventually("a redials and b catches up", || {
        (peer_connected(&a, "central-b") && held(&b) >= held(&a)).then_some(())
    });
    assert_eq!(held(&b), held(&a), "nothing applied twice");
    common::eventually("b's projection shows every car once", || {
        (in_lot(&b) == n as i64).then_some(())
    });
    // While half-open, A resent at most its in-flight window once per retransmit timeout until
    // the silence closed the link; the new connection starts from what B says it holds.
    let resent = metric(&a, "parkmesh_peer_resent_events_total", "central-b");
    assert!(
        resent_while_half_open <= n as f64,
        "{resent_while_half_open} events resent for {n}"
    );
    assert_eq!(
        resent, resent_while_half_open,
        "nothing resent after the redial"
    );
    assert!(proxy.stats().dropped_bytes > 0);
}

#[test]
fn compression_is_used_only_where_both_ends_offer_it_and_a_peer_without_it_still_replicates() {
    // A and B offer deflate (the default); C has it turned off, as a build without it would.
    let m = common::plan(&["central-a", "central-b", "central-c"]);
    let off = json!({ "mesh": { "compression": false } });
    let a = start_via(&m, 0, &[1, 2], &[], json!({}));
    let b = start_via(&m, 1, &[0, 2], &[], json!({}));
    let c = start_via(&m, 2, &[0, 1], &[], off);
    common::eventually("full mesh", || {
        (peer_connected(&a, "central-b")
            && peer_connected(&a, "central-c")
            && peer_connected(&b, "central-c"))
        .then_some(())
    });
    let (to_b, to_c) = (
        metric(&a, "parkmesh_peer_sent_bytes_total", "central-b"),
        metric(&a, "parkmesh_peer_sent_bytes_total", "central-c"),
    );
    fill(&a, "ZIPA", 300);
    fill(&c, "ZIPC", 100);
    for x in [&a, &b, &c] {
        common::eventually("every car everywhere", || (in_lot(x) == 400).then_some(()));
    }
    common::eventually("the same log everywhere", || {
        (held(&a) == held(&b) && held(&b) == held(&c)).then_some(())
    });
    let (to_b, to_c) = (
        metric(&a, "parkmesh_peer_sent_bytes_total", "central-b") - to_b,
        metric(&a, "parkmesh_peer_sent_bytes_total", "central-c") - to_c,
    );
    assert!(
        to_b * 2.0 < to_c,
        "A sent B {to_b} bytes compressed and C {to_c} as text for the same events"
    );
}
