//! A mock of Cohere's v2 Chat API (`POST /v2/chat`), from its API reference: bearer auth,
//! `messages` with Cohere's roles, typed SSE events when `stream` is true. `command-tool`
//! calls the first tool; `command-limited` is a 429.

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
        headers: headers.clone(),
        body: body.clone(),
    });
    if !headers
        .get("authorization")
        .is_some_and(|v| v.to_str().unwrap_or("").starts_with("Bearer "))
    {
        return (
            StatusCode::UNAUTHORIZED,
            json!({"message": "no api key supplied"}).to_string(),
        )
            .into_response();
    }
    let msgs = body["messages"].as_array().cloned().unwrap_or_default();
    if msgs.iter().any(|m| {
        !matches!(
            m["role"].as_str(),
            Some("system" | "user" | "assistant" | "tool")
        )
    }) {
        return (
            StatusCode::BAD_REQUEST,
            json!({"message": "invalid role"}).to_string(),
        )
            .into_response();
    }
    let model = body["model"].as_str().unwrap_or("").to_owned();
    if model == "command-limited" {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            json!({"message": "trial key rate limit"}).to_string(),
        )
            .into_response();
    }
    let last = msgs
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str())
        .unwrap_or("")
        .to_owned();
    let usage = json!({"billed_units": {"input_tokens": 5, "output_tokens": 3}, "tokens": {"input_tokens": 8, "output_tokens": 3}});
    let tool = (model == "command-tool").then(|| {
        body["tools"][0]["function"]["name"]
            .as_str()
            .unwrap_or("f")
            .to_owned()
    });
    if body["stream"] == json!(true) {
        let ev = |v: Value| format!("event: {}\ndata: {v}\n\n", v["type"].as_str().unwrap_or(""));
        let mut out = ev(
            json!({"type": "message-start", "id": "co-1", "delta": {"message": {"role": "assistant"}}}),
        );
        match &tool {
            None => {
                out += &ev(
                    json!({"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}}),
                );
                let text = format!("You said: {last}");
                let (a, b) = text.split_at(text.len() / 2);
                for part in [a, b] {
                    out += &ev(
                        json!({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": part}}}}),
                    );
                }
                out += &ev(json!({"type": "content-end", "index": 0}));
            }
            Some(name) => {
                out += &ev(
                    json!({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "I will look it up"}}}),
                );
                out += &ev(
                    json!({"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": {"id": "co_call", "type": "function", "function": {"name": name, "arguments": ""}}}}}),
                );
                for part in ["{\"q\":", "\"x\"}"] {
                    out += &ev(
                        json!({"type": "tool-call-delta", "index": 0, "delta": {"message": {"tool_calls": {"function": {"arguments": part}}}}}),
                    );
                }
                out += &ev(json!({"type": "tool-call-end", "index": 0}));
            }
        }
        let finish = if tool.is_some() {
            "TOOL_CALL"
        } else {
            "COMPLETE"
        };
        out +=
            &ev(json!({"type": "message-end", "delta": {"finish_reason": finish, "usage": usage}}));
        return ([("content-type", "text/event-stream")], out).into_response();
    }
    let message = match &tool {
        None => {
            json!({"role": "assistant", "content": [{"type": "text", "text": format!("You said: {last}")}]})
        }
        Some(name) => json!({"role": "assistant", "tool_plan": "I will look it up",
            "tool_calls": [{"id": "co_call", "type": "function", "function": {"name": name, "arguments": "{\"q\":\"x\"}"}}]}),
    };
    let finish = if tool.is_some() {
        "TOOL_CALL"
    } else {
        "COMPLETE"
    };
    (
        [("content-type", "application/json")],
        json!({"id": "co-1", "finish_reason": finish, "message": message, "usage": usage})
            .to_string(),
    )
        .into_response()
}
