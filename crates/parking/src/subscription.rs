//! Monthly and company passes, applied at the central at exit.
//!
//! A pass exempts the fee when its status is `active`, its plate matches after normalisation,
//! and the exit's site-local date lies in `start_date..=end_date` (both inclusive; a missing
//! bound is open). Two deliberate differences from the seed edge: the end date counts as valid
//! (the seed expired passes at the start of their end date), and type `regular` ("walk-in,
//! charge fee") never exempts.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::error::ParkingError;
use crate::error::field;

/// One pass, in the seed's record shape; unknown fields are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    /// Record id.
    #[serde(default)]
    pub id: serde_json::Value,
    /// Plate as written on the pass.
    pub plate_number: String,
    /// Owner.
    #[serde(default)]
    pub owner_name: String,
    /// `company`, `monthly` or `regular`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// `active` or anything else.
    #[serde(default)]
    pub status: String,
    /// First valid day, `YYYY-MM-DD`.
    #[serde(default)]
    pub start_date: Option<String>,
    /// Last valid day, `YYYY-MM-DD`.
    #[serde(default)]
    pub end_date: Option<String>,
    /// Phone.
    #[serde(default)]
    pub phone: String,
    /// Note.
    #[serde(default)]
    pub note: String,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

fn parse_date(s: &str) -> Option<Date> {
    s.trim().parse().ok()
}

impl Subscription {
    /// Checks the record: a plate, a known type, dates as `YYYY-MM-DD`, start <= end.
    pub fn validate(&self, idx: usize) -> Result<(), ParkingError> {
        let at = |f: &str| format!("subscriptions[{idx}].{f}");
        if self.plate_number.trim().is_empty() || self.plate_number.len() > 32 {
            return Err(field(
                &at("plate_number"),
                "must be a plate of 1 to 32 characters",
            ));
        }
        if !matches!(self.kind.as_str(), "company" | "monthly" | "regular") {
            return Err(field(&at("type"), "must be company, monthly or regular"));
        }
        let start = match &self.start_date {
            Some(d) if !d.is_empty() => {
                Some(parse_date(d).ok_or_else(|| field(&at("start_date"), "must be YYYY-MM-DD"))?)
            }
            _ => None,
        };
        let end = match &self.end_date {
            Some(d) if !d.is_empty() => {
                Some(parse_date(d).ok_or_else(|| field(&at("end_date"), "must be YYYY-MM-DD"))?)
            }
            _ => None,
        };
        if let (Some(s), Some(e)) = (start, end)
            && s > e
        {
            return Err(field(&at("end_date"), "must not be before start_date"));
        }
        Ok(())
    }
}

fn plate_key(s: &str) -> String {
    s.to_uppercase()
        .chars()
        .filter(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        .collect()
}

/// The type of the pass that exempts `plate_id` at `at_ms`, if any.
pub fn exemption(
    subs: &[Subscription],
    plate_id: &str,
    at_ms: i64,
    tz: &TimeZone,
) -> Option<String> {
    let day = jiff::Timestamp::from_millisecond(at_ms)
        .ok()?
        .to_zoned(tz.clone())
        .date();
    subs.iter()
        .filter(|s| {
            s.status == "active" && s.kind != "regular" && plate_key(&s.plate_number) == plate_id
        })
        .find(|s| {
            let after_start = s
                .start_date
                .as_deref()
                .and_then(parse_date)
                .is_none_or(|d| day >= d);
            let before_end = s
                .end_date
                .as_deref()
                .and_then(parse_date)
                .is_none_or(|d| day <= d);
            after_start && before_end
        })
        .map(|s| s.kind.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(kind: &str, status: &str, start: Option<&str>, end: Option<&str>) -> Subscription {
        serde_json::from_value(serde_json::json!({
            "id": 1, "plate_number": "30A-123.45", "owner_name": "X", "type": kind, "status": status,
            "start_date": start, "end_date": end, "phone": "", "note": ""
        }))
        .unwrap()
    }

    #[test]
    fn active_pass_exempts_within_its_dates_inclusive() {
        let tz = TimeZone::get("Asia/Ho_Chi_Minh").unwrap();
        let at = jiff::civil::date(2026, 11, 30)
            .at(12, 0, 0, 0)
            .to_zoned(tz.clone())
            .unwrap()
            .timestamp()
            .as_millisecond();
        let s = [sub(
            "monthly",
            "active",
            Some("2026-11-01"),
            Some("2026-11-30"),
        )];
        assert_eq!(
            exemption(&s, "30A12345", at, &tz).as_deref(),
            Some("monthly")
        );
        let s = [sub("monthly", "active", Some("2026-12-01"), None)];
        assert_eq!(exemption(&s, "30A12345", at, &tz), None);
        let s = [sub("monthly", "inactive", None, None)];
        assert_eq!(exemption(&s, "30A12345", at, &tz), None);
        let s = [sub("regular", "active", None, None)];
        assert_eq!(exemption(&s, "30A12345", at, &tz), None);
        let s = [sub("company", "active", None, Some("2026-11-29"))];
        assert_eq!(exemption(&s, "30A12345", at, &tz), None);
    }

    #[test]
    fn validation_names_the_field() {
        let bad = sub("monthly", "active", Some("2026-13-01"), None);
        assert!(
            bad.validate(2)
                .unwrap_err()
                .to_string()
                .contains("subscriptions[2].start_date")
        );
        let bad = sub("weekly", "active", None, None);
        assert!(bad.validate(0).unwrap_err().to_string().contains("type"));
    }
}
