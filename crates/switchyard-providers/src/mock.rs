//! `mock_response` deployments: answers made locally, no upstream call.
//!
//! As in LiteLLM, a string answers as the assistant's text (streamed word by word when the
//! client streams), the strings `litellm.RateLimitError` and friends fail with that error, and
//! an object holding `choices` is returned as the whole response body.

use bytes::Bytes;
use serde_json::Value;
use switchyard_types::{
    ChatCompletionChunk, ChatCompletionRequest, ChatCompletionResponse, Choice, ChunkChoice, Delta,
    JsonObject, ResponseMessage, Role, Usage,
};

use crate::sse::{data_event, DONE_EVENT};
use crate::{ChatOutput, ProviderError};

/// What a mock deployment (or a request's `mock_response`) answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Mock {
    /// The assistant's text.
    Text(String),
    /// A failure, as the named LiteLLM exception would be.
    Error(ProviderError),
    /// A complete response body.
    Body(Bytes),
}

/// LiteLLM exception names a mock may raise, with their HTTP statuses.
const MOCK_ERRORS: &[(&str, u16)] = &[
    ("litellm.RateLimitError", 429),
    ("litellm.InternalServerError", 500),
    ("litellm.ServiceUnavailableError", 503),
    ("litellm.BadGatewayError", 502),
    ("litellm.Timeout", 408),
    ("litellm.AuthenticationError", 401),
    ("litellm.PermissionDeniedError", 403),
    ("litellm.NotFoundError", 404),
    ("litellm.BadRequestError", 400),
    ("litellm.ContextWindowExceededError", 400),
    ("litellm.ContentPolicyViolationError", 400),
];

impl Mock {
    /// Reads a `mock_response` value. `None` when it is neither a string nor a response object.
    pub fn from_value(value: &Value) -> Option<Mock> {
        match value {
            Value::String(s) => Some(match MOCK_ERRORS.iter().find(|(n, _)| n == s) {
                Some((name, status)) => {
                    let class = name.trim_start_matches("litellm.");
                    Mock::Error(ProviderError {
                        status: *status,
                        message: format!("{name}: mock_response raised {class}"),
                        kind: Some(class.to_owned()),
                        code: None,
                        param: None,
                    })
                }
                None => Mock::Text(s.clone()),
            }),
            Value::Object(o) if o.contains_key("choices") => {
                serde_json::to_vec(value).ok().map(|b| Mock::Body(b.into()))
            }
            Value::Number(_) | Value::Bool(_) => Some(Mock::Text(value.to_string())),
            _ => None,
        }
    }
}

/// A rough token estimate (four characters a token) for mock usage; real counting belongs to
/// the pricing crate.
fn estimate_tokens(chars: usize) -> u64 {
    (chars as u64).div_ceil(4).max(1)
}

fn prompt_chars(request: &ChatCompletionRequest) -> usize {
    request
        .messages
        .iter()
        .map(|m| m.content.as_ref().map_or(0, |c| c.joined_text().len()) + 4)
        .sum()
}

/// The usage a mock reports for `text` in answer to `request`.
pub fn usage(request: &ChatCompletionRequest, text: &str) -> Usage {
    let prompt_tokens = estimate_tokens(prompt_chars(request));
    let completion_tokens = estimate_tokens(text.len());
    Usage {
        prompt_tokens,
        completion_tokens,
        total_tokens: prompt_tokens + completion_tokens,
        ..Usage::default()
    }
}

/// A non-streamed answer.
pub fn respond(
    mock: &Mock,
    request: &ChatCompletionRequest,
    id: &str,
    created: u64,
) -> Result<ChatOutput, ProviderError> {
    match mock {
        Mock::Error(e) => Err(e.clone()),
        Mock::Body(b) => Ok(ChatOutput {
            body: b.clone(),
            usage: serde_json::from_slice::<Value>(b)
                .ok()
                .and_then(|v| serde_json::from_value(v.get("usage")?.clone()).ok()),
        }),
        Mock::Text(text) => {
            let n = request.n.unwrap_or(1).max(1);
            let usage = usage(request, text);
            let resp = ChatCompletionResponse {
                id: id.to_owned(),
                object: "chat.completion".into(),
                created,
                model: request.model.clone(),
                choices: (0..n)
                    .map(|index| Choice {
                        index,
                        message: ResponseMessage {
                            role: Role::Assistant,
                            content: Some(text.clone()),
                            tool_calls: None,
                            extra: JsonObject::new(),
                        },
                        finish_reason: Some("stop".into()),
                        logprobs: None,
                        extra: JsonObject::new(),
                    })
                    .collect(),
                usage: Some(usage.clone()),
                system_fingerprint: None,
                extra: JsonObject::new(),
            };
            let body = serde_json::to_vec(&resp).map_err(ProviderError::malformed)?;
            Ok(ChatOutput {
                body: body.into(),
                usage: Some(usage),
            })
        }
    }
}

/// The SSE events of a streamed answer, `[DONE]` included, and its usage.
///
/// Text is cut after each space, so a client sees several chunks; the usage chunk is added
/// when the client asked for it with `stream_options.include_usage`.
pub fn stream_events(
    mock: &Mock,
    request: &ChatCompletionRequest,
    id: &str,
    created: u64,
) -> Result<(Vec<Bytes>, Usage), ProviderError> {
    let text = match mock {
        Mock::Error(e) => return Err(e.clone()),
        Mock::Text(t) => t.clone(),
        Mock::Body(b) => serde_json::from_slice::<ChatCompletionResponse>(b)
            .ok()
            .and_then(|r| r.choices.into_iter().next())
            .and_then(|c| c.message.content)
            .unwrap_or_default(),
    };
    let chunk = |delta: Delta, finish: Option<&str>| ChatCompletionChunk {
        id: id.to_owned(),
        object: "chat.completion.chunk".into(),
        created,
        model: request.model.clone(),
        choices: vec![ChunkChoice {
            index: 0,
            delta,
            finish_reason: finish.map(str::to_owned),
            logprobs: None,
        }],
        usage: None,
        system_fingerprint: None,
        extra: JsonObject::new(),
    };
    let mut chunks = Vec::new();
    let pieces = text.split_inclusive(' ').collect::<Vec<_>>();
    if pieces.is_empty() {
        chunks.push(chunk(
            Delta {
                role: Some(Role::Assistant),
                content: Some(String::new()),
                ..Delta::default()
            },
            None,
        ));
    }
    for (i, piece) in pieces.iter().enumerate() {
        chunks.push(chunk(
            Delta {
                role: (i == 0).then_some(Role::Assistant),
                content: Some((*piece).to_owned()),
                ..Delta::default()
            },
            None,
        ));
    }
    chunks.push(chunk(Delta::default(), Some("stop")));
    let usage = usage(request, &text);
    if request.wants_stream_usage() {
        let mut last = chunk(Delta::default(), None);
        last.choices.clear();
        last.usage = Some(usage.clone());
        chunks.push(last);
    }
    let mut events = Vec::with_capacity(chunks.len() + 1);
    for c in &chunks {
        let json = serde_json::to_vec(c).map_err(ProviderError::malformed)?;
        events.push(data_event(&json));
    }
    events.push(Bytes::from_static(DONE_EVENT));
    Ok((events, usage))
}

/// Dimensions of a mock embedding.
pub const MOCK_DIMENSIONS: usize = 8;

/// A mock deployment's embeddings: a fixed vector per text, the same text always giving the
/// same unit vector (FNV-1a of its bytes seeds the values), so tests can compare them.
pub fn embedding(
    mock: &Mock,
    request: &switchyard_types::EmbeddingRequest,
) -> Result<ChatOutput, ProviderError> {
    if let Mock::Error(e) = mock {
        return Err(e.clone());
    }
    let texts: Vec<String> = match request.input.texts() {
        Some(t) => t.into_iter().map(str::to_owned).collect(),
        None => match &request.input {
            switchyard_types::EmbeddingInput::Tokens(t) => vec![format!("{t:?}")],
            switchyard_types::EmbeddingInput::TokenLists(l) => {
                l.iter().map(|t| format!("{t:?}")).collect()
            }
            _ => Vec::new(),
        },
    };
    let dims = request
        .dimensions
        .map_or(MOCK_DIMENSIONS, |d| d as usize)
        .clamp(1, 4096);
    let vectors: Vec<Vec<f32>> = texts
        .iter()
        .map(|t| {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for b in t.bytes() {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
            let raw: Vec<f32> = (0..dims)
                .map(|i| {
                    h = h.rotate_left(13).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ i as u64;
                    ((h >> 40) as f32 / (1u64 << 24) as f32) - 0.5
                })
                .collect();
            let norm = raw
                .iter()
                .map(|x| x * x)
                .sum::<f32>()
                .sqrt()
                .max(f32::EPSILON);
            raw.into_iter().map(|x| x / norm).collect()
        })
        .collect();
    let tokens: u64 = texts
        .iter()
        .map(|t| estimate_tokens(t.chars().count()))
        .sum();
    crate::embeddings::response(
        &request.model,
        &vectors,
        Some(tokens),
        crate::embeddings::wants_base64(request),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(stream_usage: bool) -> ChatCompletionRequest {
        serde_json::from_value(serde_json::json!({
            "model": "mock", "messages": [{"role": "user", "content": "Say hello"}],
            "stream": true, "stream_options": {"include_usage": stream_usage}
        }))
        .unwrap()
    }

    #[test]
    fn text_mock_answers_in_openai_shape() {
        let out = respond(&Mock::Text("Hi there".into()), &req(false), "chatcmpl-1", 7).unwrap();
        let v: Value = serde_json::from_slice(&out.body).unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], "Hi there");
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
        assert_eq!(v["model"], "mock");
        assert!(out.usage.unwrap().total_tokens > 0);
    }

    #[test]
    fn error_names_become_errors() {
        let m = Mock::from_value(&Value::String("litellm.RateLimitError".into())).unwrap();
        assert_eq!(respond(&m, &req(false), "x", 0).unwrap_err().status, 429);
    }

    #[test]
    fn stream_splits_words_and_adds_usage_when_asked() {
        let (events, _) = stream_events(&Mock::Text("a b c".into()), &req(true), "id", 1).unwrap();
        // three word chunks, the finish chunk, the usage chunk, [DONE]
        assert_eq!(events.len(), 6);
        assert_eq!(&events[5][..], DONE_EVENT);
        let usage_chunk: Value =
            serde_json::from_slice(&events[4][6..events[4].len() - 2]).unwrap();
        assert_eq!(usage_chunk["choices"], serde_json::json!([]));
        assert!(usage_chunk["usage"]["total_tokens"].as_u64().unwrap() > 0);
        let (events, _) = stream_events(&Mock::Text("a b c".into()), &req(false), "id", 1).unwrap();
        assert_eq!(events.len(), 5);
    }
}
