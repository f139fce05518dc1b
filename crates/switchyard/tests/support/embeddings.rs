//! Mocks of each provider's embeddings API, from their public references. Every one returns
//! a vector whose first value is the input's length in characters and second its position,
//! so a test can check the order and that each input arrived. `fail-*` models answer with the
//! provider's error shape.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{json, Value};

use super::{Seen, UpstreamState};

fn vector(text: &str, i: usize) -> Value {
    json!([text.chars().count() as f64, i as f64, 0.25])
}

fn record(st: &UpstreamState, headers: &HeaderMap, body: &Bytes) -> Option<Value> {
    let body: Value = serde_json::from_slice(body).ok()?;
    st.seen.lock().unwrap().push(Seen {
        headers: headers.clone(),
        body: body.clone(),
    });
    Some(body)
}

fn json_response(status: u16, v: Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        v.to_string(),
    )
        .into_response()
}

/// OpenAI `POST /v1/embeddings` (and Azure's deployment route, via `openai_deployment`).
pub async fn openai(
    State(st): State<Arc<UpstreamState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    st.chat_bodies.lock().unwrap().push(body.clone());
    let Some(body) = record(&st, &headers, &body) else {
        return json_response(
            400,
            json!({"error": {"message": "bad json", "type": "invalid_request_error", "param": null, "code": null}}),
        );
    };
    let model = body["model"].as_str().unwrap_or("").to_owned();
    if model == "fail-429" {
        return json_response(
            429,
            json!({"error": {"message": "Rate limit reached", "type": "requests", "param": null, "code": "rate_limit_exceeded"}}),
        );
    }
    let inputs: Vec<String> = match &body["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
            .collect(),
        _ => {
            return json_response(
                400,
                json!({"error": {"message": "'input' is required", "type": "invalid_request_error", "param": "input", "code": null}}),
            )
        }
    };
    let base64 = body["encoding_format"] == "base64";
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let v = vector(t, i);
            let embedding = if base64 {
                use base64::Engine;
                let bytes: Vec<u8> = v
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|f| (f.as_f64().unwrap() as f32).to_le_bytes())
                    .collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                v
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    let tokens = inputs.len() as u64 * 2;
    json_response(
        200,
        json!({"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}),
    )
}

/// Cohere `POST /v2/embed`.
pub async fn cohere(
    State(st): State<Arc<UpstreamState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(body) = record(&st, &headers, &body) else {
        return json_response(400, json!({"message": "invalid json"}));
    };
    if body["input_type"].as_str().is_none() {
        return json_response(
            400,
            json!({"message": "invalid request: input_type is required for embed models v3 and higher"}),
        );
    }
    if body["model"] == "fail-429" {
        return json_response(
            429,
            json!({"message": "You are using a Trial key, which is limited"}),
        );
    }
    let texts: Vec<String> = body["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    let floats: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| vector(t, i))
        .collect();
    json_response(
        200,
        json!({"id": "emb-1", "embeddings": {"float": floats}, "texts": texts,
               "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": 7}}}),
    )
}

/// Ollama `POST /api/embed`.
pub async fn ollama(
    State(st): State<Arc<UpstreamState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(body) = record(&st, &headers, &body) else {
        return json_response(400, json!({"error": "invalid json"}));
    };
    let inputs: Vec<String> = match &body["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_owned()).collect(),
        _ => return json_response(400, json!({"error": "input is required"})),
    };
    let vectors: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| vector(t, i))
        .collect();
    json_response(
        200,
        json!({"model": body["model"], "embeddings": vectors, "total_duration": 1, "prompt_eval_count": 5}),
    )
}

/// Gemini `:batchEmbedContents`, called from the Gemini mock's method dispatch.
pub fn gemini_batch(model: &str, body: &Value) -> Response {
    let Some(requests) = body["requests"].as_array() else {
        return json_response(
            400,
            json!({"error": {"code": 400, "message": "requests is required", "status": "INVALID_ARGUMENT"}}),
        );
    };
    let mut out = Vec::new();
    for (i, r) in requests.iter().enumerate() {
        if r["model"] != format!("models/{model}") {
            return json_response(
                400,
                json!({"error": {"code": 400, "message": "model of each request must match the batch", "status": "INVALID_ARGUMENT"}}),
            );
        }
        let text = r["content"]["parts"][0]["text"].as_str().unwrap_or("");
        out.push(json!({"values": vector(text, i)}));
    }
    json_response(200, json!({"embeddings": out}))
}

/// Vertex AI `:predict` for text embedding models.
pub fn vertex_predict(body: &Value) -> Response {
    let Some(instances) = body["instances"].as_array() else {
        return json_response(
            400,
            json!({"error": {"code": 400, "message": "instances is required", "status": "INVALID_ARGUMENT"}}),
        );
    };
    let predictions: Vec<Value> = instances
        .iter()
        .enumerate()
        .map(|(i, inst)| {
            let text = inst["content"].as_str().unwrap_or("");
            json!({"embeddings": {"values": vector(text, i), "statistics": {"token_count": 3.0, "truncated": false}}})
        })
        .collect();
    json_response(
        200,
        json!({"predictions": predictions, "metadata": {"billableCharacterCount": 10}}),
    )
}

/// Azure's `/openai/deployments/{deployment}/embeddings`: OpenAI's, with the deployment as
/// the model and an `api-key` header.
pub async fn azure(
    st: State<Arc<UpstreamState>>,
    Path(deployment): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if headers.get("api-key").is_none() {
        return json_response(
            401,
            json!({"error": {"code": "401", "message": "Access denied due to invalid subscription key."}}),
        );
    }
    let mut v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    v["model"] = json!(deployment);
    openai(st, headers, Bytes::from(v.to_string())).await
}
