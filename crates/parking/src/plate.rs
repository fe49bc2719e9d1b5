//! Plate normalisation and validation, one rule for every entry point.
//!
//! `id` is the matching key: uppercase, only `A–Z0–9`. `view` is what the operator sees: the
//! trimmed input, uppercased. Patterns are written by hand (no regex engine needed).

use crate::error::ParkingError;

/// Longest plate text accepted before normalisation.
pub const MAX_PLATE_INPUT: usize = 32;

/// How strictly plate reads are checked before they become events (`plate_policy` in the
/// configuration). Under either policy a plate that fails the check is rejected with a reason
/// naming it; nothing is flagged and stored instead.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum PlatePolicy {
    /// 6 to 12 letters and digits after normalisation (the seed central's rule, with an upper
    /// bound); the default.
    #[default]
    Lenient,
    /// One of the Vietnamese patterns the seed edge checks.
    Strict,
}

impl PlatePolicy {
    /// The configuration's spelling: `lenient` or `strict`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lenient => "lenient",
            Self::Strict => "strict",
        }
    }

    /// The policy spelled `s` (as [`PlatePolicy::as_str`] writes it), if any.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Lenient, Self::Strict]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// A normalised plate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plate {
    /// Matching key (`A–Z0–9`).
    pub id: String,
    /// As shown (trimmed, uppercased).
    pub view: String,
}

fn refuse(raw: &str, reason: &str) -> ParkingError {
    ParkingError::InvalidPlate {
        plate: raw.chars().take(40).collect(),
        reason: reason.to_owned(),
    }
}

/// Normalises and validates a plate under `policy`.
pub fn normalize(raw: &str, policy: PlatePolicy) -> Result<Plate, ParkingError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(refuse(raw, "plate is empty"));
    }
    if trimmed.chars().count() > MAX_PLATE_INPUT {
        return Err(refuse(
            raw,
            &format!("plate is longer than {MAX_PLATE_INPUT} characters"),
        ));
    }
    let view = trimmed.to_uppercase();
    let id: String = view
        .chars()
        .filter(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        .collect();
    match policy {
        PlatePolicy::Lenient if !(6..=12).contains(&id.len()) => {
            Err(refuse(raw, "plate must have 6 to 12 letters and digits"))
        }
        PlatePolicy::Strict if !is_vietnamese(&id) => Err(refuse(
            raw,
            "plate does not match a Vietnamese pattern (e.g. 30A12345, 30AB1234, 123A12345, 59X312345)",
        )),
        _ => Ok(Plate { id, view }),
    }
}

fn run(s: &[u8], pred: fn(&u8) -> bool) -> usize {
    s.iter().take_while(|c| pred(c)).count()
}

/// The seed edge's patterns: 2 digits + 1–2 letters + 4–6 digits; 3 digits + 1–2 letters +
/// 4–6 digits; 2 digits + letter + digit + 4–5 digits (motorbikes).
pub fn is_vietnamese(id: &str) -> bool {
    let b = id.as_bytes();
    let digit = |c: &u8| c.is_ascii_digit();
    let letter = |c: &u8| c.is_ascii_uppercase();
    let lead = run(b, digit);
    if lead == 2 || lead == 3 {
        let rest = &b[lead..];
        let letters = run(rest, letter);
        if (1..=2).contains(&letters) {
            let tail = &rest[letters..];
            let digits = run(tail, digit);
            if digits == tail.len() && (4..=6).contains(&digits) {
                return true;
            }
        }
    }
    // Motorbike: 2 digits, a letter, a digit, then 4–5 digits.
    b.len() >= 8
        && run(b, digit) == 2
        && letter(&b[2])
        && b[3..].iter().all(digit)
        && (5..=6).contains(&(b.len() - 3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_the_seed_edge() {
        let p = normalize(" 30a-123.45 ", PlatePolicy::Strict).unwrap();
        assert_eq!(
            p,
            Plate {
                id: "30A12345".into(),
                view: "30A-123.45".into()
            }
        );
    }

    #[test]
    fn strict_patterns() {
        for ok in ["30A12345", "30AB1234", "123A12345", "59X312345", "29A1234"] {
            assert!(is_vietnamese(ok), "{ok}");
        }
        for bad in ["ABCDEFG", "3A12345", "30A123", "30ABC1234", "30A1234567"] {
            assert!(!is_vietnamese(bad), "{bad}");
        }
    }

    #[test]
    fn refuses_empty_huge_and_short() {
        assert!(normalize("", PlatePolicy::Lenient).is_err());
        assert!(normalize(&"9".repeat(1_000_000), PlatePolicy::Lenient).is_err());
        assert!(normalize("!!", PlatePolicy::Lenient).is_err());
        assert!(normalize("AB12", PlatePolicy::Lenient).is_err());
        assert!(normalize("ABC123", PlatePolicy::Lenient).is_ok());
        assert!(normalize("ABCDEFGHIJKLM", PlatePolicy::Lenient).is_err());
        let err = normalize(&"A".repeat(1 << 20), PlatePolicy::Strict).unwrap_err();
        assert!(
            err.to_string().len() < 200,
            "the error does not echo the input"
        );
    }

    #[test]
    fn vietnamese_letters_stay_in_the_view_only() {
        let p = normalize(" 29đ 123.45", PlatePolicy::Lenient).unwrap();
        assert_eq!((p.id.as_str(), p.view.as_str()), ("2912345", "29Đ 123.45"));
        assert!(normalize("29đ 123.45", PlatePolicy::Strict).is_err());
    }
}
