//! Anthropic Messages format in, the gateway's OpenAI format out: the `/v1/messages` route
//! for clients such as Claude Code and the `anthropic` SDK, when the chosen deployment is not
//! an Anthropic one (to `anthropic/…` the body goes through as it is, `anthropic_anthropic.rs`).
//!
//! Request: `system` (string or text blocks) becomes a system message; text, image (base64 or
//! URL) and PDF document blocks become content parts; assistant `tool_use` blocks become
//! `tool_calls` and user `tool_result` blocks `role: tool` messages (placed first, as OpenAI
//! wants them right after the assistant's calls); `tools` become function tools; `tool_choice`
//! auto/any/tool/none becomes auto/required/named/none, `disable_parallel_tool_use` becomes
//! `parallel_tool_calls: false`; `stop_sequences` becomes `stop`; `metadata.user_id` becomes
//! `user`; `thinking` becomes `reasoning_effort` by its budget. `top_k`, which OpenAI has no
//! equivalent for, is dropped; other top-level fields are kept for the gateway and provider.
//!
//! Response: an OpenAI completion becomes a `message` (thinking, text and tool_use blocks,
//! stop reason, usage with cache reads apart), and an OpenAI chunk stream becomes Anthropic's
//! event sequence (`message_start`, `ping`, `content_block_start/delta/stop` with
//! `text_delta`, `thinking_delta` and `input_json_delta`, `message_delta` with the stop reason
//! and usage, `message_stop`), translated event by event as the chunks arrive.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use switchyard_types::{
    ChatCompletionRequest, ChatCompletionResponse, ChatMessage, ContentPart, FunctionCall,
    FunctionDefinition, FunctionName, ImageUrl, MessageContent, NamedToolChoice, Role, Stop,
    StreamOptions, Tool, ToolCall, ToolChoice, Usage,
};

use crate::sse::Framer;
use crate::TranslateError;

/// Top-level fields of a Messages request that are translated; any other is kept as is.
const KNOWN: &[&str] = &[
    "model",
    "messages",
    "system",
    "max_tokens",
    "stop_sequences",
    "stream",
    "temperature",
    "top_p",
    "top_k",
    "tools",
    "tool_choice",
    "thinking",
];

fn invalid(msg: impl Into<String>) -> TranslateError {
    TranslateError::Invalid(msg.into())
}

/// The parts of a Messages request that are read with their types (errors name the field).
#[derive(Debug, Deserialize)]
struct Head {
    model: String,
    messages: Vec<InMessage>,
    #[serde(default)]
    system: Option<Value>,
    #[serde(default)]
    max_tokens: Option<u64>,
    #[serde(default)]
    stop_sequences: Option<Vec<String>>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    top_p: Option<f64>,
    #[serde(default)]
    tools: Option<Vec<Map<String, Value>>>,
    #[serde(default)]
    tool_choice: Option<InToolChoice>,
    #[serde(default)]
    thinking: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct InMessage {
    role: String,
    content: InContent,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum InContent {
    Text(String),
    Blocks(Vec<Map<String, Value>>),
}

#[derive(Debug, Deserialize)]
struct InToolChoice {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    disable_parallel_tool_use: Option<bool>,
}

/// A parsed Messages request: the translated chat request, and the body as the client sent it
/// (what an Anthropic deployment receives).
#[derive(Debug, Clone)]
pub struct MessagesRequest {
    /// The request in the gateway's format: admission, routing and non-Anthropic providers.
    pub chat: ChatCompletionRequest,
    /// The body as received.
    pub body: Map<String, Value>,
}

fn str_of<'a>(b: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    b.get(key).and_then(Value::as_str)
}

fn block_type(b: &Map<String, Value>) -> &str {
    str_of(b, "type").unwrap_or("")
}

fn text_part(text: &str) -> ContentPart {
    ContentPart {
        kind: "text".into(),
        text: Some(text.to_owned()),
        image_url: None,
        extra: Map::new(),
    }
}

/// An image or document `source` as a URL (base64 sources become data URLs).
fn source_url(b: &Map<String, Value>) -> Result<String, TranslateError> {
    let what = block_type(b);
    let src = b
        .get("source")
        .and_then(Value::as_object)
        .ok_or_else(|| invalid(format!("a `{what}` block needs a `source` object")))?;
    match str_of(src, "type") {
        Some("base64") => {
            let mt = str_of(src, "media_type")
                .ok_or_else(|| invalid(format!("a base64 `{what}` source needs `media_type`")))?;
            let data = str_of(src, "data")
                .ok_or_else(|| invalid(format!("a base64 `{what}` source needs `data`")))?;
            Ok(format!("data:{mt};base64,{data}"))
        }
        Some("url") => str_of(src, "url")
            .map(str::to_owned)
            .ok_or_else(|| invalid(format!("a url `{what}` source needs `url`"))),
        other => Err(invalid(format!(
            "`{what}` source type `{}` cannot be sent to this deployment",
            other.unwrap_or("(none)")
        ))),
    }
}

/// One user-side content block as an OpenAI content part.
fn user_part(b: &Map<String, Value>) -> Result<Option<ContentPart>, TranslateError> {
    match block_type(b) {
        "text" => Ok(Some(text_part(str_of(b, "text").unwrap_or("")))),
        "image" => Ok(Some(ContentPart {
            kind: "image_url".into(),
            text: None,
            image_url: Some(ImageUrl {
                url: source_url(b)?,
                detail: None,
            }),
            extra: Map::new(),
        })),
        "document" => {
            // Plain-text documents are text; PDFs become OpenAI file parts.
            let src = b.get("source").and_then(Value::as_object);
            if let Some(text) = src
                .filter(|s| str_of(s, "type") == Some("text"))
                .and_then(|s| str_of(s, "data"))
            {
                return Ok(Some(text_part(text)));
            }
            let mut file = Map::new();
            file.insert("file_data".into(), json!(source_url(b)?));
            if let Some(t) = str_of(b, "title") {
                file.insert("filename".into(), json!(t));
            }
            let mut extra = Map::new();
            extra.insert("file".into(), Value::Object(file));
            Ok(Some(ContentPart {
                kind: "file".into(),
                text: None,
                image_url: None,
                extra,
            }))
        }
        // Thinking from an earlier Anthropic turn means nothing to another provider.
        "thinking" | "redacted_thinking" => Ok(None),
        other => Err(invalid(format!(
            "content block type `{other}` cannot be sent to this deployment"
        ))),
    }
}

/// `tool_result` content: the text, and any images (which OpenAI takes in a user message).
fn tool_result(b: &Map<String, Value>) -> Result<(String, Vec<ContentPart>), TranslateError> {
    match b.get("content") {
        None | Some(Value::Null) => Ok((String::new(), Vec::new())),
        Some(Value::String(s)) => Ok((s.clone(), Vec::new())),
        Some(Value::Array(items)) => {
            let mut text = String::new();
            let mut images = Vec::new();
            for item in items {
                let Some(o) = item.as_object() else {
                    return Err(invalid("tool_result content items must be objects"));
                };
                match user_part(o)? {
                    Some(p) if p.kind == "text" => {
                        if !text.is_empty() {
                            text.push('\n');
                        }
                        text.push_str(p.text.as_deref().unwrap_or(""));
                    }
                    Some(p) => images.push(p),
                    None => {}
                }
            }
            Ok((text, images))
        }
        Some(_) => Err(invalid(
            "tool_result content must be a string or a list of blocks",
        )),
    }
}

fn push_message(out: &mut Vec<ChatMessage>, role: Role, content: Option<MessageContent>) {
    out.push(ChatMessage {
        role,
        content,
        name: None,
        tool_calls: None,
        tool_call_id: None,
        extra: Map::new(),
    });
}

fn convert_message(m: &InMessage, out: &mut Vec<ChatMessage>) -> Result<(), TranslateError> {
    let blocks = match &m.content {
        InContent::Text(t) => {
            let role = match m.role.as_str() {
                "user" => Role::User,
                "assistant" => Role::Assistant,
                other => {
                    return Err(invalid(format!(
                        "message role `{other}` is not user or assistant"
                    )))
                }
            };
            push_message(out, role, Some(MessageContent::Text(t.clone())));
            return Ok(());
        }
        InContent::Blocks(b) => b,
    };
    match m.role.as_str() {
        "user" => {
            let mut parts = Vec::new();
            for b in blocks {
                if block_type(b) == "tool_result" {
                    let id = str_of(b, "tool_use_id")
                        .ok_or_else(|| invalid("a tool_result block needs `tool_use_id`"))?;
                    let (mut text, images) = tool_result(b)?;
                    if b.get("is_error").and_then(Value::as_bool) == Some(true) && text.is_empty() {
                        text = "error".into();
                    }
                    out.push(ChatMessage {
                        role: Role::Tool,
                        content: Some(MessageContent::Text(text)),
                        name: None,
                        tool_calls: None,
                        tool_call_id: Some(id.to_owned()),
                        extra: Map::new(),
                    });
                    parts.extend(images);
                } else {
                    parts.extend(user_part(b)?);
                }
            }
            if !parts.is_empty() {
                push_message(out, Role::User, Some(MessageContent::Parts(parts)));
            }
        }
        "assistant" => {
            let mut text = String::new();
            let mut calls = Vec::new();
            for b in blocks {
                match block_type(b) {
                    "text" => text.push_str(str_of(b, "text").unwrap_or("")),
                    "tool_use" | "server_tool_use" => calls.push(ToolCall {
                        id: str_of(b, "id").unwrap_or_default().to_owned(),
                        kind: "function".into(),
                        function: FunctionCall {
                            name: str_of(b, "name").unwrap_or_default().to_owned(),
                            arguments: b
                                .get("input")
                                .map_or_else(|| "{}".to_owned(), Value::to_string),
                        },
                    }),
                    "thinking" | "redacted_thinking" => {}
                    other => {
                        return Err(invalid(format!(
                        "assistant content block type `{other}` cannot be sent to this deployment"
                    )))
                    }
                }
            }
            out.push(ChatMessage {
                role: Role::Assistant,
                content: (!text.is_empty() || calls.is_empty())
                    .then_some(MessageContent::Text(text)),
                name: None,
                tool_calls: (!calls.is_empty()).then_some(calls),
                tool_call_id: None,
                extra: Map::new(),
            });
        }
        other => {
            return Err(invalid(format!(
                "message role `{other}` is not user or assistant"
            )))
        }
    }
    Ok(())
}

fn system_message(system: &Value) -> Result<Option<ChatMessage>, TranslateError> {
    let text = match system {
        Value::Null => return Ok(None),
        Value::String(s) => s.clone(),
        Value::Array(blocks) => {
            let mut t = String::new();
            for b in blocks {
                let s = b
                    .get("text")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid("`system` blocks must be text blocks"))?;
                if !t.is_empty() {
                    t.push('\n');
                }
                t.push_str(s);
            }
            t
        }
        _ => {
            return Err(invalid(
                "`system` must be a string or a list of text blocks",
            ))
        }
    };
    Ok((!text.is_empty()).then(|| ChatMessage {
        role: Role::System,
        content: Some(MessageContent::Text(text)),
        name: None,
        tool_calls: None,
        tool_call_id: None,
        extra: Map::new(),
    }))
}

/// `thinking.budget_tokens` as an OpenAI `reasoning_effort`.
fn effort(thinking: &Value) -> Option<String> {
    if thinking.get("type").and_then(Value::as_str) != Some("enabled") {
        return None;
    }
    let budget = thinking
        .get("budget_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    Some(
        match budget {
            0..=2048 => "low",
            2049..=8192 => "medium",
            _ => "high",
        }
        .to_owned(),
    )
}

/// Parses a Messages request body and translates it.
pub fn parse(bytes: &[u8]) -> Result<MessagesRequest, TranslateError> {
    let body: Map<String, Value> =
        serde_json::from_slice(bytes).map_err(|e| invalid(format!("Invalid request body: {e}")))?;
    let head: Head = serde_json::from_value(Value::Object(body.clone()))
        .map_err(|e| invalid(format!("Invalid request body: {e}")))?;
    let mut messages = Vec::with_capacity(head.messages.len() + 1);
    if let Some(s) = head
        .system
        .as_ref()
        .map(system_message)
        .transpose()?
        .flatten()
    {
        messages.push(s);
    }
    for m in &head.messages {
        convert_message(m, &mut messages)?;
    }
    let mut tools = Vec::new();
    for t in head.tools.iter().flatten() {
        let name = str_of(t, "name").ok_or_else(|| invalid("every tool needs a `name`"))?;
        match str_of(t, "type") {
            None | Some("custom") => {}
            Some(other) => {
                return Err(invalid(format!(
                    "server tool `{other}` runs only on Anthropic deployments"
                )))
            }
        }
        tools.push(Tool {
            kind: "function".into(),
            function: Some(FunctionDefinition {
                name: name.to_owned(),
                description: str_of(t, "description").map(str::to_owned),
                parameters: t.get("input_schema").cloned(),
                strict: None,
            }),
            extra: Map::new(),
        });
    }
    let mut parallel = None;
    let tool_choice = match &head.tool_choice {
        None => None,
        Some(tc) => {
            if tc.disable_parallel_tool_use == Some(true) {
                parallel = Some(false);
            }
            Some(match tc.kind.as_str() {
                "auto" => ToolChoice::Mode("auto".into()),
                "any" => ToolChoice::Mode("required".into()),
                "none" => ToolChoice::Mode("none".into()),
                "tool" => ToolChoice::Named(NamedToolChoice {
                    kind: "function".into(),
                    function: FunctionName {
                        name: tc
                            .name
                            .clone()
                            .ok_or_else(|| invalid("tool_choice of type `tool` needs `name`"))?,
                    },
                }),
                other => {
                    return Err(invalid(format!(
                        "tool_choice type `{other}` is not one of auto, any, tool, none"
                    )))
                }
            })
        }
    };
    let mut extra = Map::new();
    for (k, v) in &body {
        if !KNOWN.contains(&k.as_str()) {
            extra.insert(k.clone(), v.clone());
        }
    }
    let user = body
        .get("metadata")
        .and_then(|m| m.get("user_id"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let stream = head.stream == Some(true);
    let chat = ChatCompletionRequest {
        model: head.model,
        messages,
        stream: stream.then_some(true),
        stream_options: stream.then(|| StreamOptions {
            include_usage: Some(true),
            extra: Map::new(),
        }),
        temperature: head.temperature,
        top_p: head.top_p,
        n: None,
        stop: head
            .stop_sequences
            .filter(|s| !s.is_empty())
            .map(Stop::Many),
        max_tokens: head.max_tokens,
        max_completion_tokens: None,
        presence_penalty: None,
        frequency_penalty: None,
        logit_bias: None,
        logprobs: None,
        top_logprobs: None,
        user,
        response_format: None,
        seed: None,
        tools: (!tools.is_empty()).then_some(tools),
        tool_choice,
        parallel_tool_calls: parallel,
        reasoning_effort: head.thinking.as_ref().and_then(effort),
        extra,
    };
    Ok(MessagesRequest { chat, body })
}

/// OpenAI's finish reason as Anthropic's stop reason.
pub fn stop_reason(finish: &str) -> &'static str {
    match finish {
        "length" => "max_tokens",
        "tool_calls" | "function_call" => "tool_use",
        "content_filter" => "refusal",
        _ => "end_turn",
    }
}

/// OpenAI usage as Anthropic's (`input_tokens` excludes cache reads and writes).
pub fn usage(u: &Usage) -> Value {
    let read = u
        .prompt_tokens_details
        .as_ref()
        .and_then(|d| d.cached_tokens)
        .unwrap_or(0);
    let written = u
        .extra
        .get("cache_creation_input_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    json!({
        "input_tokens": u.prompt_tokens.saturating_sub(read + written),
        "output_tokens": u.completion_tokens,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": read,
    })
}

/// `msg_…`: Anthropic clients expect the prefix.
fn message_id(id: &str) -> String {
    if id.starts_with("msg_") {
        id.to_owned()
    } else {
        format!("msg_{}", id.strip_prefix("chatcmpl-").unwrap_or(id))
    }
}

fn tool_input(arguments: &str) -> Value {
    serde_json::from_str::<Value>(arguments)
        .ok()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}))
}

/// An OpenAI chat completion body as an Anthropic `message`.
pub fn response(body: &[u8]) -> Result<Bytes, TranslateError> {
    let r: ChatCompletionResponse = serde_json::from_slice(body).map_err(|e| {
        invalid(format!(
            "the provider's answer is not a chat completion: {e}"
        ))
    })?;
    let mut content = Vec::new();
    let mut finish = None;
    if let Some(c) = r.choices.first() {
        finish = c.finish_reason.as_deref();
        if let Some(t) = c
            .message
            .extra
            .get("reasoning_content")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            content.push(json!({"type": "thinking", "thinking": t, "signature": ""}));
        }
        if let Some(t) = c.message.content.as_deref().filter(|t| !t.is_empty()) {
            content.push(json!({"type": "text", "text": t}));
        }
        for call in c.message.tool_calls.iter().flatten() {
            content.push(json!({
                "type": "tool_use",
                "id": call.id,
                "name": call.function.name,
                "input": tool_input(&call.function.arguments),
            }));
        }
    }
    let out = json!({
        "id": message_id(&r.id),
        "type": "message",
        "role": "assistant",
        "model": r.model,
        "content": content,
        "stop_reason": stop_reason(finish.unwrap_or("stop")),
        "stop_sequence": null,
        "usage": usage(&r.usage.unwrap_or_default()),
    });
    serde_json::to_vec(&out)
        .map(Bytes::from)
        .map_err(|e| invalid(e.to_string()))
}

/// One Anthropic SSE event: `event: <type>` and its JSON.
pub fn event(kind: &str, data: &Value) -> Bytes {
    let json = data.to_string();
    let mut b = Vec::with_capacity(kind.len() + json.len() + 16);
    b.extend_from_slice(b"event: ");
    b.extend_from_slice(kind.as_bytes());
    b.extend_from_slice(b"\ndata: ");
    b.extend_from_slice(json.as_bytes());
    b.extend_from_slice(b"\n\n");
    Bytes::from(b)
}

/// Anthropic's error `type` for an HTTP status.
pub fn error_type(status: u16) -> &'static str {
    match status {
        400 | 405 | 408 | 409 | 422 => "invalid_request_error",
        401 => "authentication_error",
        402 | 403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        _ => "api_error",
    }
}

/// Anthropic's error body.
pub fn error_body(kind: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Open {
    Text,
    Thinking,
    /// A tool call: OpenAI's index of it.
    Tool(u32),
}

/// OpenAI chunk events in, Anthropic stream events out.
#[derive(Debug, Default)]
pub struct StreamBack {
    framer: Framer,
    started: bool,
    ended: bool,
    /// The open content block: its kind and index.
    open: Option<(Open, u64)>,
    next_index: u64,
    finish: Option<String>,
    usage: Option<Usage>,
}

impl StreamBack {
    /// A translator for one stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes of the OpenAI stream; returns the Anthropic events they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Bytes> {
        self.framer.push(bytes);
        let mut out = Vec::new();
        while let Some(ev) = self.framer.next_event() {
            if let Some(data) = ev.data {
                self.data(&data, &mut out);
            }
        }
        out
    }

    /// The OpenAI stream ended: close what is open.
    pub fn finish(&mut self) -> Vec<Bytes> {
        let mut out = Vec::new();
        if let Some(data) = self.framer.finish().and_then(|e| e.data) {
            self.data(&data, &mut out);
        }
        self.close(&mut out);
        out
    }

    /// The stream failed: Anthropic's `error` event, last.
    pub fn fail(&mut self, kind: &str, message: &str) -> Bytes {
        self.ended = true;
        event("error", &error_body(kind, message))
    }

    fn start(&mut self, id: &str, model: &str, out: &mut Vec<Bytes>) {
        if self.started {
            return;
        }
        self.started = true;
        out.push(event(
            "message_start",
            &json!({"type": "message_start", "message": {
                "id": message_id(id), "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 0, "output_tokens": 0},
            }}),
        ));
        out.push(event("ping", &json!({"type": "ping"})));
    }

    fn stop_block(&mut self, out: &mut Vec<Bytes>) {
        if let Some((_, index)) = self.open.take() {
            out.push(event(
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": index}),
            ));
        }
    }

    /// Makes `kind` the open block (closing another), starting it with `block`.
    fn ensure(&mut self, kind: Open, block: impl FnOnce() -> Value, out: &mut Vec<Bytes>) -> u64 {
        if let Some((k, i)) = self.open {
            if k == kind {
                return i;
            }
        }
        self.stop_block(out);
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some((kind, index));
        out.push(event(
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": block()}),
        ));
        index
    }

    fn delta(index: u64, delta: Value) -> Bytes {
        event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": index, "delta": delta}),
        )
    }

    fn data(&mut self, data: &[u8], out: &mut Vec<Bytes>) {
        if self.ended {
            return;
        }
        if data == b"[DONE]" {
            self.close(out);
            return;
        }
        let Ok(v) = serde_json::from_slice::<Value>(data) else {
            return;
        };
        if let Some(e) = v.get("error") {
            let message = e
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("upstream error");
            let status = e
                .get("code")
                .and_then(|c| c.as_str().and_then(|s| s.parse().ok()).or(c.as_u64()))
                .and_then(|c| u16::try_from(c).ok())
                .unwrap_or(500);
            out.push(self.fail(error_type(status), message));
            return;
        }
        let id = v.get("id").and_then(Value::as_str).unwrap_or("");
        let model = v.get("model").and_then(Value::as_str).unwrap_or("");
        self.start(id, model, out);
        if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
            if let Ok(u) = serde_json::from_value::<Usage>(u.clone()) {
                self.usage = Some(u);
            }
        }
        let Some(choice) = v.get("choices").and_then(|c| c.get(0)) else {
            return;
        };
        let delta = choice.get("delta");
        if let Some(t) = delta
            .and_then(|d| d.get("reasoning_content"))
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            let i = self.ensure(
                Open::Thinking,
                || json!({"type": "thinking", "thinking": "", "signature": ""}),
                out,
            );
            out.push(Self::delta(
                i,
                json!({"type": "thinking_delta", "thinking": t}),
            ));
        }
        if let Some(t) = delta
            .and_then(|d| d.get("content"))
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            let i = self.ensure(Open::Text, || json!({"type": "text", "text": ""}), out);
            out.push(Self::delta(i, json!({"type": "text_delta", "text": t})));
        }
        for call in delta
            .and_then(|d| d.get("tool_calls"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let n = call
                .get("index")
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0);
            let f = call.get("function");
            let i = self.ensure(
                Open::Tool(n),
                || {
                    json!({
                        "type": "tool_use",
                        "id": call.get("id").and_then(Value::as_str).unwrap_or_default(),
                        "name": f.and_then(|f| f.get("name")).and_then(Value::as_str).unwrap_or_default(),
                        "input": {},
                    })
                },
                out,
            );
            if let Some(a) = f
                .and_then(|f| f.get("arguments"))
                .and_then(Value::as_str)
                .filter(|a| !a.is_empty())
            {
                out.push(Self::delta(
                    i,
                    json!({"type": "input_json_delta", "partial_json": a}),
                ));
            }
        }
        if let Some(f) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish = Some(f.to_owned());
        }
    }

    fn close(&mut self, out: &mut Vec<Bytes>) {
        if self.ended {
            return;
        }
        self.ended = true;
        self.start("", "", out);
        self.stop_block(out);
        let stop = stop_reason(self.finish.as_deref().unwrap_or("stop"));
        out.push(event(
            "message_delta",
            &json!({"type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": null},
                "usage": usage(&self.usage.clone().unwrap_or_default())}),
        ));
        out.push(event("message_stop", &json!({"type": "message_stop"})));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn translates_system_blocks_tools_and_results() {
        let r = parse(
            br#"{"model":"m","max_tokens":50,"system":[{"type":"text","text":"be brief","cache_control":{"type":"ephemeral"}}],
            "metadata":{"user_id":"u1"},"stop_sequences":["END"],"top_k":5,
            "tools":[{"name":"get_weather","description":"w","input_schema":{"type":"object"}}],
            "tool_choice":{"type":"any","disable_parallel_tool_use":true},
            "messages":[
              {"role":"user","content":[{"type":"text","text":"hi"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAA"}}]},
              {"role":"assistant","content":[{"type":"thinking","thinking":"hmm","signature":"s"},{"type":"text","text":"let me see"},{"type":"tool_use","id":"t1","name":"get_weather","input":{"city":"Paris"}}]},
              {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"sunny"}]},{"type":"text","text":"thanks"}]}
            ]}"#,
        )
        .unwrap();
        let c = serde_json::to_value(&r.chat).unwrap();
        assert_eq!(
            c["messages"][0],
            json!({"role": "system", "content": "be brief"})
        );
        assert_eq!(
            c["messages"][1]["content"][1]["image_url"]["url"],
            "data:image/png;base64,AAA"
        );
        assert_eq!(c["messages"][2]["content"], "let me see");
        assert_eq!(
            c["messages"][2]["tool_calls"][0]["function"]["arguments"],
            r#"{"city":"Paris"}"#
        );
        assert_eq!(
            c["messages"][3],
            json!({"role": "tool", "content": "sunny", "tool_call_id": "t1"})
        );
        assert_eq!(c["messages"][4]["content"][0]["text"], "thanks");
        assert_eq!(c["tools"][0]["function"]["name"], "get_weather");
        assert_eq!(
            c["tools"][0]["function"]["parameters"],
            json!({"type": "object"})
        );
        assert_eq!(c["tool_choice"], "required");
        assert_eq!(c["parallel_tool_calls"], false);
        assert_eq!(c["stop"], json!(["END"]));
        assert_eq!(c["user"], "u1");
        assert_eq!(c["max_tokens"], 50);
        assert!(c.get("top_k").is_none());
        // The gateway keeps metadata (tags, spend-log metadata) from the body.
        assert_eq!(c["metadata"]["user_id"], "u1");
        assert_eq!(r.body["top_k"], 5);
    }

    #[test]
    fn bad_requests_name_the_problem() {
        for (body, needle) in [
            (&br#"{"messages":[]}"#[..], "model"),
            (br#"{"model":"m","messages":[{"role":"system","content":"x"}]}"#, "role `system`"),
            (br#"{"model":"m","messages":[{"role":"user","content":[{"type":"tool_result"}]}]}"#, "tool_use_id"),
            (br#"{"model":"m","messages":[],"tools":[{"type":"web_search_20250305","name":"web_search"}]}"#, "only on Anthropic"),
            (br#"{"model":"m","messages":[],"tool_choice":{"type":"tool"}}"#, "needs `name`"),
        ] {
            let e = parse(body).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        }
    }

    #[test]
    fn completion_becomes_a_message() {
        let body = br#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o",
          "choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":"ok",
          "tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]}}],
          "usage":{"prompt_tokens":10,"completion_tokens":3,"total_tokens":13,"prompt_tokens_details":{"cached_tokens":4}}}"#;
        let m: Value = serde_json::from_slice(&response(body).unwrap()).unwrap();
        assert_eq!(m["id"], "msg_1");
        assert_eq!(m["type"], "message");
        assert_eq!(m["content"][0], json!({"type": "text", "text": "ok"}));
        assert_eq!(
            m["content"][1],
            json!({"type": "tool_use", "id": "c1", "name": "f", "input": {"a": 1}})
        );
        assert_eq!(m["stop_reason"], "tool_use");
        assert_eq!(m["usage"]["input_tokens"], 6);
        assert_eq!(m["usage"]["cache_read_input_tokens"], 4);
        assert_eq!(m["usage"]["output_tokens"], 3);
    }

    fn events(out: &[Bytes]) -> Vec<(String, Value)> {
        out.iter()
            .map(|b| {
                let s = std::str::from_utf8(b).unwrap();
                let (head, data) = s.split_once("\ndata: ").unwrap();
                (
                    head.trim_start_matches("event: ").to_owned(),
                    serde_json::from_str(data.trim()).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn chunks_become_the_event_sequence() {
        let mut s = StreamBack::new();
        let mut out = Vec::new();
        for chunk in [
            r#"{"id":"chatcmpl-9","model":"gpt","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]}"#,
            r#"{"id":"chatcmpl-9","model":"gpt","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":null}]}"#,
            r#"{"id":"chatcmpl-9","model":"gpt","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"f","arguments":""}}]},"finish_reason":null}]}"#,
            r#"{"id":"chatcmpl-9","model":"gpt","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":"}}]},"finish_reason":null}]}"#,
            r#"{"id":"chatcmpl-9","model":"gpt","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]},"finish_reason":"tool_calls"}]}"#,
            r#"{"id":"chatcmpl-9","model":"gpt","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":5,"total_tokens":12}}"#,
            "[DONE]",
        ] {
            // Split mid-event to check framing.
            let frame = format!("data: {chunk}\n\n");
            let (a, b) = frame.split_at(frame.len() / 2);
            out.extend(s.push(a.as_bytes()));
            out.extend(s.push(b.as_bytes()));
        }
        out.extend(s.finish());
        let ev = events(&out);
        let kinds: Vec<&str> = ev.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "message_start",
                "ping",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(ev[0].1["message"]["id"], "msg_9");
        assert_eq!(
            ev[3].1["delta"],
            json!({"type": "text_delta", "text": "Hel"})
        );
        assert_eq!(
            ev[6].1["content_block"],
            json!({"type": "tool_use", "id": "c1", "name": "f", "input": {}})
        );
        assert_eq!(ev[6].1["index"], 1);
        assert_eq!(
            ev[8].1["delta"],
            json!({"type": "input_json_delta", "partial_json": "1}"})
        );
        assert_eq!(ev[10].1["delta"]["stop_reason"], "tool_use");
        assert_eq!(ev[10].1["usage"]["output_tokens"], 5);
        assert_eq!(ev[10].1["usage"]["input_tokens"], 7);
    }

    #[test]
    fn an_error_chunk_ends_the_stream_with_an_error_event() {
        let mut s = StreamBack::new();
        let out = s.push(
            b"data: {\"error\":{\"message\":\"boom\",\"type\":\"api_error\",\"code\":\"502\"}}\n\n",
        );
        let ev = events(&out);
        assert_eq!(ev[0].0, "error");
        assert_eq!(ev[0].1["error"]["message"], "boom");
        assert!(s.finish().is_empty());
    }
}
