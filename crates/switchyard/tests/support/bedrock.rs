//! A mock of Amazon Bedrock's runtime, from AWS's public API reference: `Converse`
//! (`POST /model/{modelId}/converse`), `ConverseStream` (`/converse-stream`, answered in the
//! binary event-stream framing with real CRCs) and `InvokeModel` (`/invoke`) for Titan and
//! Cohere embedding models.
//!
//! Every request must be authenticated like the real service: a SigV4 signature, which the
//! mock recomputes with `aws-sigv4` from the request it received (method, raw path, signed
//! headers, body) and the test credentials below, or a Bedrock API key as a bearer token.
//! A wrong signature is a 403 `InvalidSignatureException`, as AWS answers.
//!
//! Behaviour by model id: `test.throttled-v1:0` (429 ThrottlingException), `test.too-long-v1:0`
//! (400 "Input is too long"), `test.invalid-v1:0` (400 ValidationException), `test.denied-v1:0`
//! (403 AccessDeniedException), `test.badcrc-v1:0` (a stream whose third frame has a damaged
//! CRC), `test.stream-error-v1:0` (a stream that ends with a modelStreamErrorException); any
//! other id is a model that answers. A request whose `toolConfig` has tools and whose last
//! message is not a tool result gets a call of the first tool.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;
use serde_json::{json, Value};

use super::{Seen, UpstreamState};

/// The test access key id.
pub const ACCESS_KEY_ID: &str = "AKIDSWITCHYARDTEST";
/// The test secret key.
pub const SECRET_ACCESS_KEY: &str = "swItChYaRd/TeSt+SeCrEt/KeY0123456789abcd";
/// The test session token.
pub const SESSION_TOKEN: &str = "FwoGZXIvYXdzEXAMPLEsessiontoken";
/// The region the mock serves.
pub const REGION: &str = "us-east-1";
/// The Bedrock API key the mock takes as a bearer token.
pub const API_KEY: &str = "bedrock-api-key-test";

const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

fn aws_error(status: u16, kind: &str, message: &str) -> Response {
    let mut resp = (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        json!({ "message": message }).to_string(),
    )
        .into_response();
    resp.headers_mut().insert(
        "x-amzn-errortype",
        format!("{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/")
            .parse()
            .unwrap(),
    );
    resp.headers_mut()
        .insert("x-amzn-requestid", "mock-request-id".parse().unwrap());
    resp
}

fn validation(message: &str) -> Response {
    aws_error(400, "ValidationException", message)
}

/// `20240102T030405Z` as a time.
fn amz_date(s: &str) -> Option<SystemTime> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let t = time::PrimitiveDateTime::parse(s, format).ok()?.assume_utc();
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(t.unix_timestamp()).ok()?))
}

/// Checks the request's authentication as Bedrock does. `Err` is the answer to send.
fn authenticate(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), Response> {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let Some(auth) = header("authorization") else {
        return Err(aws_error(
            403,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ));
    };
    if let Some(token) = auth.strip_prefix("Bearer ") {
        return if token == API_KEY {
            Ok(())
        } else {
            Err(aws_error(
                403,
                "AccessDeniedException",
                "Invalid API Key format: Must start with pre-defined prefix",
            ))
        };
    }
    // AWS4-HMAC-SHA256 Credential=AKID/20240102/us-east-1/bedrock/aws4_request,
    //   SignedHeaders=a;b;c, Signature=hex
    let Some(fields) = auth.strip_prefix("AWS4-HMAC-SHA256 ") else {
        return Err(aws_error(
            403,
            "IncompleteSignatureException",
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        ));
    };
    let field = |name: &str| {
        fields
            .split(", ")
            .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or("")
    };
    let scope: Vec<&str> = field("Credential").split('/').collect();
    let signed: Vec<&str> = field("SignedHeaders").split(';').collect();
    if scope.len() != 5 || scope[4] != "aws4_request" {
        return Err(aws_error(
            403,
            "IncompleteSignatureException",
            "Authorization header requires 'Credential' parameter.",
        ));
    }
    if scope[0] != ACCESS_KEY_ID {
        return Err(aws_error(
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ));
    }
    if scope[2] != REGION || scope[3] != "bedrock" {
        return Err(aws_error(403, "InvalidSignatureException", &format!(
            "Credential should be scoped to a valid region and service (bedrock in {REGION}), not {}/{}", scope[2], scope[3]
        )));
    }
    for required in ["host", "x-amz-date"] {
        if !signed.contains(&required) {
            return Err(aws_error(
                403,
                "InvalidSignatureException",
                &format!("'{required}' must be a signed header"),
            ));
        }
    }
    let Some(time) = header("x-amz-date").and_then(amz_date) else {
        return Err(aws_error(
            403,
            "IncompleteSignatureException",
            "X-Amz-Date is missing or malformed",
        ));
    };
    let skew = SystemTime::now()
        .duration_since(time)
        .unwrap_or_else(|e| e.duration());
    if skew > Duration::from_secs(300) {
        return Err(aws_error(
            403,
            "InvalidSignatureException",
            "Signature expired",
        ));
    }
    // Recompute: the signed headers as received (date and token are the signer's own), the
    // raw path as sent, the body's hash.
    let token = header("x-amz-security-token").map(str::to_owned);
    if signed.contains(&"x-amz-security-token") && token.as_deref() != Some(SESSION_TOKEN) {
        return Err(aws_error(
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ));
    }
    let host = header("host").unwrap_or("");
    let url = format!(
        "http://{host}{}",
        uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut list = Vec::new();
    for name in &signed {
        if matches!(*name, "x-amz-date" | "x-amz-security-token") {
            continue;
        }
        let Some(v) = header(name) else {
            return Err(aws_error(
                403,
                "InvalidSignatureException",
                &format!("signed header {name} is missing"),
            ));
        };
        list.push((*name, v));
    }
    let identity = aws_credential_types::Credentials::new(
        ACCESS_KEY_ID,
        SECRET_ACCESS_KEY,
        token,
        None,
        "mock",
    )
    .into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name("bedrock")
        .time(time)
        .settings(aws_sigv4::http_request::SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let request = aws_sigv4::http_request::SignableRequest::new(
        method.as_str(),
        url,
        list.into_iter(),
        aws_sigv4::http_request::SignableBody::Bytes(body),
    )
    .unwrap();
    let (_, expected) = aws_sigv4::http_request::sign(request, &params)
        .unwrap()
        .into_parts();
    if field("Signature") != expected {
        return Err(aws_error(
            403,
            "InvalidSignatureException",
            SIGNATURE_MISMATCH,
        ));
    }
    Ok(())
}

/// What a model of this mock says to a Converse request, or a validation error, after
/// checking the body against the Converse reference.
fn check_converse(body: &Value) -> Result<(), String> {
    const TOP: &[&str] = &[
        "messages",
        "system",
        "inferenceConfig",
        "toolConfig",
        "guardrailConfig",
        "additionalModelRequestFields",
        "additionalModelResponseFieldPaths",
        "performanceConfig",
        "promptVariables",
        "requestMetadata",
    ];
    let Some(obj) = body.as_object() else {
        return Err("Malformed input request: expected an object".into());
    };
    if let Some(k) = obj.keys().find(|k| !TOP.contains(&k.as_str())) {
        return Err(format!(
            "Malformed input request: extraneous key [{k}] is not permitted"
        ));
    }
    let messages = body["messages"].as_array().ok_or("messages is required")?;
    if messages.first().map(|m| &m["role"]) != Some(&json!("user")) {
        return Err("A conversation must start with a user message. Try again with a conversation that starts with a user message.".into());
    }
    let mut tool_ids = Vec::new();
    let mut has_tool_blocks = false;
    for (i, m) in messages.iter().enumerate() {
        let role = m["role"].as_str().unwrap_or("");
        if !matches!(role, "user" | "assistant") {
            return Err(format!("messages.{i}.role must be user or assistant"));
        }
        if i > 0 && messages[i - 1]["role"] == m["role"] {
            return Err("A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.".into());
        }
        let content = m["content"].as_array().ok_or("content must be a list")?;
        if content.is_empty() {
            return Err(format!(
                "The content field in the Message object at messages.{i} is empty."
            ));
        }
        for b in content {
            if let Some(t) = b.get("text") {
                if t.as_str().is_none_or(|t| t.trim().is_empty()) {
                    return Err(format!(
                        "The text field in the ContentBlock object at messages.{i} is blank."
                    ));
                }
            } else if let Some(img) = b.get("image") {
                let format = img["format"].as_str().unwrap_or("");
                if !matches!(format, "png" | "jpeg" | "gif" | "webp") {
                    return Err(format!("invalid image format {format}"));
                }
                base64::engine::general_purpose::STANDARD
                    .decode(img["source"]["bytes"].as_str().unwrap_or(""))
                    .map_err(|_| "image bytes are not base64".to_owned())?;
            } else if let Some(u) = b.get("toolUse") {
                has_tool_blocks = true;
                if role != "assistant" || !u["input"].is_object() || u["name"].as_str().is_none() {
                    return Err(
                        "toolUse must be an assistant block with a name and an object input".into(),
                    );
                }
                tool_ids.push(u["toolUseId"].as_str().unwrap_or("").to_owned());
            } else if let Some(r) = b.get("toolResult") {
                has_tool_blocks = true;
                let id = r["toolUseId"].as_str().unwrap_or("");
                if role != "user" || !tool_ids.iter().any(|t| t == id) {
                    return Err(format!(
                        "toolResult {id} does not answer a toolUse of the previous turn"
                    ));
                }
                if r["content"].as_array().is_none_or(|c| c.is_empty()) {
                    return Err("toolResult content must not be empty".into());
                }
            } else if b.get("cachePoint").is_none() {
                return Err(format!("unknown content block {b}"));
            }
        }
    }
    if has_tool_blocks && body.get("toolConfig").is_none() {
        return Err("The toolConfig field must be defined when using toolUse and toolResult content blocks.".into());
    }
    if let Some(tc) = body.get("toolConfig") {
        let tools = tc["tools"]
            .as_array()
            .ok_or("toolConfig.tools is required")?;
        for t in tools {
            if t.get("cachePoint").is_some() {
                continue;
            }
            let spec = &t["toolSpec"];
            if spec["name"].as_str().is_none() || !spec["inputSchema"]["json"].is_object() {
                return Err("toolSpec needs a name and inputSchema.json".into());
            }
        }
    }
    for (k, v) in body["inferenceConfig"].as_object().into_iter().flatten() {
        if !matches!(
            k.as_str(),
            "maxTokens" | "temperature" | "topP" | "stopSequences"
        ) {
            return Err(format!(
                "Malformed input request: inferenceConfig.{k} is not permitted"
            ));
        }
        if k == "maxTokens" && v.as_u64().is_none() {
            return Err("maxTokens must be an integer".into());
        }
    }
    Ok(())
}

/// The last user turn's text and tool results, joined.
fn last_user_text(body: &Value) -> (String, Option<String>) {
    let last = body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .cloned()
        .unwrap_or(Value::Null);
    let mut text = String::new();
    let mut result = None;
    for b in last["content"].as_array().into_iter().flatten() {
        if let Some(t) = b["text"].as_str() {
            text.push_str(t);
        }
        if let Some(img) = b.get("image") {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(img["source"]["bytes"].as_str().unwrap_or(""))
                .unwrap_or_default();
            text.push_str(&format!(
                " [{} image, {} bytes]",
                img["format"].as_str().unwrap_or(""),
                bytes.len()
            ));
        }
        if let Some(r) = b.get("toolResult") {
            result = r["content"][0]["text"].as_str().map(str::to_owned);
        }
    }
    (text, result)
}

/// What the model does: a tool call, or text.
enum Answer {
    Tool { name: String },
    Text(String),
}

fn answer(body: &Value) -> Answer {
    let (text, result) = last_user_text(body);
    let tool = body["toolConfig"]["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|t| t["toolSpec"]["name"].as_str());
    match (tool, result) {
        (Some(name), None) => Answer::Tool {
            name: name.to_owned(),
        },
        (_, Some(result)) => Answer::Text(format!("The tool said: {result}")),
        (None, None) => Answer::Text(format!("You said: {text}")),
    }
}

fn usage() -> Value {
    json!({"inputTokens": 11, "outputTokens": 4, "totalTokens": 20,
           "cacheReadInputTokens": 2, "cacheWriteInputTokens": 3})
}

fn error_for(model: &str) -> Option<Response> {
    Some(match model {
        "test.throttled-v1:0" => aws_error(
            429,
            "ThrottlingException",
            "Too many requests, please wait before trying again.",
        ),
        "test.too-long-v1:0" => validation("Input is too long for requested model."),
        "test.invalid-v1:0" => validation("The provided model identifier is invalid."),
        "test.denied-v1:0" => aws_error(
            403,
            "AccessDeniedException",
            "You don't have access to the model with the specified model ID.",
        ),
        _ => return None,
    })
}

/// `POST /model/{modelId}/converse`.
pub async fn converse(
    State(st): State<Arc<UpstreamState>>,
    Path(model): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    if let Err(r) = authenticate(&method, &uri, &headers, &raw) {
        return r;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&raw) else {
        return aws_error(
            400,
            "SerializationException",
            "Could not parse the request body",
        );
    };
    st.seen.lock().unwrap().push(Seen {
        headers,
        body: body.clone(),
    });
    if let Some(r) = error_for(&model) {
        return r;
    }
    if let Err(m) = check_converse(&body) {
        return validation(&m);
    }
    let (content, stop) = match answer(&body) {
        Answer::Tool { name } => (
            json!([{"text": "Let me check."},
                   {"toolUse": {"toolUseId": "tooluse_mock1", "name": name, "input": {"city": "Paris"}}}]),
            "tool_use",
        ),
        Answer::Text(t) => (json!([{"text": t}]), "end_turn"),
    };
    (
        [
            ("content-type", "application/json"),
            ("x-amzn-requestid", "mock-request-id"),
        ],
        json!({"output": {"message": {"role": "assistant", "content": content}},
               "stopReason": stop, "usage": usage(), "metrics": {"latencyMs": 12}})
        .to_string(),
    )
        .into_response()
}

/// One event-stream message, encoded from AWS's framing reference: prelude (total length,
/// headers length, CRC32 of those 8 bytes), string headers (type 7), payload, CRC32 of all.
pub fn frame(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    for (name, value) in headers {
        h.push(u8::try_from(name.len()).unwrap());
        h.extend_from_slice(name.as_bytes());
        h.push(7);
        h.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
        h.extend_from_slice(value.as_bytes());
    }
    let total = u32::try_from(12 + h.len() + payload.len() + 4).unwrap();
    let mut m = Vec::new();
    m.extend_from_slice(&total.to_be_bytes());
    m.extend_from_slice(&u32::try_from(h.len()).unwrap().to_be_bytes());
    let prelude = crc32fast::hash(&m);
    m.extend_from_slice(&prelude.to_be_bytes());
    m.extend_from_slice(&h);
    m.extend_from_slice(payload);
    let crc = crc32fast::hash(&m);
    m.extend_from_slice(&crc.to_be_bytes());
    m
}

/// An event frame, with the padding field `p` the real service adds.
fn event(kind: &str, mut payload: Value) -> Vec<u8> {
    payload["p"] = json!("abcdefghijklmnopqrstuvwxyzABCDEF");
    frame(
        &[
            (":event-type", kind),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload.to_string().as_bytes(),
    )
}

/// `POST /model/{modelId}/converse-stream`: pieces sent apart, one frame split across two.
pub async fn converse_stream(
    State(st): State<Arc<UpstreamState>>,
    Path(model): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    if let Err(r) = authenticate(&method, &uri, &headers, &raw) {
        return r;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&raw) else {
        return aws_error(
            400,
            "SerializationException",
            "Could not parse the request body",
        );
    };
    st.seen.lock().unwrap().push(Seen {
        headers,
        body: body.clone(),
    });
    if let Some(r) = error_for(&model) {
        return r;
    }
    if let Err(m) = check_converse(&body) {
        return validation(&m);
    }
    let mut pieces: Vec<Vec<u8>> = vec![event("messageStart", json!({"role": "assistant"}))];
    let stop = match answer(&body) {
        Answer::Tool { name } => {
            pieces.push(event(
                "contentBlockStart",
                json!({"contentBlockIndex": 0,
                "start": {"toolUse": {"toolUseId": "tooluse_mock1", "name": name}}}),
            ));
            for part in ["{\"city\"", ": \"Par", "is\"}"] {
                pieces.push(event(
                    "contentBlockDelta",
                    json!({"contentBlockIndex": 0,
                    "delta": {"toolUse": {"input": part}}}),
                ));
            }
            pieces.push(event("contentBlockStop", json!({"contentBlockIndex": 0})));
            "tool_use"
        }
        Answer::Text(text) => {
            let mid = text
                .char_indices()
                .nth(text.chars().count() / 2)
                .map_or(0, |(i, _)| i);
            for part in [&text[..mid], &text[mid..]] {
                pieces.push(event(
                    "contentBlockDelta",
                    json!({"contentBlockIndex": 0, "delta": {"text": part}}),
                ));
            }
            pieces.push(event("contentBlockStop", json!({"contentBlockIndex": 0})));
            "end_turn"
        }
    };
    if model == "test.badcrc-v1:0" {
        let last = pieces.len() - 1;
        let frame = &mut pieces[last - 1];
        let n = frame.len();
        frame[n - 1] ^= 0xff;
        pieces.truncate(last);
    } else if model == "test.stream-error-v1:0" {
        pieces.push(frame(
            &[
                (":message-type", "exception"),
                (":exception-type", "modelStreamErrorException"),
                (":content-type", "application/json"),
            ],
            br#"{"message":"The model stopped producing output."}"#,
        ));
    } else {
        pieces.push(event("messageStop", json!({"stopReason": stop})));
        pieces.push(event(
            "metadata",
            json!({"usage": usage(), "metrics": {"latencyMs": 30}}),
        ));
    }
    // Split the second frame across two writes, so the gateway sees a frame in two reads.
    let second = pieces.remove(1);
    let (a, b) = second.split_at(second.len() / 2);
    pieces.insert(1, b.to_vec());
    pieces.insert(1, a.to_vec());
    // A failure comes well after the first frames: the gateway has started its answer.
    let failing = matches!(
        model.as_str(),
        "test.badcrc-v1:0" | "test.stream-error-v1:0"
    );
    let n = pieces.len();
    let timed = pieces.into_iter().enumerate().map(move |(i, p)| {
        let wait = if failing && i + 1 == n { 150 } else { 5 };
        (p, Duration::from_millis(wait))
    });
    let stream = futures_util::stream::unfold(timed, |mut it| async move {
        let (next, wait) = it.next()?;
        tokio::time::sleep(wait).await;
        Some((Ok::<_, std::convert::Infallible>(Bytes::from(next)), it))
    });
    (
        StatusCode::OK,
        [
            ("content-type", "application/vnd.amazon.eventstream"),
            ("x-amzn-requestid", "mock-request-id"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// `POST /model/{modelId}/invoke` for embedding models: Titan text (`inputText`, one text)
/// and Cohere embed (`texts`, `input_type`).
pub async fn invoke(
    State(st): State<Arc<UpstreamState>>,
    Path(model): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    if let Err(r) = authenticate(&method, &uri, &headers, &raw) {
        return r;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&raw) else {
        return aws_error(
            400,
            "SerializationException",
            "Could not parse the request body",
        );
    };
    st.seen.lock().unwrap().push(Seen {
        headers,
        body: body.clone(),
    });
    let json = |v: Value| ([("content-type", "application/json")], v.to_string()).into_response();
    if model.starts_with("amazon.titan-embed-text") {
        let keys_ok = body.as_object().is_some_and(|o| {
            o.keys().all(|k| {
                matches!(
                    k.as_str(),
                    "inputText" | "dimensions" | "normalize" | "embeddingTypes"
                )
            })
        });
        let Some(text) = body["inputText"].as_str().filter(|_| keys_ok) else {
            return validation("Malformed input request: #: required key [inputText] not found, please reformat your input and try again.");
        };
        let dims = body["dimensions"].as_u64().unwrap_or(1024) as usize;
        let mut v = vec![0.0f64; dims.min(4)];
        v[0] = text.chars().count() as f64;
        return json(
            json!({"embedding": v, "inputTextTokenCount": text.split_whitespace().count()}),
        );
    }
    if model.starts_with("cohere.embed") {
        let Some(texts) = body["texts"].as_array() else {
            return validation("Malformed input request: #: required key [texts] not found");
        };
        if body["input_type"].as_str().is_none() {
            return validation("Malformed input request: #: required key [input_type] not found");
        }
        let vectors: Vec<Value> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                json!([
                    t.as_str().unwrap_or("").chars().count() as f64,
                    i as f64,
                    0.25
                ])
            })
            .collect();
        return json(
            json!({"id": "emb-mock", "embeddings": vectors, "response_type": "embeddings_floats", "texts": texts}),
        );
    }
    validation("The provided model identifier is invalid.")
}
