//! OpenAI format in, Cohere's v2 Chat API out (`cohere/…`, `POST {api_base}/v2/chat`).
//!
//! Cohere v2 messages are close to OpenAI's (roles system/user/assistant/tool, `tool_calls`
//! with string arguments, `tool_call_id`), so the request keeps them; parameters are renamed
//! (`top_p` -> `p`, `stop` -> `stop_sequences`), `tool_choice` `required`/`none` become
//! `REQUIRED`/`NONE`, and `response_format` passes. Responses: text content blocks joined,
//! `tool_calls` kept, `finish_reason` COMPLETE/STOP_SEQUENCE -> stop, MAX_TOKENS -> length,
//! TOOL_CALL -> tool_calls, usage from `usage.tokens` (else `billed_units`). The stream's typed
//! SSE events (`content-delta`, `tool-call-start`, `tool-call-delta`, `message-end`, ...) are
//! translated one by one.

use bytes::Bytes;
use http::Method;
use serde_json::{json, Map, Value};
use switchyard_types::{ChatCompletionRequest, EmbeddingRequest, ToolChoice, Usage};

use crate::sse::{data_event, Framer};
use crate::{
    ChatOutput, ChatProvider, ProviderError, StreamOutput, StreamTranslator, Target,
    TranslateError, UpstreamRequest,
};

/// Cohere's API base.
pub const DEFAULT_API_BASE: &str = "https://api.cohere.com";

/// The Cohere translation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cohere;

fn invalid(msg: impl Into<String>) -> TranslateError {
    TranslateError::Invalid(msg.into())
}

/// `{api_base}/v2/chat`.
pub fn chat_url(api_base: &str) -> String {
    let base = api_base.trim_end_matches('/');
    let base = base
        .strip_suffix("/v2")
        .or_else(|| base.strip_suffix("/v1"))
        .unwrap_or(base);
    format!("{base}/v2/chat")
}

/// The `/v2/chat` body for an OpenAI-format request.
pub fn request_body(target: &Target, req: &ChatCompletionRequest) -> Result<Value, TranslateError> {
    if (req.n.is_some_and(|n| n > 1) || req.logit_bias.is_some()) && !target.drop_params {
        return Err(TranslateError::UnsupportedParam {
            provider: target.provider.clone(),
            param: if req.logit_bias.is_some() {
                "logit_bias"
            } else {
                "n"
            }
            .into(),
        });
    }
    let mut messages = Vec::with_capacity(req.messages.len());
    for m in &req.messages {
        let mut v = serde_json::to_value(m).map_err(|e| invalid(e.to_string()))?;
        if let Some(o) = v.as_object_mut() {
            // Cohere has no developer role, and takes no message names.
            if o.get("role") == Some(&json!("developer")) {
                o.insert("role".into(), json!("system"));
            }
            o.remove("name");
            if o.get("content").is_some_and(Value::is_null) {
                o.remove("content");
            }
        }
        messages.push(v);
    }
    let mut body = Map::new();
    body.insert("model".into(), json!(target.model));
    body.insert("messages".into(), Value::Array(messages));
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            body.insert(k.to_owned(), v);
        }
    };
    put("stream", req.stream.map(|s| json!(s)));
    put("temperature", req.temperature.map(|v| json!(v)));
    put("p", req.top_p.map(|v| json!(v)));
    put(
        "max_tokens",
        req.max_completion_tokens
            .or(req.max_tokens)
            .map(|v| json!(v)),
    );
    put(
        "stop_sequences",
        req.stop.as_ref().map(|s| json!(s.to_vec())),
    );
    put("seed", req.seed.map(|v| json!(v)));
    put("frequency_penalty", req.frequency_penalty.map(|v| json!(v)));
    put("presence_penalty", req.presence_penalty.map(|v| json!(v)));
    put("k", req.extra.get("top_k").cloned());
    put(
        "response_format",
        req.response_format
            .as_ref()
            .map(|f| serde_json::to_value(f).unwrap_or(Value::Null)),
    );
    put(
        "tools",
        req.tools
            .as_ref()
            .map(|t| serde_json::to_value(t).unwrap_or(Value::Null)),
    );
    match &req.tool_choice {
        Some(ToolChoice::Mode(m)) if m == "required" => put("tool_choice", Some(json!("REQUIRED"))),
        Some(ToolChoice::Mode(m)) if m == "none" => put("tool_choice", Some(json!("NONE"))),
        Some(ToolChoice::Named(_)) if !target.drop_params => {
            return Err(TranslateError::UnsupportedParam {
                provider: target.provider.clone(),
                param: "tool_choice (a named function)".into(),
            })
        }
        _ => {}
    }
    for (k, v) in &target.extra_body {
        body.insert(k.clone(), v.clone());
    }
    Ok(Value::Object(body))
}

fn usage_of(u: &Value) -> Usage {
    let pick = |k: &str| {
        u.pointer(&format!("/tokens/{k}"))
            .or_else(|| u.pointer(&format!("/billed_units/{k}")))
            .and_then(Value::as_f64)
            .map_or(0, |n| n as u64)
    };
    let (p, c) = (pick("input_tokens"), pick("output_tokens"));
    Usage {
        prompt_tokens: p,
        completion_tokens: c,
        total_tokens: p + c,
        ..Usage::default()
    }
}

/// Cohere's finish reason as OpenAI's.
pub fn finish_reason(r: &str) -> &'static str {
    match r {
        "MAX_TOKENS" => "length",
        "TOOL_CALL" => "tool_calls",
        _ => "stop",
    }
}

use crate::now_secs;

impl ChatProvider for Cohere {
    fn chat_request(
        &self,
        target: &Target,
        request: &switchyard_types::Verbatim<ChatCompletionRequest>,
    ) -> Result<UpstreamRequest, TranslateError> {
        let body = request_body(target, request)?;
        let headers = crate::bearer_json_headers(target)?;
        Ok(UpstreamRequest {
            method: Method::POST,
            url: chat_url(&target.api_base),
            headers,
            body: Bytes::from(serde_json::to_vec(&body).map_err(|e| invalid(e.to_string()))?),
        })
    }

    fn chat_response(&self, target: &Target, body: Bytes) -> Result<ChatOutput, ProviderError> {
        let v: Value = serde_json::from_slice(&body).map_err(ProviderError::malformed)?;
        let m = v
            .get("message")
            .ok_or_else(|| ProviderError::malformed("no message"))?;
        let text: String = m
            .get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect();
        let calls = m
            .get("tool_calls")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut message = json!({"role": "assistant", "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { json!(text) }});
        if !calls.is_empty() {
            message["tool_calls"] = Value::Array(calls);
        }
        let usage = v.get("usage").map(usage_of);
        let finish = v
            .get("finish_reason")
            .and_then(Value::as_str)
            .map_or("stop", finish_reason);
        let out = json!({
            "id": v.get("id").and_then(Value::as_str).unwrap_or("chatcmpl-cohere"),
            "object": "chat.completion",
            "created": now_secs(),
            "model": target.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": null}],
            "usage": usage,
        });
        Ok(ChatOutput {
            body: Bytes::from(serde_json::to_vec(&out).map_err(ProviderError::malformed)?),
            usage,
        })
    }

    fn chat_stream(&self, target: &Target, strip_usage: bool) -> Box<dyn StreamTranslator> {
        Box::new(CohereStream {
            framer: Framer::new(),
            strip_usage,
            id: String::new(),
            model: target.model.clone(),
            created: now_secs(),
            text: String::new(),
            ended: false,
        })
    }

    fn error_response(&self, status: u16, body: &[u8]) -> ProviderError {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let message = v
            .get("message")
            .and_then(Value::as_str)
            .map_or_else(|| String::from_utf8_lossy(body).into_owned(), str::to_owned);
        let code = (status == 400 && message.contains("too many tokens"))
            .then(|| "context_length_exceeded".to_owned());
        ProviderError {
            status,
            message,
            kind: None,
            code,
            param: None,
        }
    }

    /// `/v2/rerank`, Cohere's own format: the body goes as sent, with the deployment's model.
    fn endpoint_request(
        &self,
        target: &Target,
        endpoint: crate::endpoints::Endpoint,
        request: &Map<String, Value>,
    ) -> Result<UpstreamRequest, TranslateError> {
        if endpoint != crate::endpoints::Endpoint::Rerank {
            return Err(TranslateError::Invalid(format!(
                "cohere does not serve /v1/{}",
                endpoint.path()
            )));
        }
        let base = chat_url(&target.api_base);
        Ok(UpstreamRequest {
            method: Method::POST,
            url: format!("{}/rerank", base.trim_end_matches("/chat")),
            headers: crate::bearer_json_headers(target)?,
            body: crate::endpoints::body(target, request)?,
        })
    }

    /// `/v2/embed`: `texts`, `input_type` (the client's, else `search_document`, as LiteLLM),
    /// float vectors, `output_dimension` from `dimensions`.
    fn embedding_request(
        &self,
        target: &Target,
        request: &switchyard_types::Verbatim<switchyard_types::EmbeddingRequest>,
    ) -> Result<UpstreamRequest, TranslateError> {
        let texts = crate::embeddings::texts(target, request)?;
        let mut body = Map::new();
        body.insert("model".into(), json!(target.model));
        body.insert("texts".into(), json!(texts));
        body.insert(
            "input_type".into(),
            json!(crate::embeddings::extra_str(request, "input_type").unwrap_or("search_document")),
        );
        body.insert("embedding_types".into(), json!(["float"]));
        if let Some(d) = request.dimensions {
            body.insert("output_dimension".into(), json!(d));
        }
        if let Some(t) = request.extra.get("truncate") {
            body.insert("truncate".into(), t.clone());
        }
        let base = chat_url(&target.api_base);
        Ok(UpstreamRequest {
            method: Method::POST,
            url: format!("{}/embed", base.trim_end_matches("/chat")),
            headers: crate::bearer_json_headers(target)?,
            body: crate::embeddings::body(target, body)?,
        })
    }

    fn embedding_response(
        &self,
        target: &Target,
        request: &EmbeddingRequest,
        body: Bytes,
    ) -> Result<ChatOutput, ProviderError> {
        let v: Value = serde_json::from_slice(&body).map_err(ProviderError::malformed)?;
        let vectors =
            crate::embeddings::vectors(v.pointer("/embeddings/float"), "embeddings.float")?;
        let tokens = v
            .pointer("/meta/billed_units/input_tokens")
            .and_then(Value::as_u64);
        crate::embeddings::response(
            &target.model,
            &vectors,
            tokens,
            crate::embeddings::wants_base64(request),
        )
    }
}

struct CohereStream {
    framer: Framer,
    strip_usage: bool,
    id: String,
    model: String,
    created: u64,
    text: String,
    ended: bool,
}

impl CohereStream {
    fn chunk(&self, delta: Value, finish: Option<&str>) -> Bytes {
        let c = json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        data_event(c.to_string().as_bytes())
    }

    fn on_event(&mut self, v: &Value, out: &mut StreamOutput) {
        let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
        let msg = v.pointer("/delta/message").cloned().unwrap_or(Value::Null);
        match v.get("type").and_then(Value::as_str).unwrap_or("") {
            "message-start" => {
                self.id = v
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or("chatcmpl-cohere")
                    .to_owned();
                out.events
                    .push(self.chunk(json!({"role": "assistant", "content": ""}), None));
            }
            "content-delta" => {
                let t = msg
                    .pointer("/content/text")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                self.text.push_str(&t);
                out.events.push(self.chunk(json!({"content": t}), None));
            }
            "tool-call-start" => {
                let c = msg.get("tool_calls").cloned().unwrap_or(Value::Null);
                let args = c
                    .pointer("/function/arguments")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                self.text.push_str(&args);
                out.events.push(self.chunk(
                    json!({"tool_calls": [{"index": index, "id": c.get("id"), "type": "function",
                        "function": {"name": c.pointer("/function/name"), "arguments": args}}]}),
                    None,
                ));
            }
            "tool-call-delta" => {
                let args = msg
                    .pointer("/tool_calls/function/arguments")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                self.text.push_str(&args);
                out.events.push(self.chunk(
                    json!({"tool_calls": [{"index": index, "function": {"arguments": args}}]}),
                    None,
                ));
            }
            "message-end" => {
                self.ended = true;
                let d = v.get("delta").cloned().unwrap_or(Value::Null);
                let finish = d
                    .get("finish_reason")
                    .and_then(Value::as_str)
                    .map_or("stop", finish_reason);
                out.events.push(self.chunk(json!({}), Some(finish)));
                let usage = d.get("usage").map(usage_of);
                if let (Some(u), false) = (&usage, self.strip_usage) {
                    let c = json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                        "model": self.model, "choices": [], "usage": u});
                    out.events.push(data_event(c.to_string().as_bytes()));
                }
                out.events.push(Bytes::from_static(b"data: [DONE]\n\n"));
                out.usage = usage;
                out.done = true;
            }
            _ => {} // content-start, content-end, tool-plan-delta, tool-call-end
        }
    }
}

impl StreamTranslator for CohereStream {
    fn push(&mut self, bytes: &[u8]) -> StreamOutput {
        self.framer.push(bytes);
        let mut out = StreamOutput::default();
        while let Some(ev) = self.framer.next_event() {
            if self.ended {
                break;
            }
            let Some(data) = ev.data else { continue };
            match serde_json::from_slice::<Value>(&data) {
                Ok(v) => self.on_event(&v, &mut out),
                Err(e) => {
                    out.fail(ProviderError::malformed(format!(
                        "stream event is not JSON: {e}"
                    )));
                    self.ended = true;
                }
            }
        }
        out
    }

    fn finish(&mut self) -> StreamOutput {
        let mut out = StreamOutput::default();
        if let Some(ev) = self.framer.finish() {
            if let Some(data) = ev.data {
                if let Ok(v) = serde_json::from_slice::<Value>(&data) {
                    if !self.ended {
                        self.on_event(&v, &mut out);
                    }
                }
            }
        }
        out
    }

    fn completion_text(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            provider: "cohere".into(),
            model: "command-a-03-2025".into(),
            api_base: DEFAULT_API_BASE.into(),
            api_key: Some("co-key".into()),
            ..Target::default()
        }
    }

    #[test]
    fn requests_rename_parameters_and_keep_messages() {
        let r: ChatCompletionRequest = serde_json::from_value(json!({"model": "x", "messages": [
            {"role": "developer", "content": "be brief"},
            {"role": "user", "content": "hi", "name": "ann"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "ok"}
        ], "top_p": 0.9, "stop": ["X"], "max_tokens": 5, "tool_choice": "required",
           "tools": [{"type": "function", "function": {"name": "f"}}]})).unwrap();
        let b = request_body(&target(), &r).unwrap();
        assert_eq!(b["messages"][0]["role"], "system");
        assert!(b["messages"][1].get("name").is_none());
        assert!(b["messages"][2].get("content").is_none());
        assert_eq!(b["messages"][3]["tool_call_id"], "c1");
        assert_eq!(
            (
                b["p"].clone(),
                b["stop_sequences"].clone(),
                b["max_tokens"].clone()
            ),
            (json!(0.9), json!(["X"]), json!(5))
        );
        assert_eq!(b["tool_choice"], "REQUIRED");
        assert_eq!(
            chat_url("https://api.cohere.com/v2"),
            "https://api.cohere.com/v2/chat"
        );
    }

    #[test]
    fn responses_and_streams_map_to_openai() {
        let body = json!({"id": "r1", "finish_reason": "TOOL_CALL", "message": {"role": "assistant", "tool_plan": "I will call f",
            "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
            "usage": {"billed_units": {"input_tokens": 4, "output_tokens": 2}, "tokens": {"input_tokens": 10, "output_tokens": 2}}});
        let out = Cohere
            .chat_response(&target(), Bytes::from(body.to_string()))
            .unwrap();
        let v: Value = serde_json::from_slice(&out.body).unwrap();
        assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(v["choices"][0]["message"]["tool_calls"][0]["id"], "t1");
        assert_eq!(out.usage.unwrap().prompt_tokens, 10);

        let events = [
            json!({"type": "message-start", "id": "s1", "delta": {"message": {"role": "assistant"}}}),
            json!({"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}}),
            json!({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "Hi"}}}}),
            json!({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "!"}}}}),
            json!({"type": "message-end", "delta": {"finish_reason": "COMPLETE", "usage": {"tokens": {"input_tokens": 3, "output_tokens": 2}}}}),
        ];
        let sse: String = events
            .iter()
            .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
            .collect();
        let mut s = Cohere.chat_stream(&target(), false);
        let out = s.push(sse.as_bytes());
        assert!(out.done);
        assert_eq!(out.usage.unwrap().total_tokens, 5);
        assert_eq!(s.completion_text(), "Hi!");
        let e = Cohere.error_response(429, br#"{"message":"You are using a Trial key"}"#);
        assert_eq!(
            (e.status, e.message.as_str()),
            (429, "You are using a Trial key")
        );
    }
}
