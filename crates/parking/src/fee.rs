//! The tariff: the seed's fee rule in integer arithmetic, and the duration text.
//!
//! Rule (the original system's formula): with `h` the stay in hours, `h <= fee_base` is free; otherwise
//! every started hour after the free window costs `fee_per_hour`: `ceil(h - fee_base) ×
//! fee_per_hour`. A negative stay (clock skew) is free. Durations are real elapsed time between
//! two UTC instants, so a daylight-saving change in the site's zone never changes a fee.

use serde::{Deserialize, Serialize};

use crate::error::ParkingError;
use crate::error::field;

const MS_PER_HOUR: i64 = 3_600_000;

/// The fee table (also the `fees.set` payload).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Tariff {
    /// Free hours (seed: 0.5).
    pub fee_base: f64,
    /// VND per started hour after the free window (seed: 25 000).
    pub fee_per_hour: i64,
}

impl Default for Tariff {
    fn default() -> Self {
        Self {
            fee_base: 0.5,
            fee_per_hour: 25_000,
        }
    }
}

impl Tariff {
    /// Checks the values: `fee_base` finite, 0..=720 hours; `fee_per_hour` 0..=100 000 000.
    pub fn validate(&self) -> Result<(), ParkingError> {
        if !self.fee_base.is_finite() || !(0.0..=720.0).contains(&self.fee_base) {
            return Err(field(
                "fees.fee_base",
                "must be a number of free hours from 0 to 720",
            ));
        }
        if !(0..=100_000_000).contains(&self.fee_per_hour) {
            return Err(field(
                "fees.fee_per_hour",
                "must be a whole number of VND from 0 to 100000000",
            ));
        }
        Ok(())
    }

    /// The fee in VND for a stay from `entry_ms` to `exit_ms`.
    pub fn fee(&self, entry_ms: i64, exit_ms: i64) -> i64 {
        let stay = exit_ms.saturating_sub(entry_ms);
        let free = (self.fee_base.max(0.0) * MS_PER_HOUR as f64).round() as i64;
        if stay <= free {
            return 0;
        }
        let billable = stay - free;
        let hours =
            billable.div_euclid(MS_PER_HOUR) + i64::from(billable.rem_euclid(MS_PER_HOUR) > 0);
        hours.saturating_mul(self.fee_per_hour.max(0))
    }
}

/// Duration text in the edge's style: `"N ngày H giờ M phút"`, `"H giờ M phút"` or `"M phút"`,
/// from whole minutes (no floating-point truncation: 91 min reads "1 giờ 31 phút").
pub fn duration_text(ms: i64) -> String {
    let minutes = ms.max(0) / 60_000;
    let (days, hours, mins) = (minutes / 1440, minutes % 1440 / 60, minutes % 60);
    if days > 0 {
        format!("{days} ngày {hours} giờ {mins} phút")
    } else if hours > 0 {
        format!("{hours} giờ {mins} phút")
    } else {
        format!("{mins} phút")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn seed_worked_examples() {
        let t = Tariff::default();
        for (minutes, fee) in [
            (20, 0),
            (30, 0),
            (31, 25_000),
            (90, 25_000),
            (91, 50_000),
            (24 * 60, 600_000),
        ] {
            assert_eq!(t.fee(0, minutes * MIN), fee, "{minutes} min");
        }
        assert_eq!(t.fee(10 * MIN, 0), 0, "negative stays are free");
        assert_eq!(
            t.fee(0, 30 * MIN + 1000),
            25_000,
            "one second past the free window starts an hour"
        );
    }

    #[test]
    fn duration_text_has_no_truncation_error() {
        assert_eq!(duration_text(91 * MIN), "1 giờ 31 phút");
        assert_eq!(duration_text(20 * MIN), "20 phút");
        assert_eq!(duration_text(2 * 60 * MIN), "2 giờ 0 phút");
        assert_eq!(duration_text((24 * 60 + 61) * MIN), "1 ngày 1 giờ 1 phút");
    }

    #[test]
    fn fees_use_real_elapsed_time_across_dst() {
        // America/New_York springs forward at 2026-03-08 02:00: 01:30 -> 03:30 local is one hour.
        let tz = jiff::tz::TimeZone::get("America/New_York").unwrap();
        let at = |h: i8, m: i8| {
            jiff::civil::date(2026, 3, 8)
                .at(h, m, 0, 0)
                .to_zoned(tz.clone())
                .unwrap()
                .timestamp()
                .as_millisecond()
        };
        let t = Tariff::default();
        assert_eq!(at(3, 30) - at(1, 30), 60 * MIN);
        assert_eq!(t.fee(at(1, 30), at(3, 30)), 25_000);
        assert_eq!(duration_text(at(3, 30) - at(1, 30)), "1 giờ 0 phút");
    }

    #[test]
    fn validation_names_the_field() {
        let bad = Tariff {
            fee_base: -1.0,
            fee_per_hour: 1,
        };
        assert!(bad.validate().unwrap_err().to_string().contains("fee_base"));
        let bad = Tariff {
            fee_base: 0.5,
            fee_per_hour: -5,
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("fee_per_hour")
        );
    }
}
