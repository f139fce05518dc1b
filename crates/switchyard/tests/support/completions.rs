//! A mock of OpenAI's legacy completions API (`POST /v1/completions`), from its reference:
//! `prompt` (string, strings or token ids) in; `text_completion` objects out, one choice per
//! prompt, or `text_completion` chunks with a final usage chunk when asked.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{json, Value};

use super::{Seen, UpstreamState};

pub async fn completions(
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
    let prompts: Vec<String> = match &body["prompt"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned)).collect(),
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                [("content-type", "application/json")],
                json!({"error": {"message": "prompt is required", "type": "invalid_request_error", "param": "prompt", "code": null}}).to_string(),
            )
                .into_response()
        }
    };
    let model = body["model"].clone();
    let usage = json!({"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6});
    if body["stream"] == true {
        let mut out = String::new();
        for (i, p) in prompts.iter().enumerate() {
            for piece in ["re: ", p.as_str()] {
                let c = json!({"id": "cmpl-up", "object": "text_completion", "created": 1, "model": model,
                               "choices": [{"text": piece, "index": i, "logprobs": null, "finish_reason": null}]});
                out += &format!("data: {c}\n\n");
            }
            let c = json!({"id": "cmpl-up", "object": "text_completion", "created": 1, "model": model,
                           "choices": [{"text": "", "index": i, "logprobs": null, "finish_reason": "stop"}]});
            out += &format!("data: {c}\n\n");
        }
        if body["stream_options"]["include_usage"] == true {
            let c = json!({"id": "cmpl-up", "object": "text_completion", "created": 1, "model": model, "choices": [], "usage": usage});
            out += &format!("data: {c}\n\n");
        }
        out += "data: [DONE]\n\n";
        return ([("content-type", "text/event-stream")], out).into_response();
    }
    let choices: Vec<Value> = prompts
        .iter()
        .enumerate()
        .map(|(i, p)| json!({"text": format!("re: {p}"), "index": i, "logprobs": null, "finish_reason": "stop"}))
        .collect();
    (
        [("content-type", "application/json")],
        json!({"id": "cmpl-up", "object": "text_completion", "created": 1, "model": model, "choices": choices, "usage": usage}).to_string(),
    )
        .into_response()
}
