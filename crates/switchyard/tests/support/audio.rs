//! A mock of OpenAI's audio transcription API (`POST /v1/audio/transcriptions`, multipart),
//! from its reference. It reads the file as it arrives, counting bytes in
//! `UpstreamState::upload_bytes` (so a test can see the upload is streamed, not held), and
//! answers `heard N bytes` as json, verbose_json (with `duration`: 16 000 bytes a second) or
//! text.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::{Seen, UpstreamState};

pub async fn transcriptions(
    State(st): State<Arc<UpstreamState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let Ok(boundary) = multer::parse_boundary(&ct) else {
        return (StatusCode::BAD_REQUEST, "not multipart").into_response();
    };
    let mut mp = multer::Multipart::new(body.into_data_stream(), boundary);
    let mut fields = serde_json::Map::new();
    let mut size = 0u64;
    let mut sum = 0u64;
    while let Some(mut f) = mp.next_field().await.unwrap() {
        let name = f.name().unwrap_or("").to_owned();
        if name == "file" {
            fields.insert("file_name".into(), json!(f.file_name()));
            fields.insert(
                "file_type".into(),
                json!(f.content_type().map(|m| m.to_string())),
            );
            while let Some(c) = f.chunk().await.unwrap() {
                size += c.len() as u64;
                sum = c.iter().fold(sum, |s, b| s.wrapping_add(u64::from(*b)));
                st.upload_bytes.fetch_add(c.len() as u64, Ordering::SeqCst);
            }
        } else {
            fields.insert(name, json!(f.text().await.unwrap()));
        }
    }
    fields.insert("size".into(), json!(size));
    fields.insert("sum".into(), json!(sum));
    st.seen.lock().unwrap().push(Seen {
        headers,
        body: Value::Object(fields.clone()),
    });
    if fields.get("model").is_none() {
        return (
            StatusCode::BAD_REQUEST,
            [("content-type", "application/json")],
            json!({"error": {"message": "model is required", "type": "invalid_request_error", "param": "model", "code": null}}).to_string(),
        )
            .into_response();
    }
    let text = format!("heard {size} bytes");
    match fields.get("response_format").and_then(Value::as_str) {
        Some("text") => ([("content-type", "text/plain")], text).into_response(),
        Some("verbose_json") => (
            [("content-type", "application/json")],
            json!({"task": "transcribe", "language": "english", "duration": size as f64 / 16000.0,
                   "text": text, "segments": []})
            .to_string(),
        )
            .into_response(),
        _ => (
            [("content-type", "application/json")],
            json!({"text": text}).to_string(),
        )
            .into_response(),
    }
}
