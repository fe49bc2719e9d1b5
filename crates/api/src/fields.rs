//! Typed access to fields of an untrusted JSON object, with errors that name the field.

use serde_json::{Map, Value};

use crate::reply::{ApiError, kind_name};

/// Longest string accepted in any text field of a request.
pub(crate) const MAX_TEXT: usize = 256;

fn get<'a>(map: &'a Map<String, Value>, path: &str, key: &str) -> Option<&'a Value> {
    let _ = path;
    map.get(key).filter(|v| !v.is_null())
}

fn name(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// A required string field, non-empty, at most `MAX_TEXT` characters.
pub(crate) fn req_str(map: &Map<String, Value>, path: &str, key: &str) -> Result<String, ApiError> {
    opt_str(map, path, key)?
        .ok_or_else(|| ApiError::BadRequest(format!("missing field {}", name(path, key))))
}

/// An optional string field (numbers are accepted and turned into text).
pub(crate) fn opt_str(
    map: &Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<Option<String>, ApiError> {
    match get(map, path, key) {
        None => Ok(None),
        Some(Value::String(s)) => {
            if s.chars().count() > MAX_TEXT {
                return Err(ApiError::BadRequest(format!(
                    "field {} is too long ({} characters, at most {MAX_TEXT})",
                    name(path, key),
                    s.chars().count()
                )));
            }
            Ok(Some(s.clone()))
        }
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(ApiError::BadRequest(format!(
            "field {} must be a string, got {}",
            name(path, key),
            kind_name(other)
        ))),
    }
}

/// A required integer field (integral numbers or numeric strings).
pub(crate) fn req_i64(map: &Map<String, Value>, path: &str, key: &str) -> Result<i64, ApiError> {
    opt_i64(map, path, key)?
        .ok_or_else(|| ApiError::BadRequest(format!("missing field {}", name(path, key))))
}

/// An optional integer field.
pub(crate) fn opt_i64(
    map: &Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<Option<i64>, ApiError> {
    let bad = |what: &str| {
        ApiError::BadRequest(format!(
            "field {} must be an integer, got {what}",
            name(path, key)
        ))
    };
    match get(map, path, key) {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(i) => Ok(Some(i)),
            None => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
                _ => Err(bad(&n.to_string())),
            },
        },
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| bad("a non-numeric string")),
        Some(other) => Err(bad(kind_name(other))),
    }
}

/// An optional finite number field.
pub(crate) fn opt_f64(
    map: &Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<Option<f64>, ApiError> {
    let bad = |what: &str| {
        ApiError::BadRequest(format!(
            "field {} must be a number, got {what}",
            name(path, key)
        ))
    };
    match get(map, path, key) {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) if f.is_finite() => Ok(Some(f)),
            _ => Err(bad("a non-finite number")),
        },
        Some(Value::String(s)) => match s.trim().parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Some(f)),
            _ => Err(bad("a non-numeric string")),
        },
        Some(other) => Err(bad(kind_name(other))),
    }
}

/// A required object field.
pub(crate) fn req_obj<'a>(
    map: &'a Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<&'a Map<String, Value>, ApiError> {
    match get(map, path, key) {
        None => Err(ApiError::BadRequest(format!(
            "missing field {}",
            name(path, key)
        ))),
        Some(Value::Object(m)) => Ok(m),
        Some(other) => Err(ApiError::BadRequest(format!(
            "field {} must be an object, got {}",
            name(path, key),
            kind_name(other)
        ))),
    }
}
