//! A mock of OpenAI's Responses API (`POST /v1/responses`), from its reference: `input` as a
//! string or items, `previous_response_id`; a `response` object with one output message
//! ("echo: <last user text>"), or its event stream ending with `response.completed` (no
//! `[DONE]`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{json, Value};

use super::{Seen, UpstreamState};

fn last_user_text(body: &Value) -> String {
    match &body["input"] {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .rev()
            .find(|i| i["role"] == "user")
            .map(|i| match &i["content"] {
                Value::String(s) => s.clone(),
                Value::Array(parts) => parts
                    .iter()
                    .filter_map(|p| p["text"].as_str())
                    .collect::<Vec<_>>()
                    .join(""),
                _ => String::new(),
            })
            .unwrap_or_default(),
        _ => String::new(),
    }
}

pub async fn responses(
    State(st): State<Arc<UpstreamState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "bad json").into_response();
    };
    st.seen.lock().unwrap().push(Seen {
        headers,
        body: body.clone(),
    });
    if body
        .get("metadata")
        .is_some_and(|m| m.get("tags").is_some())
    {
        return (
            StatusCode::BAD_REQUEST,
            [("content-type", "application/json")],
            json!({"error": {"message": "Invalid type for 'metadata.tags'", "type": "invalid_request_error", "param": "metadata", "code": null}}).to_string(),
        )
            .into_response();
    }
    let n = st.seen.lock().unwrap().len();
    let id = format!("resp_up{n}");
    let text = format!("echo: {}", last_user_text(&body));
    let item = json!({"type": "message", "id": format!("msg_up{n}"), "status": "completed", "role": "assistant",
                      "content": [{"type": "output_text", "text": text, "annotations": []}]});
    let usage = json!({"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 4,
                       "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 14});
    let response = |status: &str, output: Value, usage: Value| {
        json!({"id": id, "object": "response", "created_at": 1700000000, "status": status, "error": null,
               "incomplete_details": null, "model": body["model"], "output": output, "parallel_tool_calls": true,
               "tool_choice": "auto", "tools": [], "previous_response_id": body["previous_response_id"], "usage": usage})
    };
    if body["stream"] != true {
        return (
            [("content-type", "application/json")],
            response("completed", json!([item]), usage).to_string(),
        )
            .into_response();
    }
    let mut seq = 0;
    let mut out = String::new();
    let mut ev = |kind: &str, mut data: Value| {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(seq);
        seq += 1;
        out += &format!("event: {kind}\ndata: {data}\n\n");
    };
    ev(
        "response.created",
        json!({"response": response("in_progress", json!([]), Value::Null)}),
    );
    ev(
        "response.output_item.added",
        json!({"output_index": 0, "item": {"type": "message", "id": format!("msg_up{n}"), "status": "in_progress", "role": "assistant", "content": []}}),
    );
    ev(
        "response.content_part.added",
        json!({"item_id": format!("msg_up{n}"), "output_index": 0, "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}),
    );
    for piece in [&text[..5], &text[5..]] {
        ev(
            "response.output_text.delta",
            json!({"item_id": format!("msg_up{n}"), "output_index": 0, "content_index": 0, "delta": piece}),
        );
    }
    ev(
        "response.output_text.done",
        json!({"item_id": format!("msg_up{n}"), "output_index": 0, "content_index": 0, "text": text}),
    );
    ev(
        "response.output_item.done",
        json!({"output_index": 0, "item": item}),
    );
    ev(
        "response.completed",
        json!({"response": response("completed", json!([item]), usage)}),
    );
    ([("content-type", "text/event-stream")], out).into_response()
}
