//! JSON replies and errors in the seed's shape (`{"success": false, "error": ...}`), and the
//! rejection handler that turns every warp rejection into such a reply — never a bare 500.

use std::convert::Infallible;

use serde_json::{Value, json};
use warp::http::StatusCode;
use warp::reply::{Json, WithStatus};

/// Largest request body accepted (bytes); checked before parsing.
pub const MAX_BODY: u64 = 64 * 1024;

/// A JSON reply with a status code.
pub(crate) type JsonReply = WithStatus<Json>;

/// Builds a JSON reply.
pub(crate) fn json_reply(status: StatusCode, body: &Value) -> JsonReply {
    warp::reply::with_status(warp::reply::json(body), status)
}

/// 200 with `body`.
pub(crate) fn ok(body: Value) -> JsonReply {
    json_reply(StatusCode::OK, &body)
}

/// 200 with `body` serialized as it is (no `Value` built first).
pub(crate) fn ok_serialized<T: serde::Serialize>(body: &T) -> JsonReply {
    warp::reply::with_status(warp::reply::json(body), StatusCode::OK)
}

/// A request the API refuses, with the status and a message naming the problem.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed (bad JSON, missing or wrong field, bad value).
    #[error("{0}")]
    BadRequest(String),
    /// The request is well-formed but the parking rules refuse it.
    #[error("{message}")]
    Rejected {
        /// Message.
        message: String,
        /// Extra fields of the seed's failure shape (e.g. `already_inside`).
        extra: Value,
    },
    /// Authentication is missing or wrong.
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// The named thing does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A dependency (storage, mesh) failed; the request may be retried.
    #[error("{0}")]
    Unavailable(String),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::Rejected { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The JSON body of this error.
    pub(crate) fn body(&self) -> Value {
        let mut body = json!({ "success": false, "error": self.to_string() });
        if let (
            Self::Rejected {
                extra: Value::Object(extra),
                ..
            },
            Value::Object(map),
        ) = (self, &mut body)
        {
            for (k, v) in extra {
                map.insert(k.clone(), v.clone());
            }
        }
        body
    }

    /// The reply for this error.
    pub(crate) fn reply(&self) -> JsonReply {
        json_reply(self.status(), &self.body())
    }
}

impl From<parkmesh_storage::StorageError> for ApiError {
    fn from(e: parkmesh_storage::StorageError) -> Self {
        use parkmesh_storage::StorageError as S;
        match e {
            S::AlreadyInside {
                plate_id,
                entry_time,
                event_id,
            } => Self::Rejected {
                message: format!("vehicle {plate_id} is already inside since {entry_time}"),
                extra: json!({ "already_inside": true, "entry_time": entry_time, "event_id": event_id }),
            },
            S::Rejected(p) => Self::BadRequest(p.to_string()),
            S::NotFound(what) => Self::NotFound(what),
            other => {
                tracing::error!(error = %other, "storage failure");
                Self::Unavailable(format!("storage unavailable: {other}"))
            }
        }
    }
}

impl From<parkmesh_manager::ManagerError> for ApiError {
    fn from(e: parkmesh_manager::ManagerError) -> Self {
        match e {
            parkmesh_manager::ManagerError::Storage(e) => e.into(),
            other => Self::Unavailable(other.to_string()),
        }
    }
}

/// Converts a handler result into a reply.
pub(crate) fn finish(res: Result<JsonReply, ApiError>) -> Result<JsonReply, Infallible> {
    Ok(res.unwrap_or_else(|e| e.reply()))
}

/// Turns every rejection into the seed's JSON failure shape with a fitting 4xx.
pub(crate) async fn recover(rej: warp::Rejection) -> Result<JsonReply, Infallible> {
    let (status, msg) = if rej.is_not_found() {
        (StatusCode::NOT_FOUND, "no such endpoint".to_owned())
    } else if let Some(e) = rej.find::<ApiError>() {
        return Ok(e.reply());
    } else if rej.find::<warp::reject::PayloadTooLarge>().is_some() {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body too large (limit {} bytes)", MAX_BODY),
        )
    } else if rej.find::<warp::reject::LengthRequired>().is_some() {
        (
            StatusCode::LENGTH_REQUIRED,
            "a Content-Length header is required".to_owned(),
        )
    } else if rej.find::<warp::reject::MethodNotAllowed>().is_some() {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed on this endpoint".to_owned(),
        )
    } else if let Some(e) = rej.find::<warp::reject::InvalidQuery>() {
        (
            StatusCode::BAD_REQUEST,
            format!("invalid query string: {e}"),
        )
    } else if let Some(e) = rej.find::<warp::reject::InvalidHeader>() {
        (StatusCode::BAD_REQUEST, format!("invalid header: {e}"))
    } else if let Some(e) = rej.find::<warp::reject::MissingHeader>() {
        (StatusCode::BAD_REQUEST, format!("missing header: {e}"))
    } else if rej.find::<warp::reject::UnsupportedMediaType>().is_some() {
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported media type".to_owned(),
        )
    } else {
        tracing::warn!(rejection = ?rej, "unhandled rejection");
        (StatusCode::BAD_REQUEST, format!("bad request: {rej:?}"))
    };
    Ok(json_reply(
        status,
        &json!({ "success": false, "error": msg }),
    ))
}

/// The outermost handler. The CORS wrapper refuses only a preflight that asks for a method or
/// header outside its lists; that refusal (and anything else that got this far) is answered in
/// the JSON failure shape with `Access-Control-Allow-Origin`, so the browser can show it.
pub(crate) async fn recover_cors(rej: warp::Rejection) -> Result<impl warp::Reply, Infallible> {
    let reply = match rej.find::<warp::cors::CorsForbidden>() {
        Some(e) => json_reply(
            StatusCode::FORBIDDEN,
            &json!({ "success": false, "error": format!("{e} — allowed methods: GET, POST, PUT, DELETE, OPTIONS; headers: content-type, authorization, x-operator, accept") }),
        ),
        None => recover(rej).await?,
    };
    Ok(warp::reply::with_header(
        reply,
        "access-control-allow-origin",
        "*",
    ))
}

impl warp::reject::Reject for ApiError {}

/// Parses a request body as a JSON object, naming what is wrong with it.
pub(crate) fn parse_object(body: &[u8]) -> Result<serde_json::Map<String, Value>, ApiError> {
    let text = std::str::from_utf8(body).map_err(|e| {
        ApiError::BadRequest(format!(
            "request body is not valid UTF-8 (at byte {})",
            e.valid_up_to()
        ))
    })?;
    if text.trim().is_empty() {
        return Err(ApiError::BadRequest(
            "request body is empty; expected a JSON object".into(),
        ));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(ApiError::BadRequest(format!(
            "expected a JSON object, got {}",
            kind_name(&other)
        ))),
        Err(e) => Err(ApiError::BadRequest(format!("malformed JSON: {e}"))),
    }
}

/// Human name of a JSON value's type.
pub(crate) fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
