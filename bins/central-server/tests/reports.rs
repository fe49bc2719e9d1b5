//! Network reports against three real centrals in three time zones (Ho Chi Minh City, Berlin,
//! New York): a scripted day of traffic with entries, exits, cross-site sessions, a plate edit,
//! a deleted session, an exit that matched no entry, an exit whose entry arrived later, a
//! subscription exemption and a session across midnight; the daily and cross-site reports are
//! checked figure by figure and must be byte-identical (JSON and CSV) on all three centrals.
//! Bad queries are refused with a 400 naming the parameter.

mod common;

use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};
use serde_json::{Value, json};

use common::SECRET;

const ZONES: [&str; 3] = ["Asia/Ho_Chi_Minh", "Europe/Berlin", "America/New_York"];

fn event(kind: &str, plate: &str, ts: f64) -> Value {
    common::edge_event(kind, plate, ts)
}

fn post(c: &common::Central, ev: &Value) -> Value {
    common::post_event(c.api_port, ev)
}

/// Epoch seconds of `hh:mm` local time on `date` in `zone`.
fn at(zone: &str, date: Date, hh: i8, mm: i8) -> f64 {
    date.at(hh, mm, 0, 0)
        .in_tz(zone)
        .unwrap()
        .timestamp()
        .as_second() as f64
}

/// The default tariff: 30 free minutes, then 25 000 VND per started hour.
fn fee(entry: f64, exit: f64) -> i64 {
    let stay = (exit - entry) as i64;
    if stay <= 1800 {
        0
    } else {
        (stay - 1800 + 3599) / 3600 * 25_000
    }
}

fn get(c: &common::Central, path: &str, headers: &[(&str, &str)]) -> (u16, Vec<u8>) {
    common::request(c.api_port, "GET", path, None, headers).unwrap()
}

fn history_id(c: &common::Central, plate: &str) -> i64 {
    common::eventually(&format!("{plate} in history"), || {
        let (_, h) = common::json(
            c.api_port,
            "GET",
            &format!("/api/parking/history?search={plate}"),
            None,
        );
        h["history"][0]["id"].as_i64()
    })
}

#[allow(clippy::too_many_arguments)]
fn day(
    date: Date,
    site: &str,
    entries: u64,
    exits: u64,
    revenue: i64,
    exempt: u64,
    exceptions: u64,
    stays: &[i64],
    peak: (i64, u8),
) -> Value {
    let mut sorted = stays.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    let avg = (n > 0).then(|| {
        let total: i64 = sorted.iter().sum();
        (2 * total + n as i64).div_euclid(2 * n as i64)
    });
    let p90 = (n > 0).then(|| sorted[(9 * n).div_ceil(10) - 1]);
    json!({
        "date": date.to_string(), "site": site, "entries": entries, "exits": exits,
        "revenue": revenue, "exempt_exits": exempt, "exception_sessions": exceptions,
        "exits_without_entry": exceptions, "conflicts": 0,
        "avg_stay_seconds": avg, "p90_stay_seconds": p90,
        "peak_occupancy": peak.0, "peak_hour": peak.1,
    })
}

#[test]
fn reports_agree_on_every_central_with_exact_figures() {
    let m = common::plan(&["central-a", "central-b", "central-c"]);
    let extra = |i: usize| json!({ "timezone": ZONES[i], "max_event_age_secs": 2_592_000 });
    let a = common::start_member(&m, 0, &[1, 2], SECRET, extra(0));
    let b = common::start_member(&m, 1, &[0, 2], SECRET, extra(1));
    let c = common::start_member(&m, 2, &[0, 1], SECRET, extra(2));
    let all = [&a, &b, &c];
    let [hcm, ber, nyc] = ZONES;
    // The scripted day: three days ago at A (well inside max_event_age_secs).
    let d = Timestamp::now().in_tz(hcm).unwrap().date() - 3.days();
    let d1 = d.tomorrow().unwrap();
    common::eventually("the mesh is connected", || {
        all.iter()
            .all(|n| {
                let (_, v) = common::json(n.api_port, "GET", "/api/p2p/status", None);
                v["peers"]
                    .as_array()
                    .is_some_and(|p| p.iter().filter(|p| p["connected"] == true).count() == 2)
            })
            .then_some(())
    });
    let subs = json!({ "subscriptions": [{ "id": 1, "plate_number": "51A-100.08", "owner_name": "ACME",
        "type": "monthly", "status": "active", "start_date": "2020-01-01", "phone": "", "note": "" }] });
    let (status, v) = common::json(a.api_port, "PUT", "/api/subscriptions", Some(&subs));
    assert_eq!(status, 200, "{v}");

    // A (Ho Chi Minh City).
    let (p1_in, p1_out) = (at(hcm, d, 8, 0), at(hcm, d, 10, 0));
    post(&a, &event("ENTRY", "51A10001", p1_in));
    post(&a, &event("EXIT", "51A10001", p1_out));
    let p2_in = at(hcm, d, 9, 0); // leaves at B
    post(&a, &event("ENTRY", "51A10002", p2_in));
    post(&a, &event("ENTRY", "51A10005", at(hcm, d, 11, 0))); // a misread, deleted below
    let (p8_in, p8_out) = (at(hcm, d, 14, 0), at(hcm, d, 18, 0)); // subscription
    post(&a, &event("ENTRY", "51A10008", p8_in));
    let v = post(&a, &event("EXIT", "51A10008", p8_out));
    assert_eq!(v["fee"], 0, "exempt: {v}");
    // B (Berlin).
    let (p4_in, p4_out) = (at(ber, d, 7, 0), at(ber, d, 7, 20));
    post(&b, &event("ENTRY", "51A10004", p4_in)); // edited to 51A10044 below
    let p9_in = at(ber, d, 9, 0); // leaves at A
    post(&b, &event("ENTRY", "51A10009", p9_in));
    post(&b, &event("EXIT", "51A10006", at(ber, d, 15, 0))); // no entry anywhere
    // C (New York): an exit that arrives before its entry, and a session across midnight.
    let (p7_in, p7_out) = (at(nyc, d, 10, 0), at(nyc, d, 12, 0));
    let v = post(&c, &event("EXIT", "51A10007", p7_out));
    assert_eq!(v["exception"], true, "{v}");
    let (p3_in, p3_out) = (at(nyc, d, 22, 0), at(nyc, d1, 1, 30));
    post(&c, &event("ENTRY", "51A10003", p3_in));
    post(&c, &event("EXIT", "51A10003", p3_out));

    // Cross-site exits once the entries have replicated.
    let p2_out = at(ber, d, 12, 0);
    history_id(&b, "51A10002");
    post(&b, &event("EXIT", "51A10002", p2_out));
    let p9_out = at(hcm, d, 20, 0);
    history_id(&a, "51A10009");
    post(&a, &event("EXIT", "51A10009", p9_out));

    // A report now (C's exit still an exception) must be brought up to date by the changes.
    let path = format!("/api/reports/daily?from={d}&to={d1}");
    let (status, _) = get(&c, &path, &[]);
    assert_eq!(status, 200);
    post(&c, &event("ENTRY", "51A10007", p7_in)); // the late entry completes the session
    // An edit, then the exit under the corrected plate; a delete at A.
    let id = history_id(&b, "51A10004");
    let (status, v) = common::json(
        b.api_port,
        "PUT",
        &format!("/api/parking/history/{id}"),
        Some(&json!({ "plate_view": "51A-100.44" })),
    );
    assert_eq!(status, 200, "{v}");
    post(&b, &event("EXIT", "51A10044", p4_out));
    let id = history_id(&a, "51A10005");
    let (status, v) = common::json(
        a.api_port,
        "DELETE",
        &format!("/api/parking/history/{id}"),
        None,
    );
    assert_eq!(status, 200, "{v}");

    let fee2 = fee(p2_in, p2_out);
    let fee9 = fee(p9_in, p9_out);
    let stay = |i: f64, o: f64| (o - i) as i64;
    let days = json!([
        day(
            d,
            "central-a",
            3,
            3,
            fee(p1_in, p1_out) + fee9,
            1,
            0,
            &[
                stay(p1_in, p1_out),
                stay(p8_in, p8_out),
                stay(p9_in, p9_out)
            ],
            (2, 9)
        ),
        day(
            d,
            "central-b",
            2,
            3,
            fee2,
            0,
            1,
            &[stay(p2_in, p2_out), stay(p4_in, p4_out)],
            (1, 7)
        ),
        day(
            d,
            "central-c",
            2,
            1,
            fee(p7_in, p7_out),
            0,
            0,
            &[stay(p7_in, p7_out)],
            (1, 10)
        ),
        day(d1, "central-a", 0, 0, 0, 0, 0, &[], (0, 0)),
        day(d1, "central-b", 0, 0, 0, 0, 0, &[], (0, 0)),
        day(
            d1,
            "central-c",
            0,
            1,
            fee(p3_in, p3_out),
            0,
            0,
            &[stay(p3_in, p3_out)],
            (1, 0)
        ),
    ]);
    let stays = [
        stay(p1_in, p1_out),
        stay(p8_in, p8_out),
        stay(p9_in, p9_out),
        stay(p2_in, p2_out),
        stay(p4_in, p4_out),
        stay(p7_in, p7_out),
        stay(p3_in, p3_out),
    ];
    let total: i64 = stays.iter().sum();
    let revenue = fee(p1_in, p1_out) + fee9 + fee2 + fee(p7_in, p7_out) + fee(p3_in, p3_out);
    let expected = json!({
        "success": true, "from": d.to_string(), "to": d1.to_string(), "site": null,
        "sites": [
            { "id": "central-a", "timezone": hcm },
            { "id": "central-b", "timezone": ber },
            { "id": "central-c", "timezone": nyc },
        ],
        "days": days,
        "totals": {
            "entries": 7, "exits": 8, "revenue": revenue, "exempt_exits": 1,
            "exception_sessions": 1, "exits_without_entry": 1, "conflicts": 0,
            "avg_stay_seconds": (2 * total + 7) / 14,
        },
    });
    // Poll until every central holds every change, then compare bytes.
    let bodies: Vec<Vec<u8>> = all
        .iter()
        .map(|n| {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
            loop {
                let (status, body) = get(n, &path, &[]);
                let v: Value = serde_json::from_slice(&body).unwrap();
                if status == 200 && v == expected {
                    break body;
                }
                if std::time::Instant::now() > deadline {
                    assert_eq!(
                        serde_json::to_string_pretty(&v).unwrap(),
                        serde_json::to_string_pretty(&expected).unwrap(),
                        "the report did not converge"
                    );
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        })
        .collect();
    assert_eq!(bodies[0], bodies[1], "A and B differ");
    assert_eq!(bodies[0], bodies[2], "A and C differ");

    // CSV: by Accept or by format=csv, identical everywhere.
    let csv = |n: &common::Central, accept: bool| {
        let (status, body) = if accept {
            get(n, &path, &[("Accept", "text/csv")])
        } else {
            get(n, &format!("{path}&format=csv"), &[])
        };
        assert_eq!(status, 200);
        String::from_utf8(body).unwrap()
    };
    let text = csv(&a, true);
    assert_eq!(text, csv(&b, false));
    assert_eq!(text, csv(&c, true));
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "date,site,entries,exits,revenue_vnd,exempt_exits,exception_sessions,exits_without_entry,\
         conflicts,avg_stay_seconds,p90_stay_seconds,peak_occupancy,peak_hour"
    );
    assert_eq!(lines.len(), 8, "header, 6 rows, final empty: {text}");
    assert_eq!(lines[4], format!("{d1},central-a,0,0,0,0,0,0,0,,,0,0"));
    let s3 = stay(p3_in, p3_out);
    assert_eq!(
        lines[6],
        format!(
            "{d1},central-c,0,1,{},0,0,0,0,{s3},{s3},1,0",
            fee(p3_in, p3_out)
        )
    );
    let (_, head) = {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", a.api_port)).unwrap();
        use std::io::{Read, Write};
        write!(
            s,
            "GET {path}&format=csv HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut buf = String::new();
        s.read_to_string(&mut buf).unwrap();
        ((), buf.to_ascii_lowercase())
    };
    assert!(
        head.contains("content-type: text/csv; charset=utf-8"),
        "{head}"
    );
    assert!(
        head.contains(&format!(
            "content-disposition: attachment; filename=\"parkmesh-daily-{d}-{d1}.csv\""
        )),
        "{head}"
    );

    // One site; cross-site flows.
    let (_, v) = common::json(b.api_port, "GET", &format!("{path}&site=central-c"), None);
    assert_eq!(v["days"].as_array().map(Vec::len), Some(2), "{v}");
    assert_eq!(v["totals"]["entries"], 2);
    let cross = format!("/api/reports/cross-site?from={d}&to={d1}");
    let expected_flows = json!([
        { "date": d.to_string(), "from_site": "central-a", "to_site": "central-b", "sessions": 1 },
        { "date": d.to_string(), "from_site": "central-b", "to_site": "central-a", "sessions": 1 },
    ]);
    let mut flows = Vec::new();
    for n in all {
        let (status, body) = get(n, &cross, &[]);
        assert_eq!(status, 200);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["flows"], expected_flows, "{v}");
        flows.push(body);
    }
    assert_eq!(flows[0], flows[1]);
    assert_eq!(flows[0], flows[2]);
    let (_, body) = get(&c, &format!("{cross}&format=csv"), &[]);
    assert_eq!(
        String::from_utf8(body).unwrap(),
        format!(
            "date,from_site,to_site,sessions\r\n{d},central-a,central-b,1\r\n{d},central-b,central-a,1\r\n"
        )
    );

    // Bad queries: a 400 naming the parameter, never a 500.
    for (query, names) in [
        (format!("from={d1}&to={d}"), "from"),
        ("from=2026-13-01&to=2026-12-01".to_owned(), "from"),
        ("from=2026-01-01&to=yesterday".to_owned(), "to"),
        ("from=2026-1-1&to=2026-01-02".to_owned(), "from"),
        ("from=2025-01-01&to=2026-01-02".to_owned(), "from/to"),
        ("from=2026-01-01".to_owned(), "to"),
        (format!("from={d}&to={d1}&site=central-x"), "site"),
        (format!("from={d}&to={d1}&format=xml"), "format"),
    ] {
        for endpoint in ["daily", "cross-site"] {
            let (status, v) = common::json(
                a.api_port,
                "GET",
                &format!("/api/reports/{endpoint}?{query}"),
                None,
            );
            assert_eq!(status, 400, "{query}: {v}");
            assert_eq!(v["success"], false);
            let msg = v["error"].as_str().unwrap();
            assert!(
                msg.contains(&format!("parameter {names}"))
                    || msg.contains(&format!("parameters {names}")),
                "{query}: {msg}"
            );
        }
    }
    for n in all {
        assert!(common::panics(n).is_empty(), "{:?}", common::panics(n));
    }
}
