//! OpenAI format in, Anthropic Messages API out (`anthropic/…` deployments).
//!
//! Request: system and developer messages become the top-level `system`; roles are mapped and
//! consecutive same-role messages merged (Anthropic wants user and assistant to alternate);
//! images (URL or base64 data URL) become image blocks; tools, `tool_choice` (auto, none,
//! required -> any, named -> tool; `parallel_tool_calls: false` -> `disable_parallel_tool_use`),
//! assistant `tool_calls` -> `tool_use` blocks and `role: tool` messages -> `tool_result` blocks;
//! `response_format` json_object / json_schema -> a forced `json_tool_call` tool whose input
//! comes back as the message content (LiteLLM's approach); `reasoning_effort` -> `thinking`;
//! `max_tokens` is required (the client's, else the deployment's default, else 4096); `user`
//! -> `metadata.user_id`. OpenAI parameters Anthropic has no equivalent for are refused unless
//! `drop_params`.
//!
//! Response and stream: text, `tool_use` (ids kept, input as a JSON string), thinking
//! (`reasoning_content`), finish reasons (end_turn/stop_sequence -> stop, max_tokens -> length,
//! tool_use -> tool_calls, refusal -> content_filter), usage (cache reads in
//! `prompt_tokens_details.cached_tokens`, cache writes as `cache_creation_input_tokens`, both
//! counted in `prompt_tokens`). The SSE events are translated one by one as they arrive.

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderName, HeaderValue, Method};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use switchyard_types::{
    ChatCompletionRequest, ChatMessage, MessageContent, PromptTokensDetails, ResponseFormat, Role,
    ToolChoice, Usage,
};

use crate::sse::{data_event, Framer};
use crate::{
    ChatOutput, ChatProvider, ProviderError, StreamOutput, StreamTranslator, Target,
    TranslateError, UpstreamRequest,
};

/// Anthropic's API base.
pub const DEFAULT_API_BASE: &str = "https://api.anthropic.com";
/// The API version sent when the deployment sets none.
pub const API_VERSION: &str = "2023-06-01";
/// Output limit when neither the request nor the deployment sets one.
pub const DEFAULT_MAX_TOKENS: u64 = 4096;
/// The tool that carries a JSON answer for `response_format`.
pub const JSON_TOOL: &str = "json_tool_call";

/// The Anthropic translation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Anthropic;

/// `{api_base}/v1/messages`, tolerating a base that already ends with `/v1` or the path.
pub fn messages_url(api_base: &str) -> String {
    let base = api_base.trim_end_matches('/');
    if base.ends_with("/v1/messages") {
        base.to_owned()
    } else if base.ends_with("/v1") {
        format!("{base}/messages")
    } else {
        format!("{base}/v1/messages")
    }
}

fn invalid(msg: impl Into<String>) -> TranslateError {
    TranslateError::Invalid(msg.into())
}

/// One OpenAI content part as Anthropic content blocks.
fn part_block(part: &switchyard_types::ContentPart) -> Result<Option<Value>, TranslateError> {
    match part.kind.as_str() {
        "text" => Ok(part.text.as_ref().map(|t| {
            let mut b = json!({"type": "text", "text": t});
            if let Some(cc) = part.extra.get("cache_control") {
                b["cache_control"] = cc.clone();
            }
            b
        })),
        "image_url" => {
            let url = part
                .image_url
                .as_ref()
                .map(|u| u.url.as_str())
                .ok_or_else(|| invalid("an image_url part needs image_url.url"))?;
            let source = match crate::data_url(url)? {
                Some((media_type, data)) => {
                    json!({"type": "base64", "media_type": media_type, "data": data})
                }
                None => json!({"type": "url", "url": url}),
            };
            Ok(Some(json!({"type": "image", "source": source})))
        }
        other => Err(invalid(format!(
            "content part type `{other}` is not supported for Anthropic"
        ))),
    }
}

fn content_blocks(content: &Option<MessageContent>) -> Result<Vec<Value>, TranslateError> {
    match content {
        None => Ok(Vec::new()),
        Some(MessageContent::Text(t)) if t.is_empty() => Ok(Vec::new()),
        Some(MessageContent::Text(t)) => Ok(vec![json!({"type": "text", "text": t})]),
        Some(MessageContent::Parts(parts)) => {
            let mut out = Vec::with_capacity(parts.len());
            for p in parts {
                out.extend(part_block(p)?);
            }
            Ok(out)
        }
    }
}

/// Messages in Anthropic's shape, and the system prompt.
fn convert_messages(messages: &[ChatMessage]) -> Result<(Vec<Value>, Vec<Value>), TranslateError> {
    let mut system: Vec<Value> = Vec::new();
    let mut out: Vec<(String, Vec<Value>)> = Vec::new();
    for m in messages {
        let (role, blocks) = match m.role {
            Role::System | Role::Developer => {
                system.extend(content_blocks(&m.content)?);
                continue;
            }
            Role::User => ("user", content_blocks(&m.content)?),
            Role::Assistant => {
                let mut blocks = content_blocks(&m.content)?;
                for call in m.tool_calls.iter().flatten() {
                    let input = crate::tool_call_args(call)?;
                    blocks.push(json!({"type": "tool_use", "id": call.id, "name": call.function.name, "input": input}));
                }
                ("assistant", blocks)
            }
            Role::Tool | Role::Function => {
                let id = m
                    .tool_call_id
                    .clone()
                    .ok_or_else(|| invalid("a tool message needs tool_call_id"))?;
                let content = match &m.content {
                    Some(MessageContent::Text(t)) => json!(t),
                    Some(MessageContent::Parts(_)) => Value::Array(content_blocks(&m.content)?),
                    None => json!(""),
                };
                (
                    "user",
                    vec![json!({"type": "tool_result", "tool_use_id": id, "content": content})],
                )
            }
        };
        if blocks.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some((r, prev)) if r == role => prev.extend(blocks),
            _ => out.push((role.to_owned(), blocks)),
        }
    }
    let messages = out
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect();
    Ok((system, messages))
}

/// The body Anthropic's Messages API takes for an OpenAI-format request.
pub fn request_body(target: &Target, req: &ChatCompletionRequest) -> Result<Value, TranslateError> {
    let unsupported = |param: &str| TranslateError::UnsupportedParam {
        provider: target.provider.clone(),
        param: param.to_owned(),
    };
    for (param, set) in [
        ("n", req.n.is_some_and(|n| n > 1)),
        ("logprobs", req.logprobs == Some(true)),
        ("top_logprobs", req.top_logprobs.is_some()),
        (
            "presence_penalty",
            req.presence_penalty.is_some_and(|p| p != 0.0),
        ),
        (
            "frequency_penalty",
            req.frequency_penalty.is_some_and(|p| p != 0.0),
        ),
        (
            "logit_bias",
            req.logit_bias.as_ref().is_some_and(|b| !b.is_empty()),
        ),
        ("seed", req.seed.is_some()),
    ] {
        if set && !target.drop_params {
            return Err(unsupported(param));
        }
    }
    let (system, messages) = convert_messages(&req.messages)?;
    if messages.is_empty() {
        return Err(invalid(
            "Anthropic needs at least one user or assistant message",
        ));
    }
    let default_max = target.defaults.get("max_tokens").and_then(Value::as_u64);
    let mut max_tokens = req
        .max_completion_tokens
        .or(req.max_tokens)
        .or(default_max)
        .unwrap_or(DEFAULT_MAX_TOKENS);
    let mut body = Map::new();
    body.insert("model".into(), json!(target.model));
    body.insert("messages".into(), Value::Array(messages));
    if !system.is_empty() {
        body.insert("system".into(), Value::Array(system));
    }
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if let Some(stop) = &req.stop {
        body.insert("stop_sequences".into(), json!(stop.to_vec()));
    }
    if req.is_stream() {
        body.insert("stream".into(), json!(true));
    }
    if let Some(user) = &req.user {
        body.insert("metadata".into(), json!({"user_id": user}));
    }
    let mut tools: Vec<Value> = Vec::new();
    for t in req.tools.iter().flatten() {
        let Some(f) = &t.function else {
            return Err(invalid(format!(
                "tool type `{}` is not supported for Anthropic",
                t.kind
            )));
        };
        let mut tool = json!({
            "name": f.name,
            "input_schema": f.parameters.clone().unwrap_or_else(|| json!({"type": "object", "properties": {}})),
        });
        if let Some(d) = &f.description {
            tool["description"] = json!(d);
        }
        if let Some(cc) = t.extra.get("cache_control") {
            tool["cache_control"] = cc.clone();
        }
        tools.push(tool);
    }
    let mut tool_choice = match &req.tool_choice {
        None => None,
        Some(ToolChoice::Mode(m)) => match m.as_str() {
            "auto" => Some(json!({"type": "auto"})),
            "none" => Some(json!({"type": "none"})),
            "required" | "any" => Some(json!({"type": "any"})),
            other => {
                return Err(invalid(format!(
                    "tool_choice `{other}` is not one of auto, none, required"
                )))
            }
        },
        Some(ToolChoice::Named(n)) => Some(json!({"type": "tool", "name": n.function.name})),
    };
    let json_schema = match &req.response_format {
        Some(ResponseFormat::JsonObject) => Some(json!({"type": "object"})),
        Some(ResponseFormat::JsonSchema { json_schema }) => Some(
            json_schema
                .schema
                .clone()
                .unwrap_or_else(|| json!({"type": "object"})),
        ),
        _ => None,
    };
    if let Some(schema) = json_schema {
        tools.push(json!({"name": JSON_TOOL, "description": "Respond with a JSON object.", "input_schema": schema}));
        tool_choice = Some(json!({"type": "tool", "name": JSON_TOOL}));
    }
    if req.parallel_tool_calls == Some(false) {
        if let Some(Value::Object(tc)) = tool_choice.as_mut() {
            tc.insert("disable_parallel_tool_use".into(), json!(true));
        } else if !tools.is_empty() {
            tool_choice = Some(json!({"type": "auto", "disable_parallel_tool_use": true}));
        }
    }
    if !tools.is_empty() {
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(tc) = tool_choice {
        body.insert("tool_choice".into(), tc);
    }
    if let Some(effort) = req.reasoning_effort.as_deref() {
        let budget = match effort {
            "minimal" | "low" => 1024,
            "medium" => 2048,
            "high" => 4096,
            "none" => 0,
            other => {
                return Err(invalid(format!(
                    "reasoning_effort `{other}` is not one of low, medium, high"
                )))
            }
        };
        if budget > 0 {
            body.insert(
                "thinking".into(),
                json!({"type": "enabled", "budget_tokens": budget}),
            );
            max_tokens = max_tokens.max(budget + 1024);
        }
    }
    body.insert("max_tokens".into(), json!(max_tokens));
    // Anthropic's own parameters, sent as given (`top_k`, `thinking`, ...).
    for (k, v) in &req.extra {
        body.entry(k.clone()).or_insert_with(|| v.clone());
    }
    for (k, v) in &target.defaults {
        if k != "max_tokens" {
            body.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    for (k, v) in &target.extra_body {
        body.insert(k.clone(), v.clone());
    }
    Ok(Value::Object(body))
}

pub(crate) fn headers(target: &Target) -> Result<Vec<(HeaderName, HeaderValue)>, TranslateError> {
    let mut h = vec![
        (CONTENT_TYPE, HeaderValue::from_static("application/json")),
        (
            HeaderName::from_static("anthropic-version"),
            match target.api_version.as_deref() {
                Some(v) => HeaderValue::try_from(v).map_err(|_| {
                    TranslateError::Config("api_version is not a valid header value".into())
                })?,
                None => HeaderValue::from_static(API_VERSION),
            },
        ),
    ];
    if let Some(key) = target.api_key.as_deref().filter(|k| !k.is_empty()) {
        let mut v = HeaderValue::try_from(key).map_err(|_| {
            TranslateError::Config("api_key has characters not allowed in a header".into())
        })?;
        v.set_sensitive(true);
        h.push((HeaderName::from_static("x-api-key"), v));
    }
    crate::push_extra_headers(target, &mut h)?;
    Ok(h)
}

/// Anthropic's `usage` as OpenAI's.
pub(crate) fn usage_of(u: &AnthropicUsage) -> Usage {
    let read = u.cache_read_input_tokens.unwrap_or(0);
    let written = u.cache_creation_input_tokens.unwrap_or(0);
    let prompt = u.input_tokens.unwrap_or(0) + read + written;
    let completion = u.output_tokens.unwrap_or(0);
    let mut extra = Map::new();
    if written > 0 {
        extra.insert("cache_creation_input_tokens".into(), json!(written));
    }
    if read > 0 {
        extra.insert("cache_read_input_tokens".into(), json!(read));
    }
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        prompt_tokens_details: (read > 0).then(|| PromptTokensDetails {
            cached_tokens: Some(read),
            ..PromptTokensDetails::default()
        }),
        completion_tokens_details: None,
        extra,
    }
}

/// Anthropic's stop reason as OpenAI's finish reason.
pub fn finish_reason(stop: &str) -> &'static str {
    match stop {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        _ => "stop",
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
pub(crate) struct AnthropicUsage {
    #[serde(default)]
    pub(crate) input_tokens: Option<u64>,
    #[serde(default)]
    pub(crate) output_tokens: Option<u64>,
    #[serde(default)]
    pub(crate) cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    pub(crate) cache_read_input_tokens: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct MessageResponse {
    id: String,
    model: String,
    content: Vec<Value>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: AnthropicUsage,
}

use crate::now_secs;

impl ChatProvider for Anthropic {
    fn chat_request(
        &self,
        target: &Target,
        request: &switchyard_types::Verbatim<ChatCompletionRequest>,
    ) -> Result<UpstreamRequest, TranslateError> {
        let body = request_body(target, request)?;
        Ok(UpstreamRequest {
            method: Method::POST,
            url: messages_url(&target.api_base),
            headers: headers(target)?,
            body: Bytes::from(serde_json::to_vec(&body).map_err(|e| invalid(e.to_string()))?),
        })
    }

    fn chat_response(&self, _target: &Target, body: Bytes) -> Result<ChatOutput, ProviderError> {
        let m: MessageResponse = serde_json::from_slice(&body).map_err(ProviderError::malformed)?;
        let mut text = String::new();
        let mut reasoning = String::new();
        let mut calls = Vec::new();
        let mut json_answer = None;
        for b in &m.content {
            match b.get("type").and_then(Value::as_str) {
                Some("text") => text.push_str(b.get("text").and_then(Value::as_str).unwrap_or("")),
                Some("thinking") => {
                    reasoning.push_str(b.get("thinking").and_then(Value::as_str).unwrap_or(""))
                }
                Some("tool_use") => {
                    let name = b.get("name").and_then(Value::as_str).unwrap_or("");
                    let input = b.get("input").cloned().unwrap_or(json!({}));
                    if name == JSON_TOOL {
                        json_answer = Some(input.to_string());
                        continue;
                    }
                    calls.push(json!({
                        "id": b.get("id").cloned().unwrap_or(Value::Null),
                        "type": "function",
                        "function": {"name": name, "arguments": input.to_string()},
                    }));
                }
                _ => {}
            }
        }
        let mut finish = m.stop_reason.as_deref().map_or("stop", finish_reason);
        if let Some(j) = json_answer {
            text = j;
            if calls.is_empty() {
                finish = "stop";
            }
        }
        let usage = usage_of(&m.usage);
        let mut message = json!({"role": "assistant", "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { json!(text) }});
        if !calls.is_empty() {
            message["tool_calls"] = Value::Array(calls);
        }
        if !reasoning.is_empty() {
            message["reasoning_content"] = json!(reasoning);
        }
        let out = json!({
            "id": m.id,
            "object": "chat.completion",
            "created": now_secs(),
            "model": m.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": null}],
            "usage": usage,
        });
        Ok(ChatOutput {
            body: Bytes::from(serde_json::to_vec(&out).map_err(ProviderError::malformed)?),
            usage: Some(usage),
        })
    }

    fn chat_stream(&self, _target: &Target, strip_usage: bool) -> Box<dyn StreamTranslator> {
        Box::new(AnthropicStream {
            framer: Framer::new(),
            strip_usage,
            id: String::new(),
            model: String::new(),
            created: now_secs(),
            usage: AnthropicUsage::default(),
            blocks: Vec::new(),
            tool_calls: 0,
            finish: None,
            text: String::new(),
            ended: false,
        })
    }

    fn error_response(&self, status: u16, body: &[u8]) -> ProviderError {
        anthropic_error(status, body)
    }
}

/// Reads Anthropic's error body `{"type": "error", "error": {"type", "message"}}`.
pub fn anthropic_error(status: u16, body: &[u8]) -> ProviderError {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let err = v.get("error");
    let message = err
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let kind = err
        .and_then(|e| e.get("type"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    // Anthropic's "overloaded" status is not an HTTP status clients know.
    let status = if status == 529 { 503 } else { status };
    let code = (status == 400 && message.contains("prompt is too long"))
        .then(|| "context_length_exceeded".to_owned());
    ProviderError {
        status,
        message,
        kind,
        code,
        param: None,
    }
}

/// What a content block of the stream is.
#[derive(Debug, Clone, PartialEq)]
enum Block {
    Text,
    Thinking,
    /// A tool call, with its index among the answer's tool calls.
    Tool(u32),
    /// The `json_tool_call` of `response_format`: its input is the answer's content.
    Json,
    Other,
}

struct AnthropicStream {
    framer: Framer,
    strip_usage: bool,
    id: String,
    model: String,
    created: u64,
    usage: AnthropicUsage,
    blocks: Vec<(u64, Block)>,
    tool_calls: u32,
    finish: Option<&'static str>,
    text: String,
    ended: bool,
}

impl AnthropicStream {
    fn chunk(&self, delta: Value, finish: Option<&str>) -> Bytes {
        let c = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        });
        data_event(c.to_string().as_bytes())
    }

    fn block(&self, index: u64) -> Block {
        self.blocks
            .iter()
            .find(|(i, _)| *i == index)
            .map_or(Block::Other, |(_, b)| b.clone())
    }

    fn on_event(&mut self, v: &Value, out: &mut StreamOutput) {
        let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
        match kind {
            "message_start" => {
                let m = v.get("message").cloned().unwrap_or(Value::Null);
                self.id = m.get("id").and_then(Value::as_str).unwrap_or("").to_owned();
                self.model = m
                    .get("model")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                if let Some(u) = m.get("usage") {
                    self.usage = serde_json::from_value(u.clone()).unwrap_or_default();
                }
                out.events
                    .push(self.chunk(json!({"role": "assistant", "content": ""}), None));
            }
            "content_block_start" => {
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                let cb = v.get("content_block").cloned().unwrap_or(Value::Null);
                let block = match cb.get("type").and_then(Value::as_str) {
                    Some("text") => Block::Text,
                    Some("thinking") => Block::Thinking,
                    Some("tool_use")
                        if cb.get("name").and_then(Value::as_str) == Some(JSON_TOOL) =>
                    {
                        Block::Json
                    }
                    Some("tool_use") => {
                        let i = self.tool_calls;
                        self.tool_calls += 1;
                        out.events.push(self.chunk(
                            json!({"tool_calls": [{"index": i, "id": cb.get("id"), "type": "function",
                                "function": {"name": cb.get("name"), "arguments": ""}}]}),
                            None,
                        ));
                        Block::Tool(i)
                    }
                    _ => Block::Other,
                };
                self.blocks.push((index, block));
            }
            "content_block_delta" => {
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                let d = v.get("delta").cloned().unwrap_or(Value::Null);
                let text = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                match (self.block(index), d.get("type").and_then(Value::as_str)) {
                    (_, Some("text_delta")) => {
                        let t = text("text");
                        self.text.push_str(&t);
                        out.events.push(self.chunk(json!({"content": t}), None));
                    }
                    (_, Some("thinking_delta")) => {
                        out.events
                            .push(self.chunk(json!({"reasoning_content": text("thinking")}), None));
                    }
                    (Block::Json, Some("input_json_delta")) => {
                        let t = text("partial_json");
                        self.text.push_str(&t);
                        out.events.push(self.chunk(json!({"content": t}), None));
                    }
                    (Block::Tool(i), Some("input_json_delta")) => {
                        let t = text("partial_json");
                        self.text.push_str(&t);
                        out.events.push(self.chunk(
                            json!({"tool_calls": [{"index": i, "function": {"arguments": t}}]}),
                            None,
                        ));
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(stop) = v.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    let has_json = self.blocks.iter().any(|(_, b)| *b == Block::Json);
                    self.finish = Some(if has_json && self.tool_calls == 0 {
                        "stop"
                    } else {
                        finish_reason(stop)
                    });
                }
                if let Some(u) = v.get("usage") {
                    let more: AnthropicUsage =
                        serde_json::from_value(u.clone()).unwrap_or_default();
                    if more.output_tokens.is_some() {
                        self.usage.output_tokens = more.output_tokens;
                    }
                    if more.input_tokens.is_some() {
                        self.usage.input_tokens = more.input_tokens;
                    }
                }
            }
            "message_stop" => self.end(out),
            "error" => {
                let e = v.get("error").cloned().unwrap_or(Value::Null);
                let message = e
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("stream error")
                    .to_owned();
                let kind = e.get("type").and_then(Value::as_str).map(str::to_owned);
                let status = match kind.as_deref() {
                    Some("overloaded_error") => 503,
                    Some("rate_limit_error") => 429,
                    Some("invalid_request_error") => 400,
                    _ => 500,
                };
                let err = json!({"error": {"message": message, "type": kind, "param": null, "code": status.to_string()}});
                out.events.push(data_event(err.to_string().as_bytes()));
                out.error = Some(ProviderError {
                    status,
                    message,
                    kind,
                    code: None,
                    param: None,
                });
                self.ended = true;
            }
            _ => {} // ping, content_block_stop, unknown events
        }
    }

    fn end(&mut self, out: &mut StreamOutput) {
        if self.ended {
            return;
        }
        self.ended = true;
        out.events
            .push(self.chunk(json!({}), Some(self.finish.unwrap_or("stop"))));
        let usage = usage_of(&self.usage);
        if !self.strip_usage {
            let c = json!({
                "id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model, "choices": [], "usage": usage,
            });
            out.events.push(data_event(c.to_string().as_bytes()));
        }
        out.events.push(Bytes::from_static(b"data: [DONE]\n\n"));
        out.usage = Some(usage);
        out.done = true;
    }
}

impl StreamTranslator for AnthropicStream {
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
                    self.on_event(&v, &mut out);
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
mod tests;
