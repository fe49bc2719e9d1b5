//! Network reports: `GET /api/reports/daily`, `GET /api/reports/cross-site` (JSON, or CSV with
//! `Accept: text/csv` or `format=csv`) and the report page `GET /reports`.
//!
//! The figures come from the storage's per (site, local day) report projection; this module
//! reads and checks the query (`from`, `to`, `site`, `format`; every bad value is a 400 naming
//! the parameter) and renders JSON, CSV and the page. Nothing here depends on which central
//! answers: two centrals holding the same events answer byte for byte the same.
//!
//! The page (`assets/reports.html`) is one plain HTML file with inline CSS and JS compiled into
//! the binary, like the status page: the server writes the report of the requested range into
//! it, and the script draws the chart (inline SVG) and the table and fetches other ranges.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use jiff::civil::Date;
use parkmesh_parking::report::{MAX_RANGE_DAYS, mean, range_days};
use parkmesh_storage::{DailyReport, FlowRow, ReportSite};
use serde_json::{Value, json};
use warp::Filter;
use warp::http::StatusCode;

use crate::reply::ApiError;
use crate::state::AppState;

/// The page, with `__REPORT__` where the server puts the report.
const PAGE: &str = include_str!("assets/reports.html");
/// Days shown when the query names no range: the last week, today included.
const DEFAULT_DAYS: i64 = 7;

/// JSON or CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
}

/// A checked report query.
#[derive(Debug, Clone)]
struct Query {
    from: Date,
    to: Date,
    site: Option<String>,
    format: Format,
}

fn date_param(q: &HashMap<String, String>, name: &str) -> Result<Option<Date>, ApiError> {
    let Some(text) = q.get(name) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::BadRequest(format!(
            "query parameter {name} must be a date YYYY-MM-DD, got {:?}",
            text.chars().take(40).collect::<String>()
        ))
    };
    let ok_shape = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !ok_shape {
        return Err(bad());
    }
    text.parse::<Date>().map(Some).map_err(|_| bad())
}

fn parse_query(
    state: &AppState,
    q: &HashMap<String, String>,
    accept: Option<&str>,
) -> Result<Query, ApiError> {
    let from = date_param(q, "from")?;
    let to = date_param(q, "to")?;
    let (from, to) = match (from, to) {
        (Some(f), Some(t)) => (f, t),
        (None, None) => {
            let today = parkmesh_parking::report::local_date(
                parkmesh_clock::now_ms(),
                &state.settings().tz,
            );
            let from = today
                .checked_sub(jiff::Span::new().days(DEFAULT_DAYS - 1))
                .unwrap_or(today);
            (from, today)
        }
        (Some(_), None) => {
            return Err(ApiError::BadRequest(
                "query parameter to is missing (give both from and to, or neither)".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(ApiError::BadRequest(
                "query parameter from is missing (give both from and to, or neither)".into(),
            ));
        }
    };
    if from > to {
        return Err(ApiError::BadRequest(format!(
            "query parameter from ({from}) is after to ({to})"
        )));
    }
    let days = range_days(from, to);
    if days > MAX_RANGE_DAYS {
        return Err(ApiError::BadRequest(format!(
            "query parameters from/to span {days} days; at most {MAX_RANGE_DAYS} are allowed"
        )));
    }
    let format = match q.get("format").map(|f| f.to_ascii_lowercase()) {
        Some(f) if f == "csv" => Format::Csv,
        Some(f) if f == "json" => Format::Json,
        Some(f) => {
            return Err(ApiError::BadRequest(format!(
                "query parameter format must be json or csv, got {:?}",
                f.chars().take(40).collect::<String>()
            )));
        }
        None if accept.is_some_and(|a| a.to_ascii_lowercase().contains("text/csv")) => Format::Csv,
        None => Format::Json,
    };
    let site = q.get("site").filter(|s| !s.is_empty()).cloned();
    Ok(Query {
        from,
        to,
        site,
        format,
    })
}

/// A 400 when `site` names no known site.
fn check_site(site: Option<&str>, sites: &[ReportSite]) -> Result<(), ApiError> {
    match site {
        Some(s) if !sites.iter().any(|k| k.id == s) => {
            let known: Vec<&str> = sites.iter().map(|k| k.id.as_str()).collect();
            Err(ApiError::BadRequest(format!(
                "query parameter site: unknown site {:?} (known: {})",
                s.chars().take(64).collect::<String>(),
                known.join(", ")
            )))
        }
        _ => Ok(()),
    }
}

fn opt(v: Option<i64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// The daily report of `q` as JSON; CSV text when asked for.
async fn daily(state: &AppState, q: &Query) -> Result<(Value, String), ApiError> {
    let DailyReport { sites, rows } = state.storage().daily_report(q.from, q.to).await?;
    check_site(q.site.as_deref(), &sites)?;
    let rows: Vec<_> = rows
        .into_iter()
        .filter(|r| q.site.as_ref().is_none_or(|s| *s == r.site))
        .collect();
    let mut csv = String::from(
        "date,site,entries,exits,revenue_vnd,exempt_exits,exception_sessions,\
         exits_without_entry,conflicts,avg_stay_seconds,p90_stay_seconds,peak_occupancy,peak_hour\r\n",
    );
    let (mut entries, mut exits, mut revenue, mut exempt) = (0u64, 0u64, 0i64, 0u64);
    let (mut without, mut conflicts, mut stays, mut stay_total) = (0u64, 0u64, 0u64, 0i64);
    let mut days = Vec::with_capacity(rows.len());
    for r in &rows {
        let f = &r.figures;
        entries += f.entries;
        exits += f.exits;
        revenue += f.revenue;
        exempt += f.exempt_exits;
        without += f.exits_without_entry;
        conflicts += f.conflicts;
        stays += f.stay_count;
        stay_total += f.stay_total_secs;
        let _ = write!(
            csv,
            "{},{},{},{},{},{},{},{},{},{},{},{},{}\r\n",
            r.date,
            r.site,
            f.entries,
            f.exits,
            f.revenue,
            f.exempt_exits,
            f.exception_sessions(),
            f.exits_without_entry,
            f.conflicts,
            opt(f.avg_stay_secs),
            opt(f.p90_stay_secs),
            r.peak_occupancy,
            r.peak_hour
        );
        days.push(json!({
            "date": r.date.to_string(),
            "site": r.site,
            "entries": f.entries,
            "exits": f.exits,
            "revenue": f.revenue,
            "exempt_exits": f.exempt_exits,
            "exception_sessions": f.exception_sessions(),
            "exits_without_entry": f.exits_without_entry,
            "conflicts": f.conflicts,
            "avg_stay_seconds": f.avg_stay_secs,
            "p90_stay_seconds": f.p90_stay_secs,
            "peak_occupancy": r.peak_occupancy,
            "peak_hour": r.peak_hour,
        }));
    }
    let body = json!({
        "success": true,
        "from": q.from.to_string(),
        "to": q.to.to_string(),
        "site": q.site,
        "sites": sites_json(&sites, q.site.as_deref()),
        "days": days,
        "totals": {
            "entries": entries,
            "exits": exits,
            "revenue": revenue,
            "exempt_exits": exempt,
            "exception_sessions": without + conflicts,
            "exits_without_entry": without,
            "conflicts": conflicts,
            "avg_stay_seconds": mean(stay_total, stays),
        },
    });
    Ok((body, csv))
}

fn sites_json(sites: &[ReportSite], only: Option<&str>) -> Vec<Value> {
    sites
        .iter()
        .filter(|s| only.is_none_or(|o| o == s.id))
        .map(|s| json!({ "id": s.id, "timezone": s.timezone }))
        .collect()
}

/// The cross-site report of `q` as JSON, and as CSV text.
async fn cross_site(state: &AppState, q: &Query) -> Result<(Value, String), ApiError> {
    let (sites, flows) = state.storage().cross_site_report(q.from, q.to).await?;
    check_site(q.site.as_deref(), &sites)?;
    let flows: Vec<FlowRow> = flows
        .into_iter()
        .filter(|f| {
            q.site
                .as_ref()
                .is_none_or(|s| *s == f.from_site || *s == f.to_site)
        })
        .collect();
    let mut csv = String::from("date,from_site,to_site,sessions\r\n");
    let mut totals: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for f in &flows {
        let _ = write!(
            csv,
            "{},{},{},{}\r\n",
            f.date, f.from_site, f.to_site, f.sessions
        );
        *totals.entry((&f.from_site, &f.to_site)).or_default() += f.sessions;
    }
    let body = json!({
        "success": true,
        "from": q.from.to_string(),
        "to": q.to.to_string(),
        "site": q.site,
        "sites": sites_json(&sites, None),
        "flows": flows.iter().map(|f| json!({
            "date": f.date.to_string(),
            "from_site": f.from_site,
            "to_site": f.to_site,
            "sessions": f.sessions,
        })).collect::<Vec<_>>(),
        "totals": totals.iter().map(|((a, b), n)| json!({
            "from_site": a, "to_site": b, "sessions": n,
        })).collect::<Vec<_>>(),
    });
    Ok((body, csv))
}

/// The JSON or CSV reply of a report.
fn render(name: &str, q: &Query, body: Value, csv: String) -> Box<dyn warp::Reply> {
    match q.format {
        Format::Json => Box::new(crate::reply::ok(body)),
        Format::Csv => {
            let file = format!("parkmesh-{name}-{}-{}.csv", q.from, q.to);
            let reply = warp::reply::with_header(csv, "content-type", "text/csv; charset=utf-8");
            let reply = warp::reply::with_header(
                reply,
                "content-disposition",
                format!("attachment; filename=\"{file}\""),
            );
            Box::new(warp::reply::with_status(reply, StatusCode::OK))
        }
    }
}

/// What a route answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Page,
    Daily,
    CrossSite,
}

async fn answer(
    s: AppState,
    q: HashMap<String, String>,
    accept: Option<String>,
    kind: Kind,
) -> Box<dyn warp::Reply> {
    let res = async {
        let query = parse_query(&s, &q, accept.as_deref())?;
        Ok::<_, ApiError>(match kind {
            Kind::Page => {
                let json = Query {
                    format: Format::Json,
                    ..query
                };
                let (body, _) = daily(&s, &json).await?;
                Box::new(warp::reply::html(page(&body))) as Box<dyn warp::Reply>
            }
            Kind::Daily => {
                let (body, csv) = daily(&s, &query).await?;
                render("daily", &query, body, csv)
            }
            Kind::CrossSite => {
                let (body, csv) = cross_site(&s, &query).await?;
                render("cross-site", &query, body, csv)
            }
        })
    }
    .await;
    res.unwrap_or_else(|e| Box::new(e.reply()))
}

/// The page with `report` written in: `<` is escaped so no string in it can close the script.
fn page(report: &Value) -> String {
    let data = report.to_string().replace('<', "\\u003c");
    PAGE.replace("__REPORT__", &data)
}

/// `GET /reports`, `GET /api/reports/daily`, `GET /api/reports/cross-site`.
pub(crate) fn routes(
    state: AppState,
) -> impl Filter<Extract = (Box<dyn warp::Reply>,), Error = warp::Rejection> + Clone {
    let st = move || crate::filters::with_state(state.clone());
    let common = move || {
        st().and(warp::query::<HashMap<String, String>>())
            .and(warp::header::optional::<String>("accept"))
    };
    let page = warp::path!("reports")
        .and(warp::get())
        .and(common())
        .then(|s, q, a| answer(s, q, a, Kind::Page));
    let daily = warp::path!("api" / "reports" / "daily")
        .and(warp::get())
        .and(common())
        .then(|s, q, a| answer(s, q, a, Kind::Daily));
    let cross = warp::path!("api" / "reports" / "cross-site")
        .and(warp::get())
        .and(common())
        .then(|s, q, a| answer(s, q, a, Kind::CrossSite));
    page.or(daily).unify().or(cross).unify()
}
