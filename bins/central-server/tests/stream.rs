//! The MJPEG relay (`GET /api/stream/{raw|annotated}?camera_id=N`, parity row 17) against a fake
//! edge that streams `multipart/x-mixed-replace` frames until its reader goes away: frames pass
//! through with the edge's content type, a reader that leaves closes the upstream, and unknown
//! cameras, unknown modes and unreachable edges get the seed's 404/502.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

const TOKEN: &str = "stream-test-token-123456";

/// What the fake edge saw: requested paths, and how many streams ended because the reader left.
#[derive(Default)]
struct EdgeLog {
    paths: Vec<String>,
    streams_closed_by_reader: usize,
}

/// A fake edge: `/api/stream/*` answers an endless MJPEG stream (a frame every 20 ms); any other
/// path answers `{"success": true}`.
fn fake_edge() -> (u16, Arc<Mutex<EdgeLog>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let log = Arc::new(Mutex::new(EdgeLog::default()));
    let seen = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let log = seen.clone();
            std::thread::spawn(move || serve_edge(stream, &log));
        }
    });
    (port, log)
}

fn serve_edge(stream: TcpStream, log: &Mutex<EdgeLog>) {
    let (line, _) = common::read_request(&stream);
    let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
    log.lock().unwrap().paths.push(path.clone());
    let mut s = stream;
    if !path.starts_with("/api/stream/") {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 16\r\nConnection: close\r\n\r\n{\"success\":true}");
        return;
    }
    let _ = s.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\nConnection: close\r\n\r\n",
    );
    for n in 0..30_000u32 {
        let jpeg = format!("JPEG-{n}");
        let part = format!(
            "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n{jpeg}\r\n",
            jpeg.len()
        );
        if s.write_all(part.as_bytes()).is_err() {
            log.lock().unwrap().streams_closed_by_reader += 1;
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn admin_post(port: u16, path: &str, body: &Value) -> (u16, Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    let auth = format!("Bearer {TOKEN}");
    let (status, b) = common::request(
        port,
        "POST",
        path,
        Some(&bytes),
        &[("Authorization", &auth)],
    )
    .unwrap();
    (status, serde_json::from_slice(&b).unwrap())
}

/// Opens the relay and reads until `frames` MJPEG parts have arrived; returns the head and the
/// body read so far. The socket is dropped on return (the reader goes away).
fn read_frames(port: u16, path: &str, frames: usize) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).expect("the relay keeps sending");
        assert!(
            n > 0,
            "the relay ended early: {}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n")
            && body.matches("Content-Type: image/jpeg").count() >= frames
        {
            return (head.to_owned(), body.to_owned());
        }
    }
}

#[test]
fn mjpeg_stream_is_relayed_and_closed_with_its_reader() {
    let c = common::start(
        "central-1",
        json!({ "admin_token": TOKEN, "max_clock_skew_secs": 86400 }),
    );
    let (edge_port, log) = fake_edge();
    let cams = json!({ "edge_cameras": {
        "5": { "name": "Gate 5", "ip": format!("127.0.0.1:{edge_port}"), "camera_type": "ENTRY" },
        "6": { "name": "Gate 6", "ip": format!("127.0.0.1:{}", common::free_port()), "camera_type": "EXIT" },
        "7": { "name": "Gate 7", "camera_type": "EXIT" } } });
    let (status, v) = admin_post(c.api_port, "/api/config", &cams);
    assert_eq!(status, 200, "{v}");

    for mode in ["raw", "annotated"] {
        let (head, body) = read_frames(c.api_port, &format!("/api/stream/{mode}?camera_id=5"), 3);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: multipart/x-mixed-replace; boundary=frame"),
            "{head}"
        );
        assert!(body.contains("JPEG-0") && body.contains("JPEG-2"), "{body}");
    }
    let paths = log.lock().unwrap().paths.clone();
    assert!(paths.contains(&"/api/stream/raw".to_owned()), "{paths:?}");
    assert!(
        paths.contains(&"/api/stream/annotated".to_owned()),
        "{paths:?}"
    );
    // Both readers left, so both upstream streams end instead of running on.
    common::eventually("the edge sees both relayed streams closed", || {
        (log.lock().unwrap().streams_closed_by_reader == 2).then_some(())
    });

    // The seed's errors: unknown camera or mode 404, camera without address 404, dead edge 502.
    let get = |path: &str| common::json(c.api_port, "GET", path, None);
    let (status, v) = get("/api/stream/raw?camera_id=99");
    assert_eq!(
        (status, v["error"].as_str()),
        (404, Some("edge_camera_not_configured"))
    );
    let (status, _) = get("/api/stream/raw?camera_id=7");
    assert_eq!(status, 404);
    let (status, v) = get("/api/stream/thermal?camera_id=5");
    assert_eq!(status, 404, "{v}");
    let (status, v) = get("/api/stream/raw?camera_id=abc");
    assert_eq!(status, 400, "{v}");
    let (status, v) = get("/api/stream/raw?camera_id=6");
    assert_eq!(
        (status, v["error"].as_str()),
        (502, Some("edge_unreachable")),
        "{v}"
    );
    assert_eq!(
        common::panics(&c),
        Vec::<String>::new(),
        "no handler panicked"
    );
}
