//! A mock of Anthropic's Messages API (`POST /v1/messages`), written from its public API
//! reference. It checks what a real server checks (auth and version headers, `max_tokens`,
//! alternating roles starting with a user turn, tool results answering tool uses) and answers
//! by model name: `claude-text` (echoes the last user text), `claude-tool` (calls the first
//! tool), `claude-overloaded` (529), `claude-long` (400, prompt too long). `stream: true`
//! answers with the SSE event sequence.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{json, Value};

use super::{Seen, UpstreamState};

fn error(status: u16, kind: &str, message: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        json!({"type": "error", "error": {"type": kind, "message": message}}).to_string(),
    )
        .into_response()
}

/// What a real server would refuse, as its error message.
fn validate(headers: &HeaderMap, body: &Value) -> Option<String> {
    if headers.get("x-api-key").is_none() {
        return Some("x-api-key header is required".into());
    }
    if headers
        .get("x-api-key")
        .is_some_and(|k| k == "sk-ant-revoked")
    {
        return Some("AUTH".into());
    }
    if headers.get("anthropic-version").is_none() {
        return Some("anthropic-version header is required".into());
    }
    if !body["max_tokens"].is_u64() {
        return Some("max_tokens: Field required".into());
    }
    let msgs = body["messages"].as_array()?;
    let mut last = "";
    for (i, m) in msgs.iter().enumerate() {
        let role = m["role"].as_str().unwrap_or("");
        if i == 0 && role != "user" {
            return Some("messages: first message must use the \"user\" role".into());
        }
        if role == last {
            return Some(
                "messages: roles must alternate between \"user\" and \"assistant\"".into(),
            );
        }
        if !matches!(role, "user" | "assistant") {
            return Some(format!(
                "messages.{i}.role: Input should be 'user' or 'assistant'"
            ));
        }
        last = if role == "user" { "user" } else { "assistant" };
        for b in m["content"].as_array().into_iter().flatten() {
            if b["type"] == "tool_result" {
                let prev = &msgs[i - 1]["content"];
                let used = prev
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|p| p["type"] == "tool_use" && p["id"] == b["tool_use_id"]);
                if !used {
                    return Some("tool_result block(s) provided when previous message does not contain tool_use".into());
                }
            }
        }
    }
    None
}

fn last_user_text(body: &Value) -> String {
    body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| match &m["content"] {
            Value::String(s) => Some(s.clone()),
            Value::Array(blocks) => blocks
                .iter()
                .rev()
                .find_map(|b| b["text"].as_str().map(str::to_owned)),
            _ => None,
        })
        .unwrap_or_default()
}

fn sse(event: &str, data: Value) -> String {
    format!("event: {event}\ndata: {data}\n\n")
}

pub async fn messages(
    State(st): State<Arc<UpstreamState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error(400, "invalid_request_error", "body is not JSON");
    };
    st.seen.lock().unwrap().push(Seen {
        headers: headers.clone(),
        body: body.clone(),
    });
    if let Some(msg) = validate(&headers, &body) {
        if msg == "AUTH" {
            return error(401, "authentication_error", "invalid x-api-key");
        }
        return error(400, "invalid_request_error", &msg);
    }
    let model = body["model"].as_str().unwrap_or("").to_owned();
    match model.as_str() {
        "claude-overloaded" => return error(529, "overloaded_error", "Overloaded"),
        "claude-busy" => {
            let mut r = error(
                429,
                "rate_limit_error",
                "Number of request tokens has exceeded your per-minute rate limit",
            );
            r.headers_mut().insert("retry-after", "7".parse().unwrap());
            return r;
        }
        "claude-long" => {
            return error(
                400,
                "invalid_request_error",
                "prompt is too long: 250000 tokens > 200000 maximum",
            )
        }
        _ => {}
    }
    let tool = (model == "claude-tool").then(|| {
        body["tools"][0]["name"]
            .as_str()
            .unwrap_or("tool")
            .to_owned()
    });
    let text = format!("You said: {}", last_user_text(&body));
    let usage = json!({"input_tokens": 11, "output_tokens": 5, "cache_read_input_tokens": 3, "cache_creation_input_tokens": 0});
    if body["stream"].as_bool() == Some(true) {
        let mut out = sse(
            "message_start",
            json!({"type": "message_start", "message": {"id": message_id(), "type": "message", "role": "assistant", "model": model, "content": [], "stop_reason": null, "usage": {"input_tokens": 11, "output_tokens": 1, "cache_read_input_tokens": 3}}}),
        );
        out += &sse("ping", json!({"type": "ping"}));
        match &tool {
            None => {
                out += &sse(
                    "content_block_start",
                    json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
                );
                let (a, b) = text.split_at(text.len() / 2);
                for part in [a, b] {
                    out += &sse(
                        "content_block_delta",
                        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": part}}),
                    );
                }
                out += &sse(
                    "content_block_stop",
                    json!({"type": "content_block_stop", "index": 0}),
                );
            }
            Some(name) => {
                out += &sse(
                    "content_block_start",
                    json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "toolu_mock", "name": name, "input": {}}}),
                );
                for part in ["{\"q\": ", "\"x\"}"] {
                    out += &sse(
                        "content_block_delta",
                        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": part}}),
                    );
                }
                out += &sse(
                    "content_block_stop",
                    json!({"type": "content_block_stop", "index": 0}),
                );
            }
        }
        let stop = if tool.is_some() {
            "tool_use"
        } else {
            "end_turn"
        };
        out += &sse(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": 5}}),
        );
        out += &sse("message_stop", json!({"type": "message_stop"}));
        return ([("content-type", "text/event-stream")], out).into_response();
    }
    let content = match &tool {
        None => json!([{"type": "text", "text": text}]),
        Some(name) => {
            json!([{"type": "tool_use", "id": "toolu_mock", "name": name, "input": {"q": "x"}}])
        }
    };
    let stop = if tool.is_some() {
        "tool_use"
    } else {
        "end_turn"
    };
    (
        [("content-type", "application/json")],
        json!({"id": message_id(), "type": "message", "role": "assistant", "model": model, "content": content,
               "stop_reason": stop, "stop_sequence": null, "usage": usage})
        .to_string(),
    )
        .into_response()
}

/// A message id of its own for every answer, as Anthropic's are (`msg_mock_1`, …): ids derived
/// from it (a kept response's) must not collide across turns.
fn message_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("msg_mock_{n}")
}
