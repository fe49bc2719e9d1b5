//! The status page `/mesh` in a real headless Chromium against three real centrals: it loads
//! without console errors, shows both peers connected, shows a killed peer as down live (and
//! after a reload), and shows the conflict left by a partition with both sides.
//!
//! Needs Debian's `chromium` (or `$CHROMIUM`). In CI (`CI=true`) a missing browser fails the
//! test; elsewhere the test is skipped with a message. `PARKMESH_SCREENSHOT=<file.png>` saves a
//! screenshot of the page at the end.

mod browser;
mod common;

use std::time::Instant;

use serde_json::{Value, json};

use common::{SECRET, now_secs};

fn entry(plate: &str, ts: f64) -> Value {
    common::edge_event("ENTRY", plate, ts)
}

fn post(c: &common::Central, ev: &Value) {
    common::post_event(c.api_port, ev);
}

/// `{peer id: "up" | "down"}` as the page shows it.
fn links(page: &mut browser::Browser) -> Value {
    page.eval(
        "Object.fromEntries(Array.from(document.querySelectorAll('[data-peer]'))
            .map(e => [e.dataset.peer, e.dataset.link]))",
    )
}

fn wait_links(page: &mut browser::Browser, what: &str, want: Value) {
    common::eventually(what, || (links(page) == want).then_some(()));
}

#[test]
#[allow(clippy::print_stderr)] // the skip notice and the measured delay are for the reader
fn the_status_page_shows_the_mesh_live() {
    let Some(chromium) = browser::chromium_or_skip("status page") else {
        return;
    };
    let m = common::plan(&["central-a", "central-b", "central-c"]);
    let a = common::start_member(&m, 0, &[1, 2], SECRET, json!({}));
    let mut b = common::start_member(&m, 1, &[0, 2], SECRET, json!({}));
    let mut c = common::start_member(&m, 2, &[0, 1], SECRET, json!({}));
    post(&a, &entry("51A11111", now_secs() - 120.0));
    post(&c, &entry("29C33333", now_secs() - 100.0));

    let url = format!("http://127.0.0.1:{}/mesh", a.api_port);
    let mut page = browser::Browser::open(&chromium, &url);
    // Load again now that the error listeners are on, so nothing of the load goes unseen.
    page.reload();
    wait_links(
        &mut page,
        "both peers shown connected",
        json!({ "central-b": "up", "central-c": "up" }),
    );
    common::eventually("the live stream connected", || {
        (page.eval("document.getElementById('live').dataset.live") == "live").then_some(())
    });
    common::eventually("today's entries of both sites shown", || {
        let sites = page.eval(
            "Array.from(document.querySelectorAll('#sites [data-site]')).map(r => r.dataset.site)",
        );
        (sites == json!(["central-a", "central-c"])).then_some(())
    });
    assert_eq!(page.eval("document.title"), "parkmesh · central-a");

    // Kill C: the open page shows it down without a reload.
    let killed = Instant::now();
    common::stop(&mut c);
    wait_links(
        &mut page,
        "central-c shown down live",
        json!({ "central-b": "up", "central-c": "down" }),
    );
    let shown_after = killed.elapsed();
    eprintln!("central-c shown down {shown_after:?} after it was killed");
    assert!(
        shown_after.as_secs() < 30,
        "a dead peer must show within seconds, took {shown_after:?}"
    );
    page.reload();
    assert_eq!(
        links(&mut page),
        json!({ "central-b": "up", "central-c": "down" }),
        "after a reload"
    );

    // Partition A | B: both admit the same plate without knowing of the other, then heal.
    common::stop(&mut b);
    post(&a, &entry("30G55555", now_secs() - 60.0));
    let cfg: Value = serde_json::from_slice(&std::fs::read(&b.config_path).unwrap()).unwrap();
    let mut isolated = cfg.clone();
    isolated["peer_centrals"] = json!([]);
    std::fs::write(&b.config_path, serde_json::to_vec(&isolated).unwrap()).unwrap();
    common::restart(&mut b);
    post(&b, &entry("30G55555", now_secs()));
    let (status, v) = common::json(
        b.api_port,
        "PUT",
        "/api/p2p/config",
        Some(&json!({ "peer_centrals": cfg["peer_centrals"] })),
    );
    assert_eq!(status, 200, "{v}");
    let sides = common::eventually("the conflict shown with both sides", || {
        let v = page.eval(
            "Array.from(document.querySelectorAll('[data-conflict=\"30G55555\"] .side strong'))
                .map(e => e.textContent.split(' · ')[1]).sort()",
        );
        (v.as_array().is_some_and(|s| s.len() == 2)).then_some(v)
    });
    assert_eq!(sides, json!(["central-a", "central-b"]));
    wait_links(
        &mut page,
        "central-b shown up again",
        json!({ "central-b": "up", "central-c": "down" }),
    );

    if let Ok(path) = std::env::var("PARKMESH_SCREENSHOT") {
        std::fs::write(&path, page.screenshot()).unwrap();
    }
    assert_eq!(page.eval("document.body.dataset.errors"), "0");
    assert!(page.errors.is_empty(), "console errors: {:?}", page.errors);
    assert!(common::panics(&a).is_empty(), "{:?}", common::panics(&a));
}
