//! The JSON decoding primitives under stage one: typed field readers that record a problem naming
//! the field path instead of stopping, unknown-key warnings with typo suggestions, and the
//! [`Report`] both stages collect their diagnostics in.
//!
//! Nothing here knows a config key; `raw` declares the keys and picks a reader for each.

use serde_json::{Map, Value};

use crate::error::Diagnostic;

pub(crate) fn object<'a>(
    value: &'a Value,
    path: &str,
    report: &mut Report,
) -> Option<&'a Map<String, Value>> {
    match value {
        Value::Object(obj) => Some(obj),
        other => {
            let what = if path.is_empty() {
                "the document"
            } else {
                "this field"
            };
            report.problem(
                path,
                format!("expected an object for {what}, found {}", kind(other)),
            );
            None
        }
    }
}

/// A string field; `None` when absent or null, or (with a problem recorded) of another type.
pub(crate) fn string(
    obj: &Map<String, Value>,
    key: &str,
    parent: &str,
    report: &mut Report,
) -> Option<String> {
    match obj.get(key)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => {
            let hint = match other {
                Value::Number(n) => format!(" — put it in quotes: \"{n}\""),
                _ => String::new(),
            };
            report.problem(
                join(parent, key),
                format!("expected a string, found {}{hint}", kind(other)),
            );
            None
        }
    }
}

/// An integer field; `None` when absent or null, or (with a problem recorded) of another type.
pub(crate) fn integer(
    obj: &Map<String, Value>,
    key: &str,
    parent: &str,
    report: &mut Report,
) -> Option<i64> {
    match obj.get(key)? {
        Value::Null => None,
        Value::Number(n) => match n.as_i64() {
            Some(int) => Some(int),
            None => {
                report.problem(
                    join(parent, key),
                    format!("expected a whole number, found {n}"),
                );
                None
            }
        },
        other => {
            let hint = match other {
                Value::String(s) if s.trim().parse::<i64>().is_ok() => {
                    format!(" — write {} without quotes", s.trim())
                }
                _ => String::new(),
            };
            report.problem(
                join(parent, key),
                format!("expected a number, found {}{hint}", kind(other)),
            );
            None
        }
    }
}

pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// `parent.key`, or `key` at the top level.
pub(crate) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// Problems and warnings collected across both stages.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) problems: Vec<Diagnostic>,
    pub(crate) warnings: Vec<Diagnostic>,
}

impl Report {
    /// Records a problem, unless the same field or one containing it already has one (a field that
    /// failed to decode holds a placeholder that would otherwise draw a second, misleading error).
    pub(crate) fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        let path = path.into();
        if !self.blocked(&path) {
            self.problems.push(Diagnostic {
                path,
                message: message.into(),
            });
        }
    }

    pub(crate) fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Diagnostic {
            path: path.into(),
            message: message.into(),
        });
    }

    /// Whether `path` or a field containing it already has a problem.
    pub(crate) fn blocked(&self, path: &str) -> bool {
        self.problems.iter().any(|p| {
            p.path.is_empty()
                || p.path == path
                || path
                    .strip_prefix(p.path.as_str())
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
        })
    }

    pub(crate) fn unknown_keys(&mut self, obj: &Map<String, Value>, known: &[&str], path: &str) {
        for key in obj.keys().filter(|k| !known.contains(&k.as_str())) {
            let hint = match closest(key, known) {
                Some(near) => format!(" — did you mean \"{near}\"?"),
                None => format!(" — known keys here: {}", known.join(", ")),
            };
            self.warn(join(path, key), format!("unknown key ignored{hint}"));
        }
    }
}

/// The known key nearest to `key`, if it is a plausible typo (edit distance at most 2, or the same
/// letters in another case).
pub(crate) fn closest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    let lower = key.to_ascii_lowercase();
    known
        .iter()
        .map(|k| (edit_distance(&lower, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typo_suggestions() {
        let central = &["id", "ip", "p2p_port", "api_port"];
        assert_eq!(closest("p2pport", central), Some("p2p_port"));
        assert_eq!(closest("API_PORT", central), Some("api_port"));
        assert_eq!(closest("timezon", &["bind", "timezone"]), Some("timezone"));
        assert_eq!(closest("location", central), None);
    }

    #[test]
    fn blocked_covers_sub_paths_only() {
        let mut report = Report::default();
        report.problem("peer_centrals[1]", "expected an object");
        assert!(report.blocked("peer_centrals[1]"));
        assert!(report.blocked("peer_centrals[1].id"));
        assert!(!report.blocked("peer_centrals[10].id"));
        assert!(!report.blocked("peer_centrals[0].id"));
    }
}
