//! The compact encoding of an event's payload as stored in `events.payload` (a BLOB).
//!
//! A payload is a JSON value; on the API and on the mesh it stays JSON. On disk it is written
//! in this binary form, a third to a quarter of the JSON text: field names and common values are
//! one-byte codes of a fixed dictionary, a string repeated inside one payload (the plate as
//! shown, usually the normalised plate) is a back-reference, integers are varints and floats
//! the digits of their shortest decimal form. Decoding gives back exactly the value encoded
//! (same keys, same numbers, same strings), so the JSON re-made from it is the JSON received.
//!
//! Rows written before migration 0011 hold the payload as JSON text; [`decode_stored`] reads
//! either form, so a database is readable at every step of its upgrade.
//!
//! Format: a version byte ([`VERSION`]), then one value. A value is a tag byte and its body:
//! null, false, true; an unsigned or a negative integer (varint, the negative as its
//! complement); a float as decimal digits (zigzag varint mantissa, zigzag varint exponent) or,
//! when that would not give the same bits, its 8 bytes; a string; an array (count, values); an
//! object (count, then key string and value per field). A string is one varint `c`: `c & 3 == 0`
//! is entry `c >> 2` of [`DICT`], `1` a literal of `c >> 2` UTF-8 bytes that follow, `2` the
//! `c >> 2`-th literal string of this payload again.

use parkmesh_protocol::EventKind;
use serde_json::{Map, Number, Value};

use crate::error::StorageError;

/// First byte of every encoded payload: the format's version.
const VERSION: u8 = 1;

const T_NULL: u8 = 0;
const T_FALSE: u8 = 1;
const T_TRUE: u8 = 2;
const T_UINT: u8 = 3;
const T_NEG: u8 = 4;
const T_F64: u8 = 5;
const T_DEC: u8 = 6;
const T_STR: u8 = 7;
const T_ARRAY: u8 = 8;
const T_OBJECT: u8 = 9;

/// Field names and values common in payloads, by code. Part of the stored format: entries may
/// only be appended, never changed, moved or removed.
const DICT: &[&str] = &[
    "at_ms",
    "camera_id",
    "camera_name",
    "camera_type",
    "confidence",
    "edge_event_id",
    "edge_id",
    "plate_id",
    "plate_view",
    "source",
    "time_clamped",
    "late",
    "operator",
    "entry_ref",
    "tariff",
    "fee_base",
    "fee_per_hour",
    "exempt",
    "location",
    "session",
    "changed_by",
    "import",
    "key",
    "fee",
    "ENTRY",
    "EXIT",
    "PARKING_LOT",
    "auto",
    "manual",
    "system",
    "location_name",
    "capacity",
    "name",
    "id",
    "type",
    "timezone",
    "note",
    "reason",
    "status",
];

/// The event kinds stored as a small integer in `events.kind` (code = index + 1); any other
/// kind is stored as its text. Part of the stored format (migration 0011 writes the same codes):
/// entries may only be appended.
const KINDS: [EventKind; 11] = [
    EventKind::VehicleEntry,
    EventKind::VehicleExit,
    EventKind::VehicleLocation,
    EventKind::HistoryEdit,
    EventKind::HistoryDelete,
    EventKind::FeesSet,
    EventKind::SubscriptionsSet,
    EventKind::StaffSet,
    EventKind::ZoneConfig,
    EventKind::CamerasConfig,
    EventKind::SiteTimezone,
];

/// The code of `kind` in `events.kind`, when it has one.
pub(crate) fn kind_code(kind: &EventKind) -> Option<i64> {
    KINDS.iter().position(|k| k == kind).map(|i| i as i64 + 1)
}

/// `kind` as stored in `events.kind`: its code, or its text.
pub(crate) fn kind_value(kind: &EventKind) -> rusqlite::types::Value {
    match kind_code(kind) {
        Some(code) => rusqlite::types::Value::Integer(code),
        None => rusqlite::types::Value::Text(kind.as_str().to_owned()),
    }
}

/// The SQL literal of `kind` as stored (for statements with the kind written in: a bound value
/// would not match a partial index on the kind).
pub(crate) fn kind_sql(kind: &EventKind) -> String {
    match kind_code(kind) {
        Some(code) => code.to_string(),
        None => format!("'{}'", kind.as_str().replace('\'', "''")),
    }
}

/// The kind stored as `code`; `None` for an unknown code.
pub(crate) fn kind_of_code(code: i64) -> Option<EventKind> {
    let i = usize::try_from(code.checked_sub(1)?).ok()?;
    KINDS.get(i).cloned()
}

/// Deepest nesting decoded (a corrupt blob must not overflow the stack).
const MAX_DEPTH: usize = 64;

/// `payload` in the compact form.
pub(crate) fn encode(payload: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    out.push(VERSION);
    let mut seen = Vec::new();
    put_value(&mut out, payload, &mut seen);
    out
}

/// The payload of a stored row: the compact form (a BLOB) or JSON text (rows written before
/// migration 0011). `what` names the event in an error.
pub(crate) fn decode_stored(
    stored: StoredPayload<'_>,
    what: &dyn Fn() -> String,
) -> Result<Value, StorageError> {
    match stored {
        StoredPayload::Compact(bytes) => decode(bytes).map_err(|e| {
            StorageError::Corrupt(format!(
                "{}: the stored payload cannot be decoded ({e})",
                what()
            ))
        }),
        StoredPayload::Json(text) => serde_json::from_slice(text).map_err(|e| {
            StorageError::Corrupt(format!(
                "{}: the stored payload is not valid JSON ({e})",
                what()
            ))
        }),
    }
}

/// A stored payload as read from the row, in either form.
#[derive(Debug, Clone, Copy)]
pub(crate) enum StoredPayload<'a> {
    /// The compact form ([`encode`]).
    Compact(&'a [u8]),
    /// JSON text.
    Json(&'a [u8]),
}

impl<'a> StoredPayload<'a> {
    /// The payload of a rusqlite value (BLOB: compact; TEXT: JSON).
    pub(crate) fn of(v: rusqlite::types::ValueRef<'a>) -> Option<Self> {
        match v {
            rusqlite::types::ValueRef::Blob(b) => Some(Self::Compact(b)),
            rusqlite::types::ValueRef::Text(t) => Some(Self::Json(t)),
            _ => None,
        }
    }
}

/// The value of a compact payload.
pub(crate) fn decode(bytes: &[u8]) -> Result<Value, String> {
    let mut r = Reader {
        bytes,
        pos: 0,
        seen: Vec::new(),
    };
    match r.byte()? {
        VERSION => {}
        v => return Err(format!("unknown format version {v}")),
    }
    let value = r.value(0)?;
    if r.pos != bytes.len() {
        return Err(format!("{} bytes left over", bytes.len() - r.pos));
    }
    Ok(value)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// A string: a dictionary code, a back-reference to an earlier literal, or a literal.
fn put_str(out: &mut Vec<u8>, s: &str, seen: &mut Vec<String>) {
    if let Some(i) = DICT.iter().position(|d| *d == s) {
        put_varint(out, (i as u64) << 2);
    } else if let Some(i) = seen.iter().position(|d| d == s) {
        put_varint(out, ((i as u64) << 2) | 2);
    } else {
        put_varint(out, ((s.len() as u64) << 2) | 1);
        out.extend_from_slice(s.as_bytes());
        seen.push(s.to_owned());
    }
}

fn put_value(out: &mut Vec<u8>, v: &Value, seen: &mut Vec<String>) {
    match v {
        Value::Null => out.push(T_NULL),
        Value::Bool(false) => out.push(T_FALSE),
        Value::Bool(true) => out.push(T_TRUE),
        Value::Number(n) => put_number(out, n),
        Value::String(s) => {
            out.push(T_STR);
            put_str(out, s, seen);
        }
        Value::Array(items) => {
            out.push(T_ARRAY);
            put_varint(out, items.len() as u64);
            for item in items {
                put_value(out, item, seen);
            }
        }
        Value::Object(map) => {
            out.push(T_OBJECT);
            put_varint(out, map.len() as u64);
            for (k, item) in map {
                put_str(out, k, seen);
                put_value(out, item, seen);
            }
        }
    }
}

fn put_number(out: &mut Vec<u8>, n: &Number) {
    if let Some(u) = n.as_u64() {
        out.push(T_UINT);
        put_varint(out, u);
    } else if let Some(i) = n.as_i64() {
        out.push(T_NEG);
        // Negative: its complement is non-negative.
        put_varint(out, !i as u64);
    } else if let Some(f) = n.as_f64() {
        match decimal(f) {
            Some((mantissa, exp)) => {
                out.push(T_DEC);
                put_varint(out, zigzag(mantissa));
                put_varint(out, zigzag(exp));
            }
            None => {
                out.push(T_F64);
                out.extend_from_slice(&f.to_le_bytes());
            }
        }
    }
}

/// `f` as `mantissa × 10^exp` from its shortest round-trip decimal form, when that gives back
/// exactly `f` (not for -0.0, infinities or NaN).
fn decimal(f: f64) -> Option<(i64, i64)> {
    if !f.is_finite() || (f == 0.0 && f.is_sign_negative()) {
        return None;
    }
    // `{:e}` prints the shortest digits that read back as `f`, e.g. `9e-1`, `1.2345e3`.
    let text = format!("{f:e}");
    let (digits, exp) = text.split_once('e')?;
    let exp: i64 = exp.parse().ok()?;
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let mantissa: i64 = format!("{int}{frac}").parse().ok()?;
    let exp = exp - frac.len() as i64;
    (from_decimal(mantissa, exp)?.to_bits() == f.to_bits()).then_some((mantissa, exp))
}

fn from_decimal(mantissa: i64, exp: i64) -> Option<f64> {
    format!("{mantissa}e{exp}").parse().ok()
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// The literal strings read so far (targets of back-references).
    seen: Vec<String>,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.bytes.get(self.pos).ok_or("truncated")?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint too long".to_owned())
    }

    fn string(&mut self) -> Result<String, String> {
        let code = self.varint()?;
        let i = usize::try_from(code >> 2).map_err(|_| "string code too large")?;
        match code & 3 {
            0 => DICT
                .get(i)
                .map(|s| (*s).to_owned())
                .ok_or_else(|| format!("unknown dictionary code {i}")),
            1 => {
                let end = self
                    .pos
                    .checked_add(i)
                    .filter(|e| *e <= self.bytes.len())
                    .ok_or("truncated string")?;
                let s = std::str::from_utf8(&self.bytes[self.pos..end])
                    .map_err(|e| format!("string not UTF-8: {e}"))?
                    .to_owned();
                self.pos = end;
                self.seen.push(s.clone());
                Ok(s)
            }
            2 => self
                .seen
                .get(i)
                .cloned()
                .ok_or_else(|| format!("back-reference {i} to no string")),
            k => Err(format!("unknown string kind {k}")),
        }
    }

    /// A count of items, each at least one byte: larger than what is left is corrupt.
    fn count(&mut self) -> Result<usize, String> {
        let n = self.varint()?;
        usize::try_from(n)
            .ok()
            .filter(|n| *n <= self.bytes.len() - self.pos)
            .ok_or_else(|| format!("count {n} larger than the payload"))
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err("nested too deeply".to_owned());
        }
        Ok(match self.byte()? {
            T_NULL => Value::Null,
            T_FALSE => Value::Bool(false),
            T_TRUE => Value::Bool(true),
            T_UINT => Value::Number(self.varint()?.into()),
            T_NEG => match !(self.varint()? as i64) {
                n if n < 0 => Value::Number(n.into()),
                _ => return Err("negative integer out of range".to_owned()),
            },
            T_DEC => {
                let mantissa = unzigzag(self.varint()?);
                let exp = unzigzag(self.varint()?);
                from_decimal(mantissa, exp)
                    .and_then(Number::from_f64)
                    .map(Value::Number)
                    .ok_or("bad decimal")?
            }
            T_F64 => {
                let end = self.pos + 8;
                let raw: [u8; 8] = self
                    .bytes
                    .get(self.pos..end)
                    .and_then(|b| b.try_into().ok())
                    .ok_or("truncated float")?;
                self.pos = end;
                Number::from_f64(f64::from_le_bytes(raw))
                    .map(Value::Number)
                    .ok_or("float not finite")?
            }
            T_STR => Value::String(self.string()?),
            T_ARRAY => {
                let n = self.count()?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(depth + 1)?);
                }
                Value::Array(items)
            }
            T_OBJECT => {
                let n = self.count()?;
                let mut map = Map::new();
                for _ in 0..n {
                    let k = self.string()?;
                    let v = self.value(depth + 1)?;
                    map.insert(k, v);
                }
                Value::Object(map)
            }
            t => return Err(format!("unknown tag {t}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn round_trip(v: &Value) -> Vec<u8> {
        let bytes = encode(v);
        let back = decode(&bytes).unwrap();
        assert_eq!(&back, v);
        // The JSON text is the same too (numbers keep their kind: 1 stays 1, 1.0 stays 1.0).
        assert_eq!(back.to_string(), v.to_string());
        bytes
    }

    #[test]
    fn payloads_read_back_exactly() {
        let entry = json!({
            "plate_id": "51F12345", "plate_view": "51F12345", "at_ms": 1_790_000_000_123_i64,
            "time_clamped": false, "camera_id": 1, "camera_name": "Gate A", "camera_type": "ENTRY",
            "confidence": 0.9, "source": "auto", "edge_event_id": null, "edge_id": "1"
        });
        let bytes = round_trip(&entry);
        // A third of the JSON text or less.
        assert!(
            bytes.len() * 3 <= entry.to_string().len(),
            "{}",
            bytes.len()
        );
        for v in [
            json!(null),
            json!([]),
            json!({}),
            json!(-1),
            json!(i64::MIN),
            json!(u64::MAX),
            json!(1.0),
            json!(-0.0),
            json!(0.1 + 0.2),
            json!(1e300),
            json!(5e-324),
            json!(-123.456),
            json!(f64::MAX),
            json!("ünïcödé ✓"),
            json!({"a": ["x", "x", {"b": "x"}], "tariff": {"fee_base": 5000.0, "fee_per_hour": 3000}}),
            json!({"": "", "ENTRY": "ENTRY", "nested": [[[[1]]]]}),
        ] {
            round_trip(&v);
        }
    }

    #[test]
    fn floats_keep_their_bits() {
        for f in [
            0.9,
            0.899_999_976_158_142_1,
            1.0 / 3.0,
            12_345.678_9,
            1e-7,
            2.5e17,
            -7.0,
        ] {
            let bytes = encode(&json!(f));
            let back = decode(&bytes).unwrap();
            assert_eq!(back.as_f64().unwrap().to_bits(), f64::to_bits(f), "{f}");
        }
        // A short decimal takes three bytes after the version, not nine.
        assert_eq!(encode(&json!(0.9)).len(), 4);
    }

    #[test]
    fn the_format_is_fixed() {
        // Stored bytes must decode the same forever: a change of dictionary or tags fails here.
        let v = json!({"plate_id": "AB1", "plate_view": "AB1", "source": "auto", "n": -2});
        assert_eq!(
            encode(&v),
            [
                1,
                T_OBJECT,
                4,
                (1 << 2) | 1,
                b'n',
                T_NEG,
                1,
                7 << 2,
                T_STR,
                (3 << 2) | 1,
                b'A',
                b'B',
                b'1',
                8 << 2,
                T_STR,
                (1 << 2) | 2,
                9 << 2,
                T_STR,
                27 << 2
            ]
        );
    }

    #[test]
    fn kinds_have_fixed_codes() {
        // The codes migration 0011 writes in SQL.
        let sql = include_str!("../../../migrations/0011_compact_layout.sql");
        for (i, kind) in KINDS.iter().enumerate() {
            let code = i as i64 + 1;
            assert_eq!(kind_code(kind), Some(code));
            assert_eq!(kind_of_code(code).as_ref(), Some(kind));
            assert!(
                sql.contains(&format!("WHEN '{}' THEN {code}", kind.as_str())),
                "{kind:?}"
            );
        }
        let other = EventKind::from("x.y".to_owned());
        assert_eq!(kind_code(&other), None);
        assert_eq!(kind_sql(&other), "'x.y'");
        assert_eq!(kind_of_code(0), None);
        assert_eq!(kind_of_code(12), None);
    }

    #[test]
    fn corrupt_blobs_are_errors_not_panics() {
        let good = encode(&json!({"plate_id": "AB1", "list": [1, 2.5, "x"]}));
        for cut in 0..good.len() {
            assert!(decode(&good[..cut]).is_err(), "cut at {cut}");
        }
        for bad in [
            &[2u8][..],
            &[1, 99],
            &[1, T_ARRAY, 0xff, 0xff, 0xff, 0xff, 0x0f],
            &[1, T_STR, 0xfc, 0x01],
            &[1, T_STR, 2],
            &[1, T_NULL, T_NULL],
            &[
                1, T_UINT, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ],
        ] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
        let deep = [vec![1u8], [T_ARRAY, 1].repeat(100), vec![T_NULL]].concat();
        assert!(decode(&deep).is_err());
    }
}
