//! Mocks of OpenAI's images, speech and moderations endpoints and of the rerank APIs
//! (Cohere `/v2/rerank`, Jina- and Voyage-style `/v1/rerank`), from their references.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{json, Value};

use super::{Seen, UpstreamState};

fn record(st: &UpstreamState, headers: HeaderMap, body: &Bytes) -> Value {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    st.seen.lock().unwrap().push(Seen {
        headers,
        body: v.clone(),
    });
    v
}

fn json_response(v: Value) -> Response {
    ([("content-type", "application/json")], v.to_string()).into_response()
}

pub async fn images(
    State(st): State<Arc<UpstreamState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let b = record(&st, headers, &body);
    if b["prompt"].as_str().is_none() {
        return (StatusCode::BAD_REQUEST, "prompt is required").into_response();
    }
    let n = b["n"].as_u64().unwrap_or(1);
    let data: Vec<Value> = (0..n).map(|i| json!({"url": format!("https://img.example/{i}.png"), "revised_prompt": b["prompt"]})).collect();
    let mut out = json!({"created": 1700000000, "data": data});
    if b["model"] == "gpt-image-1" {
        out["usage"] = json!({"input_tokens": 50, "output_tokens": 1000, "total_tokens": 1050});
    }
    json_response(out)
}

/// 256 KiB of "audio", in 16 KiB pieces.
pub async fn speech(
    State(st): State<Arc<UpstreamState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let b = record(&st, headers, &body);
    if b["voice"].as_str().is_none() {
        return (
            StatusCode::BAD_REQUEST,
            [("content-type", "application/json")],
            json!({"error": {"message": "voice is required", "type": "invalid_request_error", "param": "voice", "code": null}}).to_string(),
        )
            .into_response();
    }
    let chunks =
        (0..16u8).map(|i| Ok::<_, std::convert::Infallible>(Bytes::from(vec![i; 16 * 1024])));
    (
        [("content-type", "audio/mpeg")],
        axum::body::Body::from_stream(futures_util::stream::iter(chunks)),
    )
        .into_response()
}

pub async fn moderations(
    State(st): State<Arc<UpstreamState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let b = record(&st, headers, &body);
    let flagged = b["input"].as_str().is_some_and(|s| s.contains("kill"));
    json_response(
        json!({"id": "modr-1", "model": b["model"], "results": [{"flagged": flagged,
        "categories": {"violence": flagged}, "category_scores": {"violence": if flagged {0.9} else {0.01}}}]}),
    )
}

/// Scores documents by how many query words they contain.
fn scores(b: &Value) -> Vec<(usize, f64)> {
    let q: Vec<String> = b["query"]
        .as_str()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_lowercase)
        .collect();
    let mut s: Vec<(usize, f64)> = b["documents"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let t = d
                .as_str()
                .or_else(|| d["text"].as_str())
                .unwrap_or("")
                .to_lowercase();
            (
                i,
                q.iter().filter(|w| t.contains(w.as_str())).count() as f64 / q.len().max(1) as f64,
            )
        })
        .collect();
    s.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap());
    s
}

pub async fn cohere_rerank(
    State(st): State<Arc<UpstreamState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let b = record(&st, headers, &body);
    let top = b["top_n"].as_u64().unwrap_or(u64::MAX) as usize;
    let results: Vec<Value> = scores(&b)
        .into_iter()
        .take(top)
        .map(|(i, s)| json!({"index": i, "relevance_score": s}))
        .collect();
    json_response(
        json!({"id": "rr-1", "results": results, "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}}}),
    )
}

/// Jina's shape (`results`), or Voyage's (`data`) when asked with `top_k`.
pub async fn compat_rerank(
    State(st): State<Arc<UpstreamState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let b = record(&st, headers, &body);
    let voyage = b.get("top_k").is_some();
    let top = b["top_n"]
        .as_u64()
        .or(b["top_k"].as_u64())
        .unwrap_or(u64::MAX) as usize;
    let rows: Vec<Value> = scores(&b)
        .into_iter()
        .take(top)
        .map(|(i, s)| json!({"index": i, "relevance_score": s}))
        .collect();
    if voyage {
        json_response(
            json!({"object": "list", "data": rows, "model": b["model"], "usage": {"total_tokens": 20}}),
        )
    } else {
        json_response(json!({"model": b["model"], "results": rows, "usage": {"total_tokens": 30}}))
    }
}
