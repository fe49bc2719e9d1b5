//! The proxy against a real echo server on loopback: delay, bandwidth cap, stall, one-way kill
//! and cuts each change what arrives and when. Time is only ever checked from below (a fault
//! may not deliver early), never against an upper bound.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use parkmesh_faultproxy::{Faults, Proxy};

/// An echo server on a free loopback port; each connection on its own thread.
fn echo() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = s;
                let mut buf = [0u8; 8192];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

fn proxy(faults: Faults) -> Proxy {
    Proxy::start("127.0.0.1:0".parse().unwrap(), echo(), faults).unwrap()
}

fn connect(p: &Proxy) -> TcpStream {
    let s = TcpStream::connect(p.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

fn round_trip(s: &mut TcpStream, len: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let writer = {
        let mut w = s.try_clone().unwrap();
        let d = data.clone();
        std::thread::spawn(move || w.write_all(&d).unwrap())
    };
    let mut got = vec![0u8; len];
    s.read_exact(&mut got).unwrap();
    writer.join().unwrap();
    assert_eq!(got, data, "bytes arrive intact and in order");
    got
}

#[test]
fn latency_and_jitter_delay_every_round_trip_and_keep_order() {
    let p = proxy(Faults {
        delay: Duration::from_millis(100),
        jitter: Duration::from_millis(30),
        ..Faults::default()
    });
    let mut s = connect(&p);
    for _ in 0..3 {
        let t = Instant::now();
        round_trip(&mut s, 64);
        assert!(
            t.elapsed() >= Duration::from_millis(200),
            "{:?}",
            t.elapsed()
        );
    }
    round_trip(&mut s, 200_000);
    // The counters move after each chunk's write returns, which may be after the echo is back:
    // wait (bounded) until they have caught up with what arrived.
    let want = 3 * 64 + 200_000;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut st = p.stats();
    while (st.up_bytes, st.down_bytes) != (want, want) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        st = p.stats();
    }
    assert_eq!(st.up_bytes, want);
    assert_eq!(st.down_bytes, want);
}

#[test]
fn a_bandwidth_cap_paces_each_direction() {
    // 64 KB up and back at 256 kbit/s each way: at least 2 s per direction.
    let p = proxy(Faults {
        up_bps: Some(256_000),
        down_bps: Some(256_000),
        ..Faults::default()
    });
    let mut s = connect(&p);
    let t = Instant::now();
    round_trip(&mut s, 64_000);
    assert!(
        t.elapsed() >= Duration::from_millis(1_900),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn a_stall_holds_everything_until_it_clears() {
    let p = proxy(Faults::default());
    let mut s = connect(&p);
    round_trip(&mut s, 10);
    p.update(|f| f.stall = true);
    s.write_all(b"held").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 4];
    let err = s.read_exact(&mut buf).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{err}"
    );
    // A new connection is accepted but reaches nothing while stalled.
    let mut late = connect(&p);
    late.write_all(b"late").unwrap();
    p.update(|f| f.stall = false);
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"held");
    late.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"late");
}

#[test]
fn a_killed_direction_drops_its_bytes_and_the_other_still_flows() {
    // Kill the way back: what is sent reaches the echo server, its answer never returns.
    let p = proxy(Faults::default());
    let mut s = connect(&p);
    round_trip(&mut s, 10);
    p.update(|f| f.kill_down = true);
    s.write_all(b"lost").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 4];
    assert!(s.read_exact(&mut buf).is_err());
    let deadline = Instant::now() + Duration::from_secs(30);
    // (The up counter moves after its write returns, so wait for it too.)
    while p.stats().dropped_bytes < 4 || p.stats().up_bytes < 14 {
        assert!(Instant::now() < deadline, "{:?}", p.stats());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(p.stats().up_bytes, 14, "the forward direction kept flowing");
    // Lifting the kill heals new connections; the old one keeps its hole.
    p.update(|f| f.kill_down = false);
    let mut fresh = connect(&p);
    round_trip(&mut fresh, 100);
}

#[test]
fn cuts_close_every_connection_and_new_ones_work() {
    let p = proxy(Faults::default());
    let mut s = connect(&p);
    round_trip(&mut s, 10);
    p.cut();
    let mut buf = [0u8; 1];
    assert_eq!(s.read(&mut buf).unwrap_or(0), 0, "a cut connection ends");
    p.set(Faults {
        cut_every: Some(Duration::from_millis(300)),
        ..Faults::default()
    });
    let mut s = connect(&p);
    round_trip(&mut s, 10);
    assert_eq!(s.read(&mut buf).unwrap_or(0), 0, "cut_every ends it too");
    assert!(p.stats().cuts >= 2);
    assert!(p.stats().connections >= 2);
}
