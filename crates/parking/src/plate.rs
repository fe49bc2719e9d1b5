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

/// Look-alike characters that plate OCR confuses, each letter with the digit it is read as:
/// O/0, D/0, Q/0, I/1, L/1, B/8, S/5, Z/2, G/6, A/4. The one table of them (the README lists
/// it): exit matching, the watch list and the database index that finds candidates all use it.
pub const CONFUSABLE: [(char, char); 10] = [
    ('O', '0'),
    ('D', '0'),
    ('Q', '0'),
    ('I', '1'),
    ('L', '1'),
    ('B', '8'),
    ('S', '5'),
    ('Z', '2'),
    ('G', '6'),
    ('A', '4'),
];

/// How an exit whose plate has no open session may close another plate's session
/// (`exit_match` in the configuration).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ExitMatch {
    /// Only the exit's own plate.
    Exact,
    /// Also the one open session whose plate differs from the exit's only by [`CONFUSABLE`]
    /// characters, when exactly one does; the default.
    #[default]
    Confusable,
}

impl ExitMatch {
    /// The configuration's spelling: `exact` or `confusable`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exact => "exact",
            Self::Confusable => "confusable",
        }
    }

    /// The mode spelled `s` (as [`ExitMatch::as_str`] writes it), if any.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Exact, Self::Confusable]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// `plate_match` of an exit matched to a confusable plate's session.
pub const MATCH_CONFUSABLE: &str = "confusable";

/// The plate id with every [`CONFUSABLE`] letter replaced by its digit: two plate ids are
/// confusable with each other exactly when their skeletons are equal.
pub fn skeleton(id: &str) -> String {
    id.chars()
        .map(|c| {
            CONFUSABLE
                .iter()
                .find(|(letter, _)| *letter == c)
                .map_or(c, |(_, digit)| *digit)
        })
        .collect()
}

/// Whether plate ids `a` and `b` differ, but only by [`CONFUSABLE`] characters (same length,
/// each differing position a pair of the table or two letters read as the same digit).
pub fn confusable(a: &str, b: &str) -> bool {
    a != b && a.len() == b.len() && skeleton(a) == skeleton(b)
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
    fn confusable_plates_differ_only_by_the_table() {
        assert!(confusable("51G12345", "51G1234S"));
        assert!(confusable("51G12345", "5IG12345"));
        assert!(confusable("30A0D123", "30AO0123"));
        assert!(
            !confusable("51G12345", "51G12345"),
            "equal is not confusable"
        );
        assert!(!confusable("51G12345", "51G1234X"));
        assert!(!confusable("51G12345", "51G123455"));
        assert_eq!(skeleton("OBSZGAIL"), "08526411");
        for (letter, digit) in CONFUSABLE {
            assert!(letter.is_ascii_uppercase() && digit.is_ascii_digit());
        }
        assert_eq!(ExitMatch::parse("exact"), Some(ExitMatch::Exact));
        assert_eq!(ExitMatch::parse("fuzzy"), None);
        assert_eq!(ExitMatch::default().as_str(), "confusable");
    }

    #[test]
    fn vietnamese_letters_stay_in_the_view_only() {
        let p = normalize(" 29đ 123.45", PlatePolicy::Lenient).unwrap();
        assert_eq!((p.id.as_str(), p.view.as_str()), ("2912345", "29Đ 123.45"));
        assert!(normalize("29đ 123.45", PlatePolicy::Strict).is_err());
    }
}
