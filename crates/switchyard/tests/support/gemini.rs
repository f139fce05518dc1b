//! A mock of the Gemini API (`POST /v1beta/models/{model}:generateContent` and
//! `:streamGenerateContent?alt=sse`), from its public reference: it wants `x-goog-api-key`,
//! `contents` with `user`/`model` roles, and answers by model name: `gemini-text` echoes the
//! last user text, `gemini-tool` calls the first declared function, `gemini-quota` is a 429.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{json, Value};

use super::{Seen, UpstreamState};

fn error(status: u16, code_status: &str, message: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        json!({"error": {"code": status, "message": message, "status": code_status}}).to_string(),
    )
        .into_response()
}

pub async fn generate(
    State(st): State<Arc<UpstreamState>>,
    Path(action): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error(400, "INVALID_ARGUMENT", "Invalid JSON payload");
    };
    st.seen.lock().unwrap().push(Seen {
        headers: headers.clone(),
        body: body.clone(),
    });
    if headers.get("x-goog-api-key").is_none() {
        return error(
            403,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers.",
        );
    }
    let Some((model, method)) = action.split_once(':') else {
        return error(404, "NOT_FOUND", "unknown method");
    };
    match method {
        "batchEmbedContents" => return super::embeddings::gemini_batch(model, &body),
        "predict" => return super::embeddings::vertex_predict(&body),
        _ => {}
    }
    let contents = body["contents"].as_array().cloned().unwrap_or_default();
    if contents.is_empty()
        || contents
            .iter()
            .any(|c| !matches!(c["role"].as_str(), Some("user" | "model")))
    {
        return error(
            400,
            "INVALID_ARGUMENT",
            "contents: role must be user or model",
        );
    }
    if model == "gemini-quota" {
        return error(
            429,
            "RESOURCE_EXHAUSTED",
            "Resource has been exhausted (e.g. check quota).",
        );
    }
    let last = contents
        .iter()
        .rev()
        .find(|c| c["role"] == "user")
        .and_then(|c| c["parts"].as_array())
        .and_then(|p| p.iter().rev().find_map(|p| p["text"].as_str()))
        .unwrap_or("")
        .to_owned();
    let usage = json!({"promptTokenCount": 7, "candidatesTokenCount": 4, "totalTokenCount": 11});
    let parts = if model == "gemini-tool" {
        let name = body["tools"][0]["functionDeclarations"][0]["name"]
            .as_str()
            .unwrap_or("f")
            .to_owned();
        vec![json!({"functionCall": {"name": name, "args": {"q": "x"}}})]
    } else {
        let text = format!("You said: {last}");
        let (a, b) = text.split_at(text.len() / 2);
        vec![json!({"text": a}), json!({"text": b})]
    };
    if method == "streamGenerateContent" {
        let mut out = String::new();
        for (i, p) in parts.iter().enumerate() {
            let mut chunk = json!({"candidates": [{"content": {"role": "model", "parts": [p]}, "index": 0}], "modelVersion": model, "responseId": "resp-mock"});
            if i + 1 == parts.len() {
                chunk["candidates"][0]["finishReason"] = json!("STOP");
                chunk["usageMetadata"] = usage.clone();
            }
            out.push_str(&format!("data: {chunk}\r\n\r\n"));
        }
        return ([("content-type", "text/event-stream")], out).into_response();
    }
    let merged: Vec<Value> = if model == "gemini-tool" {
        parts
    } else {
        vec![json!({"text": parts.iter().filter_map(|p| p["text"].as_str()).collect::<String>()})]
    };
    (
        [("content-type", "application/json")],
        json!({"candidates": [{"content": {"role": "model", "parts": merged}, "finishReason": "STOP", "index": 0}],
               "usageMetadata": usage, "modelVersion": model, "responseId": "resp-mock"})
        .to_string(),
    )
        .into_response()
}

/// The public half of the test service account's key.
const TEST_PUBLIC_KEY: &str = include_str!("../fixtures/vertex-test-key.pub.pem");

/// A mock Google token endpoint: checks the signed JWT (RS256, the test key, the cloud-platform
/// scope, audience = this endpoint) and issues `ya29.mock`.
pub async fn token(
    State(st): State<Arc<UpstreamState>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let form: std::collections::HashMap<String, String> = body
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.replace("%3A", ":")))
        .collect();
    if form.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return (
            StatusCode::BAD_REQUEST,
            json!({"error": "unsupported_grant_type"}).to_string(),
        )
            .into_response();
    }
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(TEST_PUBLIC_KEY.as_bytes()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    // The audience is this endpoint's own URL.
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    validation.set_audience(&[format!("http://{host}/token")]);
    match jsonwebtoken::decode::<Value>(
        form.get("assertion").map_or("", String::as_str),
        &key,
        &validation,
    ) {
        Ok(t)
            if t.claims["scope"] == "https://www.googleapis.com/auth/cloud-platform"
                && t.claims["iss"] == "sa@test-project.iam.gserviceaccount.com" =>
        {
            st.seen.lock().unwrap().push(Seen {
                headers: HeaderMap::new(),
                body: json!({"token_request": t.claims}),
            });
            (
                [("content-type", "application/json")],
                json!({"access_token": "ya29.mock", "expires_in": 3600, "token_type": "Bearer"})
                    .to_string(),
            )
                .into_response()
        }
        _ => (
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
                .to_string(),
        )
            .into_response(),
    }
}

/// Vertex AI's generateContent: the Gemini schema under a project path, with a bearer token.
pub async fn vertex(
    st: State<Arc<UpstreamState>>,
    Path((_project, _location, action)): Path<(String, String, String)>,
    mut headers: HeaderMap,
    body: Bytes,
) -> Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer ya29.mock") {
        return error(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
        );
    }
    headers.insert("x-goog-api-key", "via-oauth".parse().unwrap());
    generate(st, Path(action), headers, body).await
}
