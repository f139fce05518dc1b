//! A mock of Ollama's `POST /api/chat` (its API docs): JSON when `stream` is false,
//! newline-delimited JSON otherwise; `llama-tool` calls the first tool; unknown models 404.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{json, Value};

use super::{Seen, UpstreamState};

pub async fn chat(
    State(st): State<Arc<UpstreamState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    st.seen.lock().unwrap().push(Seen {
        headers,
        body: body.clone(),
    });
    let model = body["model"].as_str().unwrap_or("").to_owned();
    if !model.starts_with("llama") {
        return (
            StatusCode::NOT_FOUND,
            json!({"error": format!("model '{model}' not found")}).to_string(),
        )
            .into_response();
    }
    let last = body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_str())
        .unwrap_or("")
        .to_owned();
    let message = if model == "llama-tool" {
        json!({"role": "assistant", "content": "", "tool_calls": [{"function": {"name": body["tools"][0]["function"]["name"], "arguments": {"q": "x"}}}]})
    } else {
        json!({"role": "assistant", "content": format!("You said: {last}")})
    };
    if body["stream"] == json!(false) {
        return ([("content-type", "application/json")],
            json!({"model": model, "created_at": "2026-11-29T00:00:00Z", "message": message, "done": true, "done_reason": "stop", "prompt_eval_count": 6, "eval_count": 3}).to_string()).into_response();
    }
    let text = message["content"].as_str().unwrap_or("").to_owned();
    let (a, b) = text.split_at(text.len() / 2);
    let mut out = String::new();
    for part in [a, b] {
        out.push_str(&format!("{}\n", json!({"model": model, "message": {"role": "assistant", "content": part}, "done": false})));
    }
    if model == "llama-tool" {
        out.push_str(&format!(
            "{}\n",
            json!({"model": model, "message": message, "done": false})
        ));
    }
    out.push_str(&format!("{}\n", json!({"model": model, "message": {"role": "assistant", "content": ""}, "done": true, "done_reason": "stop", "prompt_eval_count": 6, "eval_count": 3})));
    ([("content-type", "application/x-ndjson")], out).into_response()
}

/// Ollama's `POST /api/generate`: `prompt` (and `system`) in, `response` out; NDJSON lines of
/// `response` pieces when streaming.
pub async fn generate(
    State(st): State<Arc<UpstreamState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    st.seen.lock().unwrap().push(Seen {
        headers,
        body: body.clone(),
    });
    let Some(prompt) = body["prompt"].as_str() else {
        return (
            StatusCode::BAD_REQUEST,
            json!({"error": "prompt is required"}).to_string(),
        )
            .into_response();
    };
    let text = format!("Generated: {prompt}");
    let model = body["model"].clone();
    if body["stream"] == json!(false) {
        return ([("content-type", "application/json")],
            json!({"model": model, "created_at": "2026-11-29T00:00:00Z", "response": text, "done": true, "done_reason": "stop", "prompt_eval_count": 5, "eval_count": 4}).to_string()).into_response();
    }
    let (a, b) = text.split_at(text.len() / 2);
    let mut out = String::new();
    for part in [a, b] {
        out.push_str(&format!(
            "{}\n",
            json!({"model": model, "response": part, "done": false})
        ));
    }
    out.push_str(&format!("{}\n", json!({"model": model, "response": "", "done": true, "done_reason": "stop", "prompt_eval_count": 5, "eval_count": 4})));
    ([("content-type", "application/x-ndjson")], out).into_response()
}
