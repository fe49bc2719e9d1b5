//! Site-local time: the seed's `YYYY-MM-DD HH:MM:SS` text and the bounds of "today".

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::error::ParkingError;

/// Looks up an IANA time zone by name.
pub fn parse_tz(name: &str) -> Result<TimeZone, ParkingError> {
    TimeZone::get(name).map_err(|_| ParkingError::UnknownTimeZone(name.to_owned()))
}

/// Formats an instant (ms since epoch) as site-local `YYYY-MM-DD HH:MM:SS`.
pub fn format_local(ms: i64, tz: &TimeZone) -> String {
    match Timestamp::from_millisecond(ms) {
        Ok(ts) => ts
            .to_zoned(tz.clone())
            .strftime("%Y-%m-%d %H:%M:%S")
            .to_string(),
        Err(_) => String::new(),
    }
}

/// Parses site-local text `YYYY-MM-DD HH:MM:SS` (also with `T` between date and time, or with
/// fractional seconds) as an instant in `tz`, in ms. `None` when the text is not such a time or
/// lies outside 1970..=9999. A time that a daylight-saving change skips or repeats resolves as
/// the clocks showed it (the earlier offset for a repeated hour).
pub fn parse_local(text: &str, tz: &TimeZone) -> Option<i64> {
    let dt: jiff::civil::DateTime = text.trim().parse().ok()?;
    let ms = dt.to_zoned(tz.clone()).ok()?.timestamp().as_millisecond();
    (0..=253_402_300_799_999).contains(&ms).then_some(ms)
}

/// `[start, end)` in ms of the site-local day containing `now_ms`.
pub fn local_day_range(now_ms: i64, tz: &TimeZone) -> (i64, i64) {
    let Ok(ts) = Timestamp::from_millisecond(now_ms) else {
        return (now_ms, now_ms);
    };
    let day = ts.to_zoned(tz.clone()).date();
    let start = day
        .to_zoned(tz.clone())
        .map(|z| z.timestamp().as_millisecond());
    let end = day
        .tomorrow()
        .and_then(|d| d.to_zoned(tz.clone()))
        .map(|z| z.timestamp().as_millisecond());
    match (start, end) {
        (Ok(s), Ok(e)) => (s, e),
        _ => (now_ms, now_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_in_the_site_zone() {
        let tz = parse_tz("Asia/Ho_Chi_Minh").unwrap();
        // 2026-01-01 00:00:00 UTC.
        assert_eq!(format_local(1_767_225_600_000, &tz), "2026-01-01 07:00:00");
        assert!(parse_tz("Mars/Olympus").is_err());
    }

    #[test]
    fn parses_local_text() {
        let tz = parse_tz("Asia/Ho_Chi_Minh").unwrap();
        let ms = 1_767_225_600_000;
        assert_eq!(parse_local("2026-01-01 07:00:00", &tz), Some(ms));
        assert_eq!(parse_local(" 2026-01-01T07:00:00 ", &tz), Some(ms));
        assert_eq!(
            parse_local("2026-01-01 07:00:00.250000", &tz),
            Some(ms + 250)
        );
        for bad in [
            "",
            "yesterday",
            "2026-13-01 07:00:00",
            "2026-01-01 25:00:00",
            "01/01/2026",
        ] {
            assert_eq!(parse_local(bad, &tz), None, "{bad}");
        }
    }

    #[test]
    fn today_is_the_local_day() {
        let tz = parse_tz("Asia/Ho_Chi_Minh").unwrap();
        // 2026-01-01 20:00 UTC is 2026-01-02 03:00 local.
        let (s, e) = local_day_range(1_767_225_600_000 + 20 * 3_600_000, &tz);
        assert_eq!(format_local(s, &tz), "2026-01-02 00:00:00");
        assert_eq!(e - s, 86_400_000);
    }

    #[test]
    fn a_daylight_saving_day_is_23_hours_long() {
        let tz = parse_tz("America/New_York").unwrap();
        // 2026-03-08 12:00 local (16:00 UTC): clocks sprang forward at 02:00.
        let noon = 1_772_985_600_000;
        assert_eq!(format_local(noon, &tz), "2026-03-08 12:00:00");
        let (s, e) = local_day_range(noon, &tz);
        assert_eq!(format_local(s, &tz), "2026-03-08 00:00:00");
        assert_eq!(format_local(e, &tz), "2026-03-09 00:00:00");
        assert_eq!(e - s, 23 * 3_600_000);
    }
}
