//! `POST /v1/messages`: the Anthropic Messages API inbound (Claude Code, the `anthropic` SDK).
//!
//! The body is parsed and translated to the gateway's chat request (for admission, routing and
//! non-Anthropic deployments) and kept as sent: an `anthropic/…` deployment receives it as it
//! is and its answer is forwarded; any other deployment's OpenAI-format answer is translated
//! back to Anthropic's (`switchyard_providers::anthropic_openai`). Errors have Anthropic's shape.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use serde_json::json;
use switchyard_governance::Caller;
use switchyard_providers::anthropic_openai;
use switchyard_router::{GatewayError, Native};

use crate::chat::{handle, Parsed};
use crate::dialect::Dialect;
use crate::AppState;

/// Whether a path is one of the Anthropic routes (whose errors have Anthropic's shape).
pub fn is_messages_path(path: &str) -> bool {
    path.starts_with("/v1/messages") || path.starts_with("/anthropic/v1/messages")
}

/// Anthropic's error type for a gateway error: the provider's own when it was Anthropic's.
fn error_kind(e: &GatewayError) -> &str {
    const ANTHROPIC: &[&str] = &[
        "invalid_request_error",
        "authentication_error",
        "permission_error",
        "not_found_error",
        "request_too_large",
        "rate_limit_error",
        "api_error",
        "overloaded_error",
    ];
    match e.provider_type.as_deref() {
        Some(t) if ANTHROPIC.contains(&t) => t,
        _ => anthropic_openai::error_type(e.status),
    }
}

/// `{"type": "error", "error": {"type", "message"}}` with the error's status.
pub fn error_response(e: &GatewayError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = anthropic_openai::error_body(error_kind(e), &e.message);
    let mut resp = (status, Json(body)).into_response();
    if let Some(after) = e.retry_after {
        let secs = after.as_secs_f64().ceil().max(0.0) as u64;
        resp.headers_mut()
            .insert(axum::http::header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp.extensions_mut().insert(e.clone());
    resp
}

/// The `error` event that ends a stream which failed after its first byte.
pub fn error_event(e: &GatewayError) -> Bytes {
    anthropic_openai::event(
        "error",
        &anthropic_openai::error_body(error_kind(e), &e.message),
    )
}

fn parse(bytes: &Bytes, headers: &HeaderMap) -> Result<Parsed, GatewayError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(GatewayError::bad_request(
            "Request body is empty; send a JSON Messages request.",
        ));
    }
    let m = anthropic_openai::parse(bytes).map_err(GatewayError::from_translate)?;
    let beta = headers
        .get("anthropic-beta")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Ok((
        m.chat.into(),
        Some(Arc::new(Native::Anthropic { body: m.body, beta })),
    ))
}

/// `POST /v1/messages` and `/anthropic/v1/messages`.
pub async fn messages(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let h = headers.clone();
    handle(
        state,
        caller,
        headers,
        body,
        "/v1/messages",
        Dialect::Anthropic,
        move |b| parse(b, &h),
    )
    .await
}

/// `POST /v1/messages/count_tokens`: `{"input_tokens": n}`, counted as the routed model sees
/// the prompt (tiktoken; an approximation for non-OpenAI models, as LiteLLM's counter).
pub async fn count_tokens(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let bytes = crate::chat::read_body(&headers, body, state.body_limit).await?;
        let (mut req, _) = parse(&bytes, &headers)?;
        if let Some(d) = state.router.deployments(&req.model).and_then(|d| d.first()) {
            req.model.clone_from(&d.target.model);
        }
        let n = switchyard_pricing::tokens::count_messages(
            &req.model,
            &req.messages,
            req.tools.as_deref(),
        );
        Ok::<_, GatewayError>(n)
    }
    .await;
    match result {
        Ok(n) => Json(json!({ "input_tokens": n })).into_response(),
        Err(e) => error_response(&e),
    }
}
