//! Every refusal is JSON: `{"error": {"code", "message"}}` with a stable `code` for programs
//! and a `message` that says why, for people. 5xx causes are logged.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::sql::SqlError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("no match with id {0:?}")]
    UnknownMatch(String),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("{0}")]
    Sql(#[from] SqlError),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::UnknownMatch(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Sql(err) => match err {
                SqlError::Empty
                | SqlError::MultipleStatements(_)
                | SqlError::Syntax(_)
                | SqlError::Invalid(_) => StatusCode::BAD_REQUEST,
                SqlError::TooLong { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                SqlError::NotAQuery(_)
                | SqlError::FunctionNotAllowed(_)
                | SqlError::TableNotAllowed(_)
                | SqlError::Forbidden(_) => StatusCode::FORBIDDEN,
                SqlError::Timeout { .. } => StatusCode::REQUEST_TIMEOUT,
                SqlError::Busy { .. } => StatusCode::TOO_MANY_REQUESTS,
                SqlError::TooBig(_) | SqlError::Encoding { .. } | SqlError::Failed(_) => {
                    StatusCode::UNPROCESSABLE_ENTITY
                }
                SqlError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                SqlError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::UnknownMatch(_) => "unknown_match",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Sql(err) => err.code(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "request failed");
        }
        let body = serde_json::json!({"error": {"code": self.code(), "message": self.to_string()}});
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}
