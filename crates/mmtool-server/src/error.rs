//! The one error shape every endpoint returns: `{"error": {"code", "message"}}`.

use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// A client-visible failure with its HTTP status and a stable machine code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

/// Marks a response as an error so the metrics layer can count it by code.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ErrorCode(pub &'static str);

#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable identifier, e.g. `missing_instruction`, `payload_too_large`.
    pub code: String,
    /// What went wrong, in words meant for the person who sent the request.
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn invalid_field(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "the request body is larger than the server's limit of {}",
                human_bytes(limit)
            ),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
            },
        };
        let mut resp = (self.status, Json(body)).into_response();
        resp.extensions_mut().insert(ErrorCode(self.code));
        resp
    }
}

/// Body-reading failures: over the size limit, or the connection broke.
fn body_error(status: StatusCode, text: String, limit: usize) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::too_large(limit)
    } else {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_body", text)
    }
}

pub(crate) fn from_json_rejection(r: JsonRejection, limit: usize) -> ApiError {
    match r {
        JsonRejection::JsonSyntaxError(e) => {
            ApiError::new(StatusCode::BAD_REQUEST, "bad_json", e.body_text())
        }
        JsonRejection::JsonDataError(e) => ApiError::invalid_field(e.body_text()),
        JsonRejection::MissingJsonContentType(e) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_content_type",
            e.body_text(),
        ),
        other => body_error(other.status(), other.body_text(), limit),
    }
}

pub(crate) fn from_multipart_rejection(r: MultipartRejection) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_multipart", r.body_text())
}

pub(crate) fn from_multipart_error(e: MultipartError, limit: usize) -> ApiError {
    let status = e.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::too_large(limit)
    } else {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_multipart",
            format!("malformed multipart body: {}", e.body_text()),
        )
    }
}

pub(crate) fn from_query_rejection(r: QueryRejection) -> ApiError {
    ApiError::invalid_field(format!("bad query string: {}", r.body_text()))
}

pub(crate) fn human_bytes(n: usize) -> String {
    const MB: usize = 1 << 20;
    const KB: usize = 1 << 10;
    if n >= MB && n.is_multiple_of(MB) {
        format!("{} MiB", n / MB)
    } else if n >= KB && n.is_multiple_of(KB) {
        format!("{} KiB", n / KB)
    } else {
        format!("{n} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn error_body_has_code_and_message() {
        let resp = ApiError::invalid_field("top_k must be at least 1").into_response();
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            resp.extensions().get::<ErrorCode>().unwrap().0,
            "invalid_field"
        );
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["error"]["code"], "invalid_field");
        assert_eq!(v["error"]["message"], "top_k must be at least 1");
    }

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(human_bytes(50 << 20), "50 MiB");
        assert_eq!(human_bytes(64 << 10), "64 KiB");
        assert_eq!(human_bytes(1000), "1000 bytes");
    }
}
