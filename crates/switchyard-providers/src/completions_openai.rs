//! OpenAI's legacy text completions (`POST /v1/completions`) in, the gateway's chat format out.
//!
//! To an OpenAI-format deployment (OpenAI, Azure, vLLM, `text-completion-openai`, any
//! compatible server) the body goes through as sent to its `/completions`, and its answer and
//! stream come back as they are. Any other deployment is reached through chat completions, as
//! LiteLLM does: the prompt becomes one user message, and the chat answer or chunk stream
//! becomes a `text_completion` (chunk) again. Several prompts, token-id prompts, `echo`,
//! `suffix` and `best_of` need an OpenAI-format deployment.

use bytes::Bytes;
use http::Method;
use serde_json::{json, Map, Value};
use switchyard_types::{
    ChatCompletionRequest, ChatMessage, MessageContent, Role, Stop, StreamOptions,
};

use crate::sse::{data_event, Framer};
use crate::{Target, TranslateError, UpstreamRequest};

fn invalid(msg: impl Into<String>) -> TranslateError {
    TranslateError::Invalid(msg.into())
}

/// A parsed completions request.
#[derive(Debug, Clone)]
pub struct CompletionsRequest {
    /// The request as a chat request: admission, routing and non-OpenAI deployments.
    pub chat: ChatCompletionRequest,
    /// The body as received.
    pub body: Map<String, Value>,
    /// Why the request cannot be sent as a chat request, when it cannot.
    pub chat_refusal: Option<String>,
}

/// Parses a completions body.
pub fn parse(bytes: &[u8]) -> Result<CompletionsRequest, TranslateError> {
    let body: Map<String, Value> =
        serde_json::from_slice(bytes).map_err(|e| invalid(format!("Invalid request body: {e}")))?;
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("Invalid request body: missing field `model` (a string)"))?
        .to_owned();
    let mut refusal = None;
    let prompt = match body.get("prompt") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
            if items.len() != 1 {
                refusal = Some("several prompts in one request".to_owned());
            }
            items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("\n")
        }
        Some(Value::Array(items))
            if items.iter().all(|i| {
                i.is_u64() || i.as_array().is_some_and(|a| a.iter().all(Value::is_u64))
            }) =>
        {
            refusal = Some("token-id prompts".to_owned());
            String::new()
        }
        None => return Err(invalid("Invalid request body: missing field `prompt`")),
        Some(_) => {
            return Err(invalid(
                "`prompt` must be a string, a list of strings, or token ids",
            ))
        }
    };
    for key in ["echo", "suffix", "best_of"] {
        let set = match body.get(key) {
            None | Some(Value::Null) | Some(Value::Bool(false)) => false,
            Some(Value::Number(n)) => key != "best_of" || n.as_u64() != Some(1),
            Some(_) => true,
        };
        if set && refusal.is_none() {
            refusal = Some(format!("`{key}`"));
        }
    }
    let mut chat = ChatCompletionRequest {
        model,
        messages: vec![ChatMessage {
            role: Role::User,
            content: Some(MessageContent::Text(prompt)),
            name: None,
            tool_calls: None,
            tool_call_id: None,
            extra: Map::new(),
        }],
        ..ChatCompletionRequest::default()
    };
    let get_f64 = |k: &str| body.get(k).and_then(Value::as_f64);
    chat.temperature = get_f64("temperature");
    chat.top_p = get_f64("top_p");
    chat.presence_penalty = get_f64("presence_penalty");
    chat.frequency_penalty = get_f64("frequency_penalty");
    chat.max_tokens = body.get("max_tokens").and_then(Value::as_u64);
    chat.n = body
        .get("n")
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok());
    chat.seed = body.get("seed").and_then(Value::as_i64);
    chat.user = body.get("user").and_then(Value::as_str).map(str::to_owned);
    chat.logit_bias = body.get("logit_bias").and_then(Value::as_object).cloned();
    chat.stop = match body.get("stop") {
        Some(Value::String(s)) => Some(Stop::One(s.clone())),
        Some(Value::Array(a)) => Some(Stop::Many(
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        )),
        _ => None,
    };
    if let Some(n) = body.get("logprobs").and_then(Value::as_u64) {
        chat.logprobs = Some(true);
        chat.top_logprobs = u32::try_from(n).ok();
    }
    if body.get("stream").and_then(Value::as_bool) == Some(true) {
        chat.stream = Some(true);
        chat.stream_options = Some(StreamOptions {
            include_usage: body
                .get("stream_options")
                .and_then(|o| o.get("include_usage"))
                .and_then(Value::as_bool),
            extra: Map::new(),
        });
    }
    // Gateway extras (metadata, tags, mock_response, fallbacks, ...) ride along in `extra`.
    const KNOWN: &[&str] = &[
        "model",
        "prompt",
        "temperature",
        "top_p",
        "presence_penalty",
        "frequency_penalty",
        "max_tokens",
        "n",
        "seed",
        "user",
        "logit_bias",
        "stop",
        "logprobs",
        "stream",
        "stream_options",
        "echo",
        "suffix",
        "best_of",
    ];
    for (k, v) in &body {
        if !KNOWN.contains(&k.as_str()) {
            chat.extra.insert(k.clone(), v.clone());
        }
    }
    Ok(CompletionsRequest {
        chat,
        body,
        chat_refusal: refusal,
    })
}

/// `{base}/completions` for an OpenAI-format server, or an Azure deployment's completions URL
/// when `azure_chat_url` (its chat URL) is given. `body` has had the gateway's keys removed.
pub fn upstream_request(
    target: &Target,
    mut body: Map<String, Value>,
    url: String,
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
) -> Result<UpstreamRequest, TranslateError> {
    body.insert("model".into(), json!(target.model));
    // Streams are priced from their final usage: ask for it (the router keeps it from a
    // client that did not ask).
    if body.get("stream").and_then(Value::as_bool) == Some(true) {
        let opts = body.entry("stream_options").or_insert_with(|| json!({}));
        if let Some(o) = opts.as_object_mut() {
            o.insert("include_usage".into(), json!(true));
        }
    }
    for (k, v) in &target.defaults {
        body.entry(k.clone()).or_insert_with(|| v.clone());
    }
    for (k, v) in &target.extra_body {
        body.insert(k.clone(), v.clone());
    }
    Ok(UpstreamRequest {
        method: Method::POST,
        url,
        headers,
        body: Bytes::from(
            serde_json::to_vec(&Value::Object(body)).map_err(|e| invalid(e.to_string()))?,
        ),
    })
}

/// `{api_base}/completions`.
pub fn completions_url(api_base: &str) -> String {
    let base = api_base.trim_end_matches('/');
    if base.ends_with("/completions") {
        base.to_owned()
    } else {
        format!("{base}/completions")
    }
}

fn text_id(id: &str) -> String {
    format!("cmpl-{}", id.strip_prefix("chatcmpl-").unwrap_or(id))
}

/// A chat completion body as a `text_completion`.
pub fn response(body: &[u8]) -> Result<Bytes, TranslateError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        invalid(format!(
            "the provider's answer is not a chat completion: {e}"
        ))
    })?;
    let choices: Vec<Value> = v
        .get("choices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            json!({
                "text": c.pointer("/message/content").and_then(Value::as_str).unwrap_or(""),
                "index": c.get("index").cloned().unwrap_or(json!(0)),
                "logprobs": null,
                "finish_reason": c.get("finish_reason").cloned().unwrap_or(Value::Null),
            })
        })
        .collect();
    let out = json!({
        "id": text_id(v.get("id").and_then(Value::as_str).unwrap_or("")),
        "object": "text_completion",
        "created": v.get("created").cloned().unwrap_or(json!(crate::now_secs())),
        "model": v.get("model").cloned().unwrap_or(Value::Null),
        "choices": choices,
        "usage": v.get("usage").cloned().unwrap_or(Value::Null),
    });
    serde_json::to_vec(&out)
        .map(Bytes::from)
        .map_err(|e| invalid(e.to_string()))
}

/// Chat chunk events in, text completion chunk events out.
#[derive(Debug, Default)]
pub struct StreamBack {
    framer: Framer,
}

impl StreamBack {
    /// A translator for one stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes of the chat stream; returns the text completion events they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Bytes> {
        self.framer.push(bytes);
        let mut out = Vec::new();
        while let Some(ev) = self.framer.next_event() {
            let Some(data) = ev.data else { continue };
            out.push(Self::event(&data, ev.raw));
        }
        out
    }

    fn event(data: &[u8], raw: Bytes) -> Bytes {
        let Ok(v) = serde_json::from_slice::<Value>(data) else {
            return raw; // [DONE]
        };
        if v.get("error").is_some() || v.get("choices").is_none() {
            return raw;
        }
        let choices: Vec<Value> = v
            .get("choices")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|c| {
                json!({
                    "text": c.pointer("/delta/content").and_then(Value::as_str).unwrap_or(""),
                    "index": c.get("index").cloned().unwrap_or(json!(0)),
                    "logprobs": null,
                    "finish_reason": c.get("finish_reason").cloned().unwrap_or(Value::Null),
                })
            })
            .collect();
        let mut out = json!({
            "id": text_id(v.get("id").and_then(Value::as_str).unwrap_or("")),
            "object": "text_completion",
            "created": v.get("created").cloned().unwrap_or(json!(0)),
            "model": v.get("model").cloned().unwrap_or(Value::Null),
            "choices": choices,
        });
        if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
            out["usage"] = u.clone();
        }
        data_event(out.to_string().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn prompt_and_params_become_a_chat_request() {
        let r = parse(br#"{"model":"m","prompt":"Say this","max_tokens":7,"stop":"\n","logprobs":2,"stream":true,"metadata":{"tags":["t"]}}"#).unwrap();
        let c = serde_json::to_value(&r.chat).unwrap();
        assert_eq!(
            c["messages"],
            json!([{"role": "user", "content": "Say this"}])
        );
        assert_eq!(c["max_tokens"], 7);
        assert_eq!(c["stop"], "\n");
        assert_eq!(c["top_logprobs"], 2);
        assert_eq!(c["stream"], true);
        assert_eq!(c["metadata"]["tags"], json!(["t"]));
        assert!(r.chat_refusal.is_none());
        for (body, why) in [
            (
                &br#"{"model":"m","prompt":["a","b"]}"#[..],
                "several prompts",
            ),
            (br#"{"model":"m","prompt":[1,2,3]}"#, "token-id"),
            (br#"{"model":"m","prompt":"x","echo":true}"#, "echo"),
            (br#"{"model":"m","prompt":"x","suffix":"y"}"#, "suffix"),
        ] {
            let r = parse(body).unwrap();
            assert!(r.chat_refusal.unwrap().contains(why));
        }
        assert!(parse(br#"{"model":"m"}"#)
            .unwrap_err()
            .to_string()
            .contains("prompt"));
        assert!(parse(br#"{"model":"m","prompt":{}}"#).is_err());
    }

    #[test]
    fn chat_answers_become_text_completions() {
        let body = br#"{"id":"chatcmpl-1","object":"chat.completion","created":5,"model":"g","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#;
        let v: Value = serde_json::from_slice(&response(body).unwrap()).unwrap();
        assert_eq!(v["object"], "text_completion");
        assert_eq!(v["id"], "cmpl-1");
        assert_eq!(v["choices"][0]["text"], "hi");
        assert_eq!(v["usage"]["total_tokens"], 2);
        let mut s = StreamBack::new();
        let out = s.push(b"data: {\"id\":\"chatcmpl-2\",\"created\":1,\"model\":\"g\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"yo\"},\"finish_reason\":null}]}\n\ndata: [DONE]\n\n");
        let first = std::str::from_utf8(&out[0]).unwrap();
        assert!(first.contains("\"text\":\"yo\"") && first.contains("text_completion"));
        assert_eq!(&out[1][..], b"data: [DONE]\n\n");
    }
}
