//! Tidy: the engine stays sans-IO — no runtime, database, web or socket crates in its manifest,
//! and no clock reads in its sources (time is always passed in by the driver).

use std::path::Path;

#[test]
fn manifest_has_no_io_dependencies() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    for banned in ["tokio", "sqlx", "warp", "tungstenite"] {
        assert!(
            !manifest.contains(banned),
            "crates/replication/Cargo.toml must not depend on {banned}"
        );
    }
}

#[test]
fn sources_read_no_clock() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut checked = 0;
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            for banned in ["Instant::now", "SystemTime::now", "tokio::"] {
                assert!(!text.contains(banned), "{} uses {banned}", path.display());
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 5,
        "expected the engine's source files under {}",
        src.display()
    );
}
