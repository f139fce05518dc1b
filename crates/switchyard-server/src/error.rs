//! The one place a [`GatewayError`] becomes an OpenAI-shaped HTTP response.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use switchyard_router::GatewayError;
use switchyard_types::{ErrorBody, ErrorDetail};

/// The OpenAI `type` for a status when the provider sent none.
fn openai_type(e: &GatewayError) -> &'static str {
    match e.status {
        401 if e.reason == "unauthorized" => "auth_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        408 => "timeout_error",
        413 => "invalid_request_error",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        503 => "service_unavailable_error",
        _ => "api_error",
    }
}

/// The error envelope for `e`.
pub fn error_body(e: &GatewayError) -> ErrorBody {
    ErrorBody {
        error: ErrorDetail {
            message: e.message.clone(),
            kind: e
                .provider_type
                .clone()
                .unwrap_or_else(|| openai_type(e).to_owned()),
            param: e.param.clone(),
            code: Some(e.code.clone().unwrap_or_else(|| e.status.to_string())),
        },
    }
}

/// The JSON bytes of the error envelope.
pub fn error_json(e: &GatewayError) -> Bytes {
    // Serializing plain strings cannot fail; the fallback keeps the shape if it ever did.
    serde_json::to_vec(&error_body(e)).map_or_else(
        |_| Bytes::from_static(br#"{"error":{"message":"internal error","type":"api_error","param":null,"code":"500"}}"#),
        Bytes::from,
    )
}

/// The HTTP response for `e`: status, JSON envelope, and `retry-after` when known.
pub fn error_response(e: &GatewayError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (
        status,
        [(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        error_json(e),
    )
        .into_response();
    if let Some(after) = e.retry_after {
        let secs = after.as_secs_f64().ceil().max(0.0) as u64;
        resp.headers_mut()
            .insert(axum::http::header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// A gateway error as a response, so handlers can `?` it.
#[derive(Debug)]
pub struct ApiError(pub GatewayError);

impl From<GatewayError> for ApiError {
    fn from(e: GatewayError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = error_response(&self.0);
        resp.extensions_mut().insert(self.0);
        resp
    }
}

/// The SSE event that ends a stream the provider broke off after the first byte.
pub fn error_event(e: &GatewayError) -> Bytes {
    let json = error_json(e);
    let mut b = Vec::with_capacity(json.len() + 8);
    b.extend_from_slice(b"data: ");
    b.extend_from_slice(&json);
    b.extend_from_slice(b"\n\n");
    Bytes::from(b)
}
