//! The report page `/reports` in a real headless Chromium against three real centrals in three
//! time zones: a week of traffic, the chart drawn (one bar per day and site in each chart), the
//! table, the CSV link, filtering by site, and no console errors.
//!
//! Needs Debian's `chromium` (or `$CHROMIUM`). In CI (`CI=true`) a missing browser fails the
//! test; elsewhere the test is skipped with a message. `PARKMESH_SCREENSHOT=<file.png>` saves a
//! screenshot of the page (the README's `docs/reports.png`).

mod browser;
mod common;

use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};
use serde_json::{Value, json};

use common::SECRET;

const ZONES: [&str; 3] = ["Asia/Ho_Chi_Minh", "Europe/Berlin", "America/New_York"];
const DAYS: i64 = 7;

fn event(kind: &str, plate: &str, ts: i64) -> Value {
    common::edge_event(kind, plate, ts as f64)
}

fn post(c: &common::Central, ev: &Value) {
    common::post_event(c.api_port, ev);
}

/// Epoch seconds of `minutes` after local midnight of `date` in `zone`.
fn at(zone: &str, date: Date, minutes: i64) -> i64 {
    date.at(0, 0, 0, 0)
        .in_tz(zone)
        .unwrap()
        .timestamp()
        .as_second()
        + minutes * 60
}

#[test]
#[allow(clippy::print_stderr)] // the skip notice is for the reader
fn the_report_page_draws_the_network_week() {
    let Some(chromium) = browser::chromium_or_skip("report page") else {
        return;
    };
    let m = common::plan(&["central-a", "central-b", "central-c"]);
    let extra = |i: usize| json!({ "timezone": ZONES[i], "max_event_age_secs": 2_592_000 });
    let nodes = [
        common::start_member(&m, 0, &[1, 2], SECRET, extra(0)),
        common::start_member(&m, 1, &[0, 2], SECRET, extra(1)),
        common::start_member(&m, 2, &[0, 1], SECRET, extra(2)),
    ];
    // A week ending two days ago, with a different amount of traffic per site and day.
    let to = Timestamp::now().in_tz(ZONES[0]).unwrap().date() - 2.days();
    let from = to - (DAYS - 1).days();
    let mut sessions = 0;
    for (si, node) in nodes.iter().enumerate() {
        let mut date = from;
        for di in 0..DAYS {
            let n = 3 + (si as i64 * 7 + di * 5) % 9;
            for k in 0..n {
                let plate = format!("5{si}A{di}{k:04}");
                let entry = at(ZONES[si], date, 6 * 60 + k * 47);
                let stay = 25 + (k * 53 + di * 31) % 300;
                post(node, &event("ENTRY", &plate, entry));
                post(node, &event("EXIT", &plate, entry + stay * 60));
                sessions += 1;
            }
            date = date.tomorrow().unwrap();
        }
    }
    // Every central holds every session.
    let path = format!("/api/reports/daily?from={from}&to={to}");
    for node in &nodes {
        common::eventually("the week replicated", || {
            let (_, v) = common::json(node.api_port, "GET", &path, None);
            (v["totals"]["entries"] == sessions).then_some(())
        });
    }

    let url = format!(
        "http://127.0.0.1:{}/reports?from={from}&to={to}",
        nodes[0].api_port
    );
    let mut page = browser::Browser::open_sized(&chromium, &url, (1200, 1500));
    // Load again now that the error listeners are on, so nothing of the load goes unseen.
    page.reload();
    let rendered = format!("{from}/{to}/");
    common::eventually("the report rendered", || {
        (page.eval("document.body.dataset.rendered") == rendered.as_str()).then_some(())
    });
    let cells = DAYS * 3;
    assert_eq!(
        page.eval("document.querySelectorAll('#chart-revenue rect.bar').length"),
        cells
    );
    assert_eq!(
        page.eval("document.querySelectorAll('#chart-entries rect.bar').length"),
        cells
    );
    // The tallest entries bar belongs to the busiest site and day.
    let busiest = page.eval(
        "Array.from(document.querySelectorAll('#chart-entries rect.bar'))
           .reduce((a, b) => Number(b.dataset.value) > Number(a.dataset.value) ? b : a).dataset.value",
    );
    assert_eq!(busiest, "11");
    assert_eq!(
        page.eval("document.querySelectorAll('#rows tr').length"),
        cells
    );
    assert_eq!(
        page.eval("document.querySelector('#rows tr td:nth-child(2)').textContent"),
        "central-a"
    );
    if let Ok(path) = std::env::var("PARKMESH_SCREENSHOT") {
        std::fs::write(&path, page.screenshot()).unwrap();
    }

    // The CSV link downloads the same range.
    let href = page.eval("document.getElementById('csv').getAttribute('href')");
    let href = href.as_str().unwrap().to_owned();
    assert_eq!(
        href,
        format!("/api/reports/daily?from={from}&to={to}&format=csv")
    );
    let (status, body) = common::request(nodes[0].api_port, "GET", &href, None, &[]).unwrap();
    assert_eq!(status, 200);
    let text = String::from_utf8(body).unwrap();
    assert!(text.starts_with("date,site,entries,"), "{text}");
    assert_eq!(text.lines().count() as i64, 1 + cells);

    // Filter by one site through the form.
    page.eval(
        "document.getElementById('site').value = 'central-b';
         document.getElementById('query').requestSubmit(); true",
    );
    let rendered = format!("{from}/{to}/central-b");
    common::eventually("the site's report rendered", || {
        (page.eval("document.body.dataset.rendered") == rendered.as_str()).then_some(())
    });
    assert_eq!(
        page.eval("document.querySelectorAll('#rows tr').length"),
        DAYS
    );
    assert_eq!(
        page.eval("document.querySelectorAll('#chart-revenue rect.bar').length"),
        DAYS
    );
    assert_eq!(
        page.eval("document.getElementById('csv').getAttribute('href')"),
        format!("/api/reports/daily?from={from}&to={to}&format=csv&site=central-b")
    );

    assert_eq!(page.eval("document.body.dataset.errors"), "0");
    assert!(page.errors.is_empty(), "console errors: {:?}", page.errors);
    for node in &nodes {
        assert!(
            common::panics(node).is_empty(),
            "{:?}",
            common::panics(node)
        );
    }
}
