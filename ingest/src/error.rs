//! Every refusal is JSON: `{"error": {"code", "message", "field"?, "line"?, "index"?, "failed"?}}` with a
//! stable `code` for programs and a `message` for people. 5xx causes are logged, not leaked.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("missing bearer token")]
    MissingToken,
    #[error("wrong token")]
    WrongToken,
    #[error("unsupported content type {0:?}: send application/x-ndjson or application/json")]
    UnsupportedMediaType(String),
    #[error("request body is larger than {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("more than {limit} events in one request")]
    TooManyEvents { limit: usize },
    #[error("the request holds no events")]
    Empty,
    /// Not JSON at all: a syntax error or truncated input.
    #[error("malformed JSON: {message}")]
    Malformed { message: String, line: usize },
    /// JSON, but not a valid event. `field` is the JSON path of the offending value within
    /// the event (`payload.delivery.over`), when one value is to blame.
    #[error("invalid event: {message}")]
    InvalidEvent {
        message: String,
        field: Option<String>,
        line: Option<usize>,
        index: usize,
    },
    /// Too much in flight; the client should retry shortly.
    #[error("ingest is busy: {message}")]
    Busy { message: String, failed: Vec<usize> },
    /// The broker is unreachable or did not acknowledge in time.
    #[error("the event log is unavailable: {message}")]
    Unavailable { message: String, failed: Vec<usize> },
}

/// The body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `invalid_event`.
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
    /// For `invalid_event`: the JSON path, within the event, of the value at fault, e.g.
    /// `payload.delivery.over` or `seq`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// 1-based line of the body where the problem is (NDJSON, or a JSON syntax error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// 0-based index of the offending event in the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// 0-based indexes of the events that were not accepted (the others were).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<Vec<usize>>,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MissingToken => StatusCode::UNAUTHORIZED,
            ApiError::WrongToken => StatusCode::FORBIDDEN,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::BodyTooLarge { .. } | ApiError::TooManyEvents { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::Empty | ApiError::Malformed { .. } => StatusCode::BAD_REQUEST,
            ApiError::InvalidEvent { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Busy { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Stable machine-readable code; also the `reason` label of the rejection metric.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MissingToken => "missing_token",
            ApiError::WrongToken => "wrong_token",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::BodyTooLarge { .. } => "body_too_large",
            ApiError::TooManyEvents { .. } => "too_many_events",
            ApiError::Empty => "empty",
            ApiError::Malformed { .. } => "malformed_json",
            ApiError::InvalidEvent { .. } => "invalid_event",
            ApiError::Busy { .. } => "busy",
            ApiError::Unavailable { .. } => "unavailable",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (field, line, index, failed) = match &self {
            ApiError::Malformed { line, .. } => (None, Some(*line), None, None),
            ApiError::InvalidEvent {
                field, line, index, ..
            } => (field.clone(), *line, Some(*index), None),
            ApiError::Busy { failed, .. } | ApiError::Unavailable { failed, .. } => {
                (None, None, None, Some(failed.clone()))
            }
            _ => (None, None, None, None),
        };
        if status.is_server_error() {
            tracing::warn!(error = %self, "request failed");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message: self.to_string(),
                field,
                line,
                index,
                failed,
            },
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        match status {
            StatusCode::UNAUTHORIZED => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            StatusCode::TOO_MANY_REQUESTS => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
            }
            _ => {}
        }
        response
    }
}
