//! OpenAI format in, Ollama's native API out: `ollama_chat/…` to `POST {api_base}/api/chat`;
//! `ollama/…` to `POST {api_base}/api/generate` (LiteLLM's split) for a single-turn request
//! without tools — system messages as `system`, the user message as `prompt` and its images —
//! and to `/api/chat` otherwise, since `/api/generate` has no tools and flattening a
//! conversation into one prompt would lose its turns.
//!
//! Request: messages keep their roles; images (base64 data URLs only: Ollama takes raw base64)
//! go to the message's `images`; assistant `tool_calls` carry their arguments as JSON objects;
//! tools pass as OpenAI-style function tools; sampling parameters go to `options`
//! (`max_tokens` -> `num_predict`); `response_format` json_object -> `format: "json"`,
//! json_schema -> `format: <schema>`; `reasoning_effort` -> `think`. `stream` is always sent,
//! since Ollama streams unless told not to.
//!
//! Response: `message.content`, `message.thinking` (`reasoning_content`), `tool_calls` (ids
//! `call_<n>`, arguments as a JSON string), `done_reason` (length -> length), usage from
//! `prompt_eval_count` / `eval_count`. The stream is newline-delimited JSON, translated line
//! by line into OpenAI chunks.

use bytes::{Bytes, BytesMut};
use http::Method;
use serde_json::{json, Map, Value};
use switchyard_types::{
    ChatCompletionRequest, EmbeddingRequest, MessageContent, ResponseFormat, Role, Usage,
};

use crate::sse::data_event;
use crate::{
    ChatOutput, ChatProvider, ProviderError, StreamOutput, StreamTranslator, Target,
    TranslateError, UpstreamRequest,
};

/// Ollama's default address.
pub const DEFAULT_API_BASE: &str = "http://localhost:11434";

/// The Ollama translation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ollama;

fn invalid(msg: impl Into<String>) -> TranslateError {
    TranslateError::Invalid(msg.into())
}

/// The chat endpoint under a base URL.
pub fn chat_url(api_base: &str) -> String {
    let base = api_base.trim_end_matches('/');
    let base = base.strip_suffix("/v1").unwrap_or(base);
    format!("{base}/api/chat")
}

/// A `/api/chat` body as a `/api/generate` one, when the request is one user turn (with any
/// system messages) and has no tools.
pub fn generate_body(chat: &Value) -> Option<Value> {
    let mut body = chat.as_object()?.clone();
    if body.contains_key("tools") {
        return None;
    }
    let messages = match body.remove("messages") {
        Some(Value::Array(m)) => m,
        _ => return None,
    };
    let (system, rest): (Vec<&Value>, Vec<&Value>) =
        messages.iter().partition(|m| m["role"] == "system");
    let [user] = rest.as_slice() else {
        return None;
    };
    if user["role"] != "user" {
        return None;
    }
    body.insert("prompt".into(), user["content"].clone());
    if let Some(images) = user.get("images") {
        body.insert("images".into(), images.clone());
    }
    if !system.is_empty() {
        let text: Vec<&str> = system
            .iter()
            .filter_map(|m| m["content"].as_str())
            .collect();
        body.insert("system".into(), json!(text.join("\n")));
    }
    Some(Value::Object(body))
}

/// A `/api/generate` answer (or stream line) seen as a chat one: `response` and `thinking`
/// become the message.
fn message_of(v: &Value) -> Value {
    match v.get("message") {
        Some(m) => m.clone(),
        None => {
            json!({"role": "assistant", "content": v.get("response").cloned().unwrap_or(json!("")),
                       "thinking": v.get("thinking").cloned().unwrap_or(Value::Null)})
        }
    }
}

fn role(r: Role) -> &'static str {
    match r {
        Role::System | Role::Developer => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool | Role::Function => "tool",
    }
}

/// The `/api/chat` body for an OpenAI-format request.
pub fn request_body(target: &Target, req: &ChatCompletionRequest) -> Result<Value, TranslateError> {
    let mut messages = Vec::with_capacity(req.messages.len());
    for m in &req.messages {
        let mut text = String::new();
        let mut images = Vec::new();
        match &m.content {
            None => {}
            Some(MessageContent::Text(t)) => text.push_str(t),
            Some(MessageContent::Parts(parts)) => {
                for p in parts {
                    match p.kind.as_str() {
                        "text" => text.push_str(p.text.as_deref().unwrap_or("")),
                        "image_url" => {
                            let url = p.image_url.as_ref().map(|u| u.url.as_str()).unwrap_or("");
                            let (_, data) = crate::data_url(url)?.ok_or_else(|| {
                                invalid("Ollama takes images as base64 data URLs only")
                            })?;
                            images.push(json!(data));
                        }
                        other => {
                            return Err(invalid(format!(
                                "content part type `{other}` is not supported for Ollama"
                            )))
                        }
                    }
                }
            }
        }
        let mut msg = json!({"role": role(m.role), "content": text});
        if !images.is_empty() {
            msg["images"] = Value::Array(images);
        }
        if let Some(calls) = &m.tool_calls {
            let mut out = Vec::with_capacity(calls.len());
            for c in calls {
                out.push(json!({"function": {"name": c.function.name, "arguments": crate::tool_call_args(c)?}}));
            }
            msg["tool_calls"] = Value::Array(out);
        }
        if let Some(name) = &m.name {
            if m.role == Role::Tool {
                msg["tool_name"] = json!(name);
            }
        }
        messages.push(msg);
    }
    let mut body = Map::new();
    body.insert("model".into(), json!(target.model));
    body.insert("messages".into(), Value::Array(messages));
    body.insert("stream".into(), json!(req.is_stream()));
    let mut options = Map::new();
    let mut opt = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            options.insert(k.to_owned(), v);
        }
    };
    opt("temperature", req.temperature.map(|v| json!(v)));
    opt("top_p", req.top_p.map(|v| json!(v)));
    opt(
        "num_predict",
        req.max_completion_tokens
            .or(req.max_tokens)
            .map(|v| json!(v)),
    );
    opt("stop", req.stop.as_ref().map(|s| json!(s.to_vec())));
    opt("seed", req.seed.map(|v| json!(v)));
    opt("presence_penalty", req.presence_penalty.map(|v| json!(v)));
    opt("frequency_penalty", req.frequency_penalty.map(|v| json!(v)));
    opt("top_k", req.extra.get("top_k").cloned());
    if !options.is_empty() {
        body.insert("options".into(), Value::Object(options));
    }
    match &req.response_format {
        Some(ResponseFormat::JsonObject) => {
            body.insert("format".into(), json!("json"));
        }
        Some(ResponseFormat::JsonSchema { json_schema }) => {
            body.insert(
                "format".into(),
                json_schema.schema.clone().unwrap_or_else(|| json!("json")),
            );
        }
        _ => {}
    }
    if let Some(tools) = &req.tools {
        body.insert(
            "tools".into(),
            serde_json::to_value(tools).map_err(|e| invalid(e.to_string()))?,
        );
    }
    if let Some(effort) = req.reasoning_effort.as_deref() {
        body.insert("think".into(), json!(effort != "none"));
    }
    if req.n.is_some_and(|n| n > 1) && !target.drop_params {
        return Err(TranslateError::UnsupportedParam {
            provider: target.provider.clone(),
            param: "n".into(),
        });
    }
    for (k, v) in &req.extra {
        if !matches!(k.as_str(), "top_k") {
            body.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    for (k, v) in &target.extra_body {
        body.insert(k.clone(), v.clone());
    }
    Ok(Value::Object(body))
}

fn usage_of(v: &Value) -> Option<Usage> {
    let p = v.get("prompt_eval_count").and_then(Value::as_u64);
    let c = v.get("eval_count").and_then(Value::as_u64);
    if p.is_none() && c.is_none() {
        return None;
    }
    let (p, c) = (p.unwrap_or(0), c.unwrap_or(0));
    Some(Usage {
        prompt_tokens: p,
        completion_tokens: c,
        total_tokens: p + c,
        ..Usage::default()
    })
}

fn finish(v: &Value, tools: bool) -> &'static str {
    if tools {
        return "tool_calls";
    }
    match v.get("done_reason").and_then(Value::as_str) {
        Some("length") => "length",
        _ => "stop",
    }
}

fn calls_of(message: &Value, first: u32) -> Vec<Value> {
    message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, c)| {
            let f = c.get("function").cloned().unwrap_or(Value::Null);
            let args = match f.get("arguments") {
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => "{}".into(),
            };
            let index = first + u32::try_from(i).unwrap_or(0);
            json!({"index": index, "id": format!("call_{index}"), "type": "function",
                   "function": {"name": f.get("name"), "arguments": args}})
        })
        .collect()
}

use crate::now_secs;

impl ChatProvider for Ollama {
    fn chat_request(
        &self,
        target: &Target,
        request: &switchyard_types::Verbatim<ChatCompletionRequest>,
    ) -> Result<UpstreamRequest, TranslateError> {
        let chat = request_body(target, request)?;
        let headers = crate::bearer_json_headers(target)?;
        let (url, body) = match (target.provider == "ollama")
            .then(|| generate_body(&chat))
            .flatten()
        {
            Some(g) => (
                chat_url(&target.api_base).replace("/api/chat", "/api/generate"),
                g,
            ),
            None => (chat_url(&target.api_base), chat),
        };
        Ok(UpstreamRequest {
            method: Method::POST,
            url,
            headers,
            body: Bytes::from(serde_json::to_vec(&body).map_err(|e| invalid(e.to_string()))?),
        })
    }

    fn chat_response(&self, target: &Target, body: Bytes) -> Result<ChatOutput, ProviderError> {
        let v: Value = serde_json::from_slice(&body).map_err(ProviderError::malformed)?;
        if v.get("message").is_none() && v.get("response").is_none() {
            return Err(ProviderError::malformed("no message"));
        }
        let m = &message_of(&v);
        let calls = calls_of(m, 0);
        let mut message = json!({"role": "assistant", "content": m.get("content").and_then(Value::as_str).unwrap_or("")});
        if !calls.is_empty() {
            let plain: Vec<Value> = calls
                .iter()
                .map(|c| json!({"id": c["id"], "type": "function", "function": c["function"]}))
                .collect();
            message["tool_calls"] = Value::Array(plain);
        }
        if let Some(t) = m
            .get("thinking")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            message["reasoning_content"] = json!(t);
        }
        let usage = usage_of(&v);
        let out = json!({
            "id": format!("chatcmpl-ollama-{}", now_secs()),
            "object": "chat.completion",
            "created": now_secs(),
            "model": v.get("model").and_then(Value::as_str).unwrap_or(&target.model),
            "choices": [{"index": 0, "message": message, "finish_reason": finish(&v, !calls.is_empty()), "logprobs": null}],
            "usage": usage,
        });
        Ok(ChatOutput {
            body: Bytes::from(serde_json::to_vec(&out).map_err(ProviderError::malformed)?),
            usage,
        })
    }

    fn chat_stream(&self, target: &Target, strip_usage: bool) -> Box<dyn StreamTranslator> {
        Box::new(OllamaStream {
            buf: BytesMut::new(),
            strip_usage,
            id: format!("chatcmpl-ollama-{}", now_secs()),
            model: target.model.clone(),
            created: now_secs(),
            started: false,
            tool_calls: 0,
            text: String::new(),
            ended: false,
        })
    }

    fn error_response(&self, status: u16, body: &[u8]) -> ProviderError {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let message = v
            .get("error")
            .and_then(Value::as_str)
            .map_or_else(|| String::from_utf8_lossy(body).into_owned(), str::to_owned);
        ProviderError {
            status,
            message,
            kind: None,
            code: None,
            param: None,
        }
    }

    /// `/api/embed` with a list `input`; `dimensions` passed on.
    fn embedding_request(
        &self,
        target: &Target,
        request: &switchyard_types::Verbatim<switchyard_types::EmbeddingRequest>,
    ) -> Result<UpstreamRequest, TranslateError> {
        let texts = crate::embeddings::texts(target, request)?;
        let mut body = Map::new();
        body.insert("model".into(), json!(target.model));
        body.insert("input".into(), json!(texts));
        if let Some(d) = request.dimensions {
            body.insert("dimensions".into(), json!(d));
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
        let vectors = crate::embeddings::vectors(v.get("embeddings"), "embeddings")?;
        crate::embeddings::response(
            &target.model,
            &vectors,
            v.get("prompt_eval_count").and_then(Value::as_u64),
            crate::embeddings::wants_base64(request),
        )
    }
}

struct OllamaStream {
    buf: BytesMut,
    strip_usage: bool,
    id: String,
    model: String,
    created: u64,
    started: bool,
    tool_calls: u32,
    text: String,
    ended: bool,
}

impl OllamaStream {
    fn chunk(&self, delta: Value, finish: Option<&str>) -> Bytes {
        let c = json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        data_event(c.to_string().as_bytes())
    }

    fn line(&mut self, line: &[u8], out: &mut StreamOutput) {
        let v: Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(e) => {
                out.fail(ProviderError::malformed(format!(
                    "stream line is not JSON: {e}"
                )));
                self.ended = true;
                return;
            }
        };
        if let Some(e) = v.get("error").and_then(Value::as_str) {
            let err = ProviderError {
                status: 500,
                message: e.to_owned(),
                kind: None,
                code: None,
                param: None,
            };
            let body =
                json!({"error": {"message": e, "type": "api_error", "param": null, "code": "500"}});
            out.events.push(data_event(body.to_string().as_bytes()));
            out.error = Some(err);
            self.ended = true;
            return;
        }
        if !self.started {
            self.started = true;
            out.events
                .push(self.chunk(json!({"role": "assistant", "content": ""}), None));
        }
        let m = message_of(&v);
        if let Some(t) = m
            .get("thinking")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            out.events
                .push(self.chunk(json!({"reasoning_content": t}), None));
        }
        if let Some(t) = m
            .get("content")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            self.text.push_str(t);
            out.events.push(self.chunk(json!({"content": t}), None));
        }
        let calls = calls_of(&m, self.tool_calls);
        if !calls.is_empty() {
            self.tool_calls += u32::try_from(calls.len()).unwrap_or(0);
            for c in &calls {
                self.text
                    .push_str(c["function"]["arguments"].as_str().unwrap_or(""));
            }
            out.events
                .push(self.chunk(json!({"tool_calls": calls}), None));
        }
        if v.get("done").and_then(Value::as_bool) == Some(true) {
            self.ended = true;
            out.events
                .push(self.chunk(json!({}), Some(finish(&v, self.tool_calls > 0))));
            let usage = usage_of(&v);
            if let (Some(u), false) = (&usage, self.strip_usage) {
                let c = json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                    "model": self.model, "choices": [], "usage": u});
                out.events.push(data_event(c.to_string().as_bytes()));
            }
            out.events.push(Bytes::from_static(b"data: [DONE]\n\n"));
            out.usage = usage;
            out.done = true;
        }
    }
}

impl StreamTranslator for OllamaStream {
    fn push(&mut self, bytes: &[u8]) -> StreamOutput {
        self.buf.extend_from_slice(bytes);
        let mut out = StreamOutput::default();
        while let Some(nl) = memchr::memchr(b'\n', &self.buf) {
            let line = self.buf.split_to(nl + 1);
            let line = line.trim_ascii();
            if !line.is_empty() && !self.ended {
                self.line(line, &mut out);
            }
        }
        out
    }

    fn finish(&mut self) -> StreamOutput {
        let mut out = StreamOutput::default();
        let rest = std::mem::take(&mut self.buf);
        let rest = rest.trim_ascii();
        if !rest.is_empty() && !self.ended {
            self.line(rest, &mut out);
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
            provider: "ollama_chat".into(),
            model: "llama3.2".into(),
            api_base: DEFAULT_API_BASE.into(),
            ..Target::default()
        }
    }

    #[test]
    fn requests_map_images_tools_options_and_format() {
        let r: ChatCompletionRequest = serde_json::from_value(json!({"model": "x", "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "what?"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA"}}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
            {"role": "tool", "tool_call_id": "c", "name": "f", "content": "done"}
        ], "max_tokens": 9, "temperature": 0.5, "response_format": {"type": "json_object"},
           "tools": [{"type": "function", "function": {"name": "f"}}]})).unwrap();
        let b = request_body(&target(), &r).unwrap();
        assert_eq!(b["stream"], false);
        assert_eq!(b["messages"][1]["images"], json!(["AAA"]));
        assert_eq!(
            b["messages"][2]["tool_calls"][0]["function"]["arguments"],
            json!({"a": 1})
        );
        assert_eq!(b["messages"][3]["role"], "tool");
        assert_eq!(b["options"]["num_predict"], 9);
        assert_eq!(b["format"], "json");
        assert_eq!(b["tools"][0]["function"]["name"], "f");
        assert_eq!(chat_url("http://h:11434/v1/"), "http://h:11434/api/chat");
        let url: ChatCompletionRequest = serde_json::from_value(json!({"model": "x", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/a.png"}}]}]})).unwrap();
        assert!(request_body(&target(), &url).is_err());
    }

    #[test]
    fn ndjson_streams_become_openai_chunks() {
        let lines = [
            json!({"model": "llama3.2", "message": {"role": "assistant", "content": "Hel"}, "done": false}),
            json!({"model": "llama3.2", "message": {"role": "assistant", "content": "lo"}, "done": false}),
            json!({"model": "llama3.2", "message": {"role": "assistant", "content": ""}, "done": true, "done_reason": "stop", "prompt_eval_count": 5, "eval_count": 2}),
        ];
        let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let mut s = Ollama.chat_stream(&target(), false);
        let mut events = Vec::new();
        let mut done = false;
        let mut usage = None;
        for piece in body.as_bytes().chunks(13) {
            let out = s.push(piece);
            events.extend(out.events);
            done |= out.done;
            usage = usage.or(out.usage);
        }
        assert!(done);
        assert_eq!(usage.unwrap().total_tokens, 7);
        let text: String = events
            .iter()
            .map(|b| {
                std::str::from_utf8(b)
                    .unwrap()
                    .trim()
                    .trim_start_matches("data: ")
                    .to_owned()
            })
            .filter(|d| d != "[DONE]")
            .filter_map(|d| serde_json::from_str::<Value>(&d).ok())
            .filter_map(|v| {
                v["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect();
        assert_eq!(text, "Hello");
    }

    #[test]
    fn responses_map_tool_calls_and_usage() {
        let body = json!({"model": "llama3.2", "message": {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": {"q": "x"}}}]},
            "done": true, "done_reason": "stop", "prompt_eval_count": 3, "eval_count": 4});
        let out = Ollama
            .chat_response(&target(), Bytes::from(body.to_string()))
            .unwrap();
        let v: Value = serde_json::from_slice(&out.body).unwrap();
        assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(
            v["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
            "{\"q\":\"x\"}"
        );
        assert_eq!(out.usage.unwrap().total_tokens, 7);
        let e = Ollama.error_response(404, br#"{"error":"model 'nope' not found"}"#);
        assert_eq!(
            (e.status, e.message.as_str()),
            (404, "model 'nope' not found")
        );
    }
}
