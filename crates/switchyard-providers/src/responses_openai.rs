//! OpenAI's Responses API (`POST /v1/responses`) in, the gateway's chat format out.
//!
//! An `openai/…` deployment receives the body as sent (built-in tools, reasoning items and
//! every field kept) at its `/responses`, and its answer and events come back as they are
//! ([`Native`]). Any other deployment is reached through chat completions: `instructions` and
//! the input items (messages with text and image parts, `function_call` and
//! `function_call_output` items) become chat messages, function tools become chat tools,
//! `text.format` becomes `response_format`, `max_output_tokens` `max_tokens` and
//! `reasoning.effort` `reasoning_effort`; the chat answer becomes a `response` object, and a
//! chunk stream becomes the Responses event sequence (`response.created`, `in_progress`,
//! `output_item.added`, `content_part.added`, `output_text.delta`, …, `function_call_arguments
//! .delta`, …, `response.completed`). Conversation state (`previous_response_id`) is the
//! server's: it hands this module the earlier turns as input items.

use bytes::Bytes;
use serde_json::{json, Map, Value};
use switchyard_types::{
    ChatCompletionRequest, ChatMessage, ContentPart, FunctionCall, FunctionDefinition,
    FunctionName, ImageUrl, JsonSchemaFormat, MessageContent, NamedToolChoice, ResponseFormat,
    Role, StreamOptions, Tool, ToolCall, ToolChoice, Usage,
};

use crate::sse::Framer;
use crate::{
    ChatOutput, ChatProvider, ProviderError, StreamOutput, StreamTranslator, Target,
    TranslateError, UpstreamRequest,
};

fn invalid(msg: impl Into<String>) -> TranslateError {
    TranslateError::Invalid(msg.into())
}

/// Top-level request fields translated for chat; others ride along for the gateway.
const KNOWN: &[&str] = &[
    "model",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "stream",
    "previous_response_id",
    "store",
    "max_output_tokens",
    "temperature",
    "top_p",
    "parallel_tool_calls",
    "text",
    "reasoning",
    "user",
    "truncation",
    "include",
    "service_tier",
    "stream_options",
    "background",
    "prompt_cache_key",
    "safety_identifier",
];

/// A request's input as a list of items (a string input is one user message).
pub fn input_items(body: &Map<String, Value>) -> Result<Vec<Value>, TranslateError> {
    match body.get("input") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![
            json!({"type": "message", "role": "user", "content": s}),
        ]),
        Some(Value::Array(items)) => Ok(items.clone()),
        Some(_) => Err(invalid("`input` must be a string or a list of items")),
    }
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn text_part(text: &str) -> ContentPart {
    ContentPart {
        kind: "text".into(),
        text: Some(text.to_owned()),
        image_url: None,
        extra: Map::new(),
    }
}

fn message(role: Role, content: MessageContent) -> ChatMessage {
    ChatMessage {
        role,
        content: Some(content),
        name: None,
        tool_calls: None,
        tool_call_id: None,
        extra: Map::new(),
    }
}

/// A message item's content as chat content.
fn content(item: &Value) -> Result<MessageContent, TranslateError> {
    match item.get("content") {
        Some(Value::String(s)) => Ok(MessageContent::Text(s.clone())),
        Some(Value::Array(parts)) => {
            let mut out = Vec::with_capacity(parts.len());
            for p in parts {
                match str_of(p, "type") {
                    Some("input_text" | "output_text" | "text" | "summary_text") => {
                        out.push(text_part(str_of(p, "text").unwrap_or("")));
                    }
                    Some("refusal") => out.push(text_part(str_of(p, "refusal").unwrap_or(""))),
                    Some("input_image") => {
                        let url = str_of(p, "image_url").ok_or_else(|| {
                            invalid("an input_image needs `image_url` (a URL or data URL) for this deployment")
                        })?;
                        out.push(ContentPart {
                            kind: "image_url".into(),
                            text: None,
                            image_url: Some(ImageUrl {
                                url: url.to_owned(),
                                detail: str_of(p, "detail").map(str::to_owned),
                            }),
                            extra: Map::new(),
                        });
                    }
                    Some("input_file") => {
                        let mut file = Map::new();
                        for k in ["file_data", "file_id", "filename"] {
                            if let Some(v) = p.get(k) {
                                file.insert(k.into(), v.clone());
                            }
                        }
                        let mut extra = Map::new();
                        extra.insert("file".into(), Value::Object(file));
                        out.push(ContentPart {
                            kind: "file".into(),
                            text: None,
                            image_url: None,
                            extra,
                        });
                    }
                    other => {
                        return Err(invalid(format!(
                            "content part type `{}` cannot be sent to this deployment",
                            other.unwrap_or("(none)")
                        )))
                    }
                }
            }
            // All-text content stays a plain string: every provider takes that.
            if out.iter().all(|p| p.kind == "text") {
                let text: Vec<&str> = out.iter().filter_map(|p| p.text.as_deref()).collect();
                return Ok(MessageContent::Text(text.join("\n")));
            }
            Ok(MessageContent::Parts(out))
        }
        _ => Err(invalid("a message item needs `content`")),
    }
}

/// Input items as chat messages. Consecutive function calls join one assistant message.
pub fn items_to_messages(items: &[Value]) -> Result<Vec<ChatMessage>, TranslateError> {
    let mut out: Vec<ChatMessage> = Vec::with_capacity(items.len());
    for item in items {
        let kind = str_of(item, "type").unwrap_or("message");
        match kind {
            "message" => {
                let role = match str_of(item, "role") {
                    Some("user") => Role::User,
                    Some("assistant") => Role::Assistant,
                    Some("system") => Role::System,
                    Some("developer") => Role::Developer,
                    other => {
                        return Err(invalid(format!(
                            "message role `{}` is not user, assistant, system or developer",
                            other.unwrap_or("(none)")
                        )))
                    }
                };
                out.push(message(role, content(item)?));
            }
            "function_call" => {
                let call = ToolCall {
                    id: str_of(item, "call_id")
                        .ok_or_else(|| invalid("a function_call item needs `call_id`"))?
                        .to_owned(),
                    kind: "function".into(),
                    function: FunctionCall {
                        name: str_of(item, "name").unwrap_or_default().to_owned(),
                        arguments: str_of(item, "arguments").unwrap_or("{}").to_owned(),
                    },
                };
                match out.last_mut() {
                    Some(m) if m.role == Role::Assistant && m.tool_calls.is_some() => {
                        m.tool_calls.get_or_insert_with(Vec::new).push(call);
                    }
                    Some(m)
                        if m.role == Role::Assistant
                            && m.tool_calls.is_none()
                            && matches!(&m.content, Some(MessageContent::Text(_))) =>
                    {
                        m.tool_calls = Some(vec![call]);
                    }
                    _ => out.push(ChatMessage {
                        role: Role::Assistant,
                        content: None,
                        name: None,
                        tool_calls: Some(vec![call]),
                        tool_call_id: None,
                        extra: Map::new(),
                    }),
                }
            }
            "function_call_output" => {
                let id = str_of(item, "call_id")
                    .ok_or_else(|| invalid("a function_call_output item needs `call_id`"))?;
                let output = match item.get("output") {
                    Some(Value::String(s)) => s.clone(),
                    Some(v) => v.to_string(),
                    None => String::new(),
                };
                out.push(ChatMessage {
                    role: Role::Tool,
                    content: Some(MessageContent::Text(output)),
                    name: None,
                    tool_calls: None,
                    tool_call_id: Some(id.to_owned()),
                    extra: Map::new(),
                });
            }
            // Reasoning items are the provider's own; another provider cannot read them.
            "reasoning" => {}
            other => {
                return Err(invalid(format!(
                    "input item type `{other}` cannot be sent to this deployment"
                )))
            }
        }
    }
    Ok(out)
}

/// A parsed Responses request.
#[derive(Debug, Clone)]
pub struct ResponsesRequest {
    /// The request as a chat request (with the earlier turns), when it can be one.
    pub chat: ChatCompletionRequest,
    /// The body as received.
    pub body: Map<String, Value>,
    /// Why the request cannot go to a non-OpenAI deployment, when it cannot.
    pub chat_refusal: Option<String>,
}

/// Parses a Responses body; `history` holds the input and output items of the turns before
/// (`previous_response_id`), already looked up.
pub fn parse(bytes: &[u8], history: &[Value]) -> Result<ResponsesRequest, TranslateError> {
    let body: Map<String, Value> =
        serde_json::from_slice(bytes).map_err(|e| invalid(format!("Invalid request body: {e}")))?;
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("Invalid request body: missing field `model` (a string)"))?
        .to_owned();
    let mut items: Vec<Value> = history.to_vec();
    items.extend(input_items(&body)?);
    if items.is_empty() {
        return Err(invalid("`input` must not be empty"));
    }
    let mut refusal = None;
    let mut messages = Vec::new();
    if let Some(i) = body.get("instructions").and_then(Value::as_str) {
        messages.push(message(Role::System, MessageContent::Text(i.to_owned())));
    }
    match items_to_messages(&items) {
        Ok(m) => messages.extend(m),
        Err(e) => {
            // Only an OpenAI deployment can take these items; admission still needs a prompt.
            refusal = Some(e.to_string());
            messages.push(message(
                Role::User,
                MessageContent::Text(
                    items
                        .iter()
                        .filter_map(|i| str_of(i, "content").or_else(|| str_of(i, "text")))
                        .collect::<Vec<_>>()
                        .join("\n"),
                ),
            ));
        }
    }
    let mut tools = Vec::new();
    for t in body
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match str_of(t, "type") {
            Some("function") => tools.push(Tool {
                kind: "function".into(),
                function: Some(FunctionDefinition {
                    name: str_of(t, "name")
                        .ok_or_else(|| invalid("a function tool needs `name`"))?
                        .to_owned(),
                    description: str_of(t, "description").map(str::to_owned),
                    parameters: t.get("parameters").cloned(),
                    strict: t.get("strict").and_then(Value::as_bool),
                }),
                extra: Map::new(),
            }),
            other => {
                if refusal.is_none() {
                    refusal = Some(format!(
                        "built-in tool `{}` runs only on OpenAI",
                        other.unwrap_or("(none)")
                    ));
                }
            }
        }
    }
    let tool_choice = match body.get("tool_choice") {
        None | Some(Value::Null) => None,
        Some(Value::String(m)) => Some(ToolChoice::Mode(m.clone())),
        Some(v) if str_of(v, "type") == Some("function") => {
            Some(ToolChoice::Named(NamedToolChoice {
                kind: "function".into(),
                function: FunctionName {
                    name: str_of(v, "name")
                        .ok_or_else(|| invalid("tool_choice of type function needs `name`"))?
                        .to_owned(),
                },
            }))
        }
        Some(_) => {
            refusal.get_or_insert_with(|| "this tool_choice runs only on OpenAI".to_owned());
            None
        }
    };
    let response_format = match body.get("text").and_then(|t| t.get("format")) {
        None | Some(Value::Null) => None,
        Some(f) => match str_of(f, "type") {
            Some("text") => None,
            Some("json_object") => Some(ResponseFormat::JsonObject),
            Some("json_schema") => Some(ResponseFormat::JsonSchema {
                json_schema: JsonSchemaFormat {
                    name: str_of(f, "name").unwrap_or("response").to_owned(),
                    description: str_of(f, "description").map(str::to_owned),
                    schema: f.get("schema").cloned(),
                    strict: f.get("strict").and_then(Value::as_bool),
                },
            }),
            other => {
                return Err(invalid(format!(
                    "text.format type `{}` is not text, json_object or json_schema",
                    other.unwrap_or("(none)")
                )))
            }
        },
    };
    let stream = body.get("stream").and_then(Value::as_bool) == Some(true);
    let mut extra = Map::new();
    for (k, v) in &body {
        if !KNOWN.contains(&k.as_str()) {
            extra.insert(k.clone(), v.clone());
        }
    }
    let chat = ChatCompletionRequest {
        model,
        messages,
        stream: stream.then_some(true),
        stream_options: stream.then(|| StreamOptions {
            include_usage: Some(true),
            extra: Map::new(),
        }),
        temperature: body.get("temperature").and_then(Value::as_f64),
        top_p: body.get("top_p").and_then(Value::as_f64),
        max_tokens: body.get("max_output_tokens").and_then(Value::as_u64),
        user: body.get("user").and_then(Value::as_str).map(str::to_owned),
        response_format,
        tools: (!tools.is_empty()).then_some(tools),
        tool_choice,
        parallel_tool_calls: body.get("parallel_tool_calls").and_then(Value::as_bool),
        reasoning_effort: body
            .get("reasoning")
            .and_then(|r| r.get("effort"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        extra,
        ..ChatCompletionRequest::default()
    };
    Ok(ResponsesRequest {
        chat,
        body,
        chat_refusal: refusal,
    })
}

/// Responses usage from chat usage.
pub fn usage(u: &Usage) -> Value {
    json!({
        "input_tokens": u.prompt_tokens,
        "input_tokens_details": {"cached_tokens": u.prompt_tokens_details.as_ref().and_then(|d| d.cached_tokens).unwrap_or(0)},
        "output_tokens": u.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": u.completion_tokens_details.as_ref().and_then(|d| d.reasoning_tokens).unwrap_or(0)},
        "total_tokens": u.prompt_tokens + u.completion_tokens,
    })
}

/// Chat usage from Responses usage (for pricing a passed-through answer).
pub fn chat_usage(v: &Value) -> Option<Usage> {
    let input = v.get("input_tokens")?.as_u64()?;
    let output = v.get("output_tokens").and_then(Value::as_u64).unwrap_or(0);
    let cached = v
        .pointer("/input_tokens_details/cached_tokens")
        .and_then(Value::as_u64);
    let reasoning = v
        .pointer("/output_tokens_details/reasoning_tokens")
        .and_then(Value::as_u64);
    Some(Usage {
        prompt_tokens: input,
        completion_tokens: output,
        total_tokens: input + output,
        prompt_tokens_details: cached.map(|c| switchyard_types::PromptTokensDetails {
            cached_tokens: Some(c),
            ..Default::default()
        }),
        completion_tokens_details: reasoning.map(|r| switchyard_types::CompletionTokensDetails {
            reasoning_tokens: Some(r),
            ..Default::default()
        }),
        extra: Map::new(),
    })
}

/// The echo of the request's settings every response object carries.
fn settings(body: &Map<String, Value>) -> Map<String, Value> {
    let mut m = Map::new();
    let get = |k: &str, d: Value| body.get(k).cloned().unwrap_or(d);
    m.insert("instructions".into(), get("instructions", Value::Null));
    m.insert(
        "max_output_tokens".into(),
        get("max_output_tokens", Value::Null),
    );
    m.insert("metadata".into(), get("metadata", json!({})));
    m.insert(
        "parallel_tool_calls".into(),
        get("parallel_tool_calls", json!(true)),
    );
    m.insert(
        "previous_response_id".into(),
        get("previous_response_id", Value::Null),
    );
    m.insert(
        "reasoning".into(),
        get("reasoning", json!({"effort": null, "summary": null})),
    );
    m.insert("store".into(), get("store", json!(true)));
    m.insert("temperature".into(), get("temperature", json!(1.0)));
    m.insert(
        "text".into(),
        get("text", json!({"format": {"type": "text"}})),
    );
    m.insert("tool_choice".into(), get("tool_choice", json!("auto")));
    m.insert("tools".into(), get("tools", json!([])));
    m.insert("top_p".into(), get("top_p", json!(1.0)));
    m.insert("truncation".into(), get("truncation", json!("disabled")));
    m.insert("user".into(), get("user", Value::Null));
    m
}

/// A response object.
fn response_object(
    id: &str,
    created_at: u64,
    model: &str,
    status: &str,
    output: Vec<Value>,
    usage: Option<Value>,
    body: &Map<String, Value>,
) -> Value {
    let mut r = Map::new();
    r.insert("id".into(), json!(id));
    r.insert("object".into(), json!("response"));
    r.insert("created_at".into(), json!(created_at));
    r.insert("status".into(), json!(status));
    r.insert("error".into(), Value::Null);
    r.insert("incomplete_details".into(), Value::Null);
    r.insert("model".into(), json!(model));
    r.insert("output".into(), Value::Array(output));
    r.extend(settings(body));
    r.insert("usage".into(), usage.unwrap_or(Value::Null));
    Value::Object(r)
}

/// `resp_…` for a chat completion id.
pub fn response_id(chat_id: &str) -> String {
    format!(
        "resp_{}",
        chat_id.strip_prefix("chatcmpl-").unwrap_or(chat_id)
    )
}

/// A chat completion body as a `response` object, for the request `body`.
pub fn response(chat: &[u8], body: &Map<String, Value>) -> Result<Bytes, TranslateError> {
    let v: Value = serde_json::from_slice(chat).map_err(|e| {
        invalid(format!(
            "the provider's answer is not a chat completion: {e}"
        ))
    })?;
    let id = response_id(str_of(&v, "id").unwrap_or(""));
    let mut output = Vec::new();
    let mut status = "completed";
    let mut incomplete = Value::Null;
    if let Some(c) = v.get("choices").and_then(|c| c.get(0)) {
        let m = c.get("message").cloned().unwrap_or(Value::Null);
        if let Some(r) = str_of(&m, "reasoning_content").filter(|r| !r.is_empty()) {
            output.push(json!({"type": "reasoning", "id": format!("rs_{id}"), "summary": [{"type": "summary_text", "text": r}]}));
        }
        if let Some(t) = str_of(&m, "content").filter(|t| !t.is_empty()) {
            output.push(json!({"type": "message", "id": format!("msg_{id}"), "status": "completed", "role": "assistant",
                               "content": [{"type": "output_text", "text": t, "annotations": []}]}));
        }
        for (i, call) in m
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            output.push(
                json!({"type": "function_call", "id": format!("fc_{id}_{i}"), "status": "completed",
                               "call_id": call.get("id"), "name": call.pointer("/function/name"),
                               "arguments": call.pointer("/function/arguments")}),
            );
        }
        if str_of(c, "finish_reason") == Some("length") {
            status = "incomplete";
            incomplete = json!({"reason": "max_output_tokens"});
        }
    }
    let u = v
        .get("usage")
        .and_then(|u| serde_json::from_value::<Usage>(u.clone()).ok())
        .map(|u| usage(&u));
    let mut r = response_object(
        &id,
        v.get("created")
            .and_then(Value::as_u64)
            .unwrap_or_else(crate::now_secs),
        str_of(&v, "model").unwrap_or(""),
        status,
        output,
        u,
        body,
    );
    r["incomplete_details"] = incomplete;
    serde_json::to_vec(&r)
        .map(Bytes::from)
        .map_err(|e| invalid(e.to_string()))
}

/// One Responses SSE event.
fn event(kind: &str, mut data: Value, seq: &mut u64) -> Bytes {
    data["type"] = json!(kind);
    data["sequence_number"] = json!(*seq);
    *seq += 1;
    crate::anthropic_openai::event(kind, &data)
}

#[derive(Debug)]
enum Open {
    Text {
        id: String,
        text: String,
    },
    Call {
        id: String,
        call_id: String,
        name: String,
        args: String,
        index: u64,
    },
}

/// Chat chunk events in, Responses events out. Keeps the output so far, so the final
/// `response.completed` carries the whole response (which the server stores).
#[derive(Debug, Default)]
pub struct StreamBack {
    framer: Framer,
    body: Map<String, Value>,
    id: String,
    model: String,
    created: u64,
    seq: u64,
    started: bool,
    ended: bool,
    open: Option<Open>,
    /// OpenAI tool-call index → (output index) for calls already opened.
    output: Vec<Value>,
    usage: Option<Usage>,
    finish: Option<String>,
    /// The finished response object, once `response.completed` went out.
    pub completed: Option<Value>,
}

impl StreamBack {
    /// A translator for one stream of a request with `body`.
    pub fn new(body: Map<String, Value>) -> Self {
        StreamBack {
            body,
            ..Self::default()
        }
    }

    /// Feeds bytes of the chat stream; returns the Responses events they complete.
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

    fn snapshot(&self, status: &str) -> Value {
        response_object(
            &self.id,
            self.created,
            &self.model,
            status,
            if status == "in_progress" {
                Vec::new()
            } else {
                self.output.clone()
            },
            self.usage.as_ref().map(usage),
            &self.body,
        )
    }

    fn start(&mut self, v: &Value, out: &mut Vec<Bytes>) {
        if self.started {
            return;
        }
        self.started = true;
        self.id = response_id(str_of(v, "id").unwrap_or(""));
        self.model = str_of(v, "model").unwrap_or("").to_owned();
        self.created = v
            .get("created")
            .and_then(Value::as_u64)
            .unwrap_or_else(crate::now_secs);
        let r = self.snapshot("in_progress");
        out.push(event(
            "response.created",
            json!({"response": r}),
            &mut self.seq,
        ));
        out.push(event(
            "response.in_progress",
            json!({"response": r}),
            &mut self.seq,
        ));
    }

    fn close_open(&mut self, out: &mut Vec<Bytes>) {
        let Some(open) = self.open.take() else { return };
        let output_index = self.output.len();
        match open {
            Open::Text { id, text } => {
                let part = json!({"type": "output_text", "text": text, "annotations": []});
                out.push(event("response.output_text.done", json!({"item_id": id, "output_index": output_index, "content_index": 0, "text": text}), &mut self.seq));
                out.push(event("response.content_part.done", json!({"item_id": id, "output_index": output_index, "content_index": 0, "part": part}), &mut self.seq));
                let item = json!({"type": "message", "id": id, "status": "completed", "role": "assistant", "content": [part]});
                out.push(event(
                    "response.output_item.done",
                    json!({"output_index": output_index, "item": item}),
                    &mut self.seq,
                ));
                self.output.push(item);
            }
            Open::Call {
                id,
                call_id,
                name,
                args,
                ..
            } => {
                out.push(event(
                    "response.function_call_arguments.done",
                    json!({"item_id": id, "output_index": output_index, "arguments": args}),
                    &mut self.seq,
                ));
                let item = json!({"type": "function_call", "id": id, "status": "completed", "call_id": call_id, "name": name, "arguments": args});
                out.push(event(
                    "response.output_item.done",
                    json!({"output_index": output_index, "item": item}),
                    &mut self.seq,
                ));
                self.output.push(item);
            }
        }
    }

    fn data(&mut self, data: &[u8], out: &mut Vec<Bytes>) {
        if self.ended {
            return;
        }
        if data == b"[DONE]" {
            self.finish_stream(out);
            return;
        }
        let Ok(v) = serde_json::from_slice::<Value>(data) else {
            return;
        };
        if let Some(e) = v.get("error") {
            out.push(self.fail(
                str_of(e, "message").unwrap_or("upstream error"),
                e.get("code").map(|c| c.to_string()).as_deref(),
            ));
            return;
        }
        self.start(&v, out);
        if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
            self.usage = serde_json::from_value(u.clone()).ok();
        }
        let Some(choice) = v.get("choices").and_then(|c| c.get(0)) else {
            return;
        };
        if let Some(f) = str_of(choice, "finish_reason") {
            self.finish = Some(f.to_owned());
        }
        let Some(delta) = choice.get("delta") else {
            return;
        };
        if let Some(t) = str_of(delta, "content").filter(|t| !t.is_empty()) {
            if !matches!(self.open, Some(Open::Text { .. })) {
                self.close_open(out);
                let id = format!("msg_{}_{}", self.id, self.output.len());
                let output_index = self.output.len();
                out.push(event("response.output_item.added", json!({"output_index": output_index,
                    "item": {"type": "message", "id": id, "status": "in_progress", "role": "assistant", "content": []}}), &mut self.seq));
                out.push(event(
                    "response.content_part.added",
                    json!({"item_id": id, "output_index": output_index, "content_index": 0,
                    "part": {"type": "output_text", "text": "", "annotations": []}}),
                    &mut self.seq,
                ));
                self.open = Some(Open::Text {
                    id,
                    text: String::new(),
                });
            }
            let output_index = self.output.len();
            if let Some(Open::Text { id, text }) = &mut self.open {
                text.push_str(t);
                let id = id.clone();
                out.push(event("response.output_text.delta", json!({"item_id": id, "output_index": output_index, "content_index": 0, "delta": t}), &mut self.seq));
            }
        }
        for call in delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let index = call.get("index").and_then(Value::as_u64).unwrap_or(0);
            let same = matches!(&self.open, Some(Open::Call { index: i, .. }) if *i == index);
            if !same {
                self.close_open(out);
                let id = format!("fc_{}_{}", self.id, self.output.len());
                let call_id = str_of(call, "id").unwrap_or_default().to_owned();
                let name = call
                    .pointer("/function/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                out.push(event("response.output_item.added", json!({"output_index": self.output.len(),
                    "item": {"type": "function_call", "id": id, "status": "in_progress", "call_id": call_id, "name": name, "arguments": ""}}), &mut self.seq));
                self.open = Some(Open::Call {
                    id,
                    call_id,
                    name,
                    args: String::new(),
                    index,
                });
            }
            let output_index = self.output.len();
            if let (Some(a), Some(Open::Call { id, args, .. })) = (
                call.pointer("/function/arguments")
                    .and_then(Value::as_str)
                    .filter(|a| !a.is_empty()),
                &mut self.open,
            ) {
                args.push_str(a);
                let id = id.clone();
                out.push(event(
                    "response.function_call_arguments.delta",
                    json!({"item_id": id, "output_index": output_index, "delta": a}),
                    &mut self.seq,
                ));
            }
        }
    }

    fn finish_stream(&mut self, out: &mut Vec<Bytes>) {
        if self.ended {
            return;
        }
        self.start(&json!({}), out);
        self.close_open(out);
        self.ended = true;
        let incomplete = self.finish.as_deref() == Some("length");
        let mut r = self.snapshot(if incomplete {
            "incomplete"
        } else {
            "completed"
        });
        if incomplete {
            r["incomplete_details"] = json!({"reason": "max_output_tokens"});
        }
        let kind = if incomplete {
            "response.incomplete"
        } else {
            "response.completed"
        };
        out.push(event(kind, json!({"response": r}), &mut self.seq));
        self.completed = Some(r);
    }

    /// The stream ended without `[DONE]`: close it as the chat stream would have.
    pub fn finish(&mut self) -> Vec<Bytes> {
        let mut out = Vec::new();
        if let Some(data) = self.framer.finish().and_then(|e| e.data) {
            self.data(&data, &mut out);
        }
        out
    }

    /// The stream failed: the `error` event, last.
    pub fn fail(&mut self, message: &str, code: Option<&str>) -> Bytes {
        self.ended = true;
        event(
            "error",
            json!({"code": code, "message": message, "param": null}),
            &mut self.seq,
        )
    }
}

/// `{api_base}/responses`.
pub fn responses_url(api_base: &str) -> String {
    let base = api_base.trim_end_matches('/');
    if base.ends_with("/responses") {
        base.to_owned()
    } else {
        format!("{base}/responses")
    }
}

/// The upstream call for a Responses body to an OpenAI deployment (gateway keys removed by
/// the caller), with the deployment's model, defaults and `extra_body`.
pub fn upstream_request(
    target: &Target,
    mut body: Map<String, Value>,
) -> Result<UpstreamRequest, TranslateError> {
    body.insert("model".into(), json!(target.model));
    for (k, v) in &target.extra_body {
        body.insert(k.clone(), v.clone());
    }
    Ok(UpstreamRequest {
        method: http::Method::POST,
        url: responses_url(&target.api_base),
        headers: crate::openai_openai::headers(target)?,
        body: Bytes::from(
            serde_json::to_vec(&Value::Object(body)).map_err(|e| invalid(e.to_string()))?,
        ),
    })
}

/// OpenAI's Responses answers, kept in their format; usage read for pricing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Native;

impl ChatProvider for Native {
    fn chat_request(
        &self,
        _target: &Target,
        _request: &switchyard_types::Verbatim<ChatCompletionRequest>,
    ) -> Result<UpstreamRequest, TranslateError> {
        Err(TranslateError::Config(
            "the Responses pass-through builds its request with upstream_request".into(),
        ))
    }

    fn chat_response(&self, _target: &Target, body: Bytes) -> Result<ChatOutput, ProviderError> {
        let v: Value = serde_json::from_slice(&body).map_err(ProviderError::malformed)?;
        let usage = v.get("usage").and_then(chat_usage);
        Ok(ChatOutput { body, usage })
    }

    fn chat_stream(&self, _target: &Target, _strip_usage: bool) -> Box<dyn StreamTranslator> {
        Box::new(NativeStream::default())
    }

    fn error_response(&self, status: u16, body: &[u8]) -> ProviderError {
        crate::error::openai_style_error(status, body)
    }
}

/// Forwards Responses events as they are; the terminal event carries usage and ends it.
#[derive(Default)]
struct NativeStream {
    framer: Framer,
}

impl NativeStream {
    fn on_event(ev: crate::sse::Event, out: &mut StreamOutput) {
        let kind = ev.event.as_deref().unwrap_or_default();
        match kind {
            b"response.completed" | b"response.incomplete" | b"response.failed" => {
                out.done = true;
                let v: Value = ev
                    .data
                    .as_deref()
                    .and_then(|d| serde_json::from_slice(d).ok())
                    .unwrap_or(Value::Null);
                if let Some(u) = v.pointer("/response/usage").and_then(chat_usage) {
                    out.usage = Some(u);
                }
            }
            b"error" => {
                let v: Value = ev
                    .data
                    .as_deref()
                    .and_then(|d| serde_json::from_slice(d).ok())
                    .unwrap_or(Value::Null);
                out.error = Some(ProviderError {
                    status: 500,
                    message: str_of(&v, "message").unwrap_or("stream error").to_owned(),
                    kind: None,
                    code: str_of(&v, "code").map(str::to_owned),
                    param: None,
                });
            }
            _ => {}
        }
        out.events.push(ev.raw);
    }
}

impl StreamTranslator for NativeStream {
    fn push(&mut self, bytes: &[u8]) -> StreamOutput {
        self.framer.push(bytes);
        let mut out = StreamOutput::default();
        while let Some(ev) = self.framer.next_event() {
            Self::on_event(ev, &mut out);
        }
        out
    }

    fn finish(&mut self) -> StreamOutput {
        let mut out = StreamOutput::default();
        if let Some(ev) = self.framer.finish() {
            Self::on_event(ev, &mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn items_become_chat_messages() {
        let history = vec![
            json!({"type": "message", "role": "user", "content": "weather?"}),
            json!({"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}),
        ];
        let r = parse(
            br#"{"model":"m","instructions":"be brief","input":[{"type":"function_call_output","call_id":"c1","output":"sunny"},{"role":"user","content":[{"type":"input_text","text":"and"},{"type":"input_image","image_url":"data:image/png;base64,AA"}]}],
            "tools":[{"type":"function","name":"get_weather","parameters":{"type":"object"}}],"tool_choice":{"type":"function","name":"get_weather"},
            "max_output_tokens":50,"text":{"format":{"type":"json_schema","name":"w","schema":{"type":"object"}}},"reasoning":{"effort":"low"},"metadata":{"a":"b"}}"#,
            &history,
        )
        .unwrap();
        let c = serde_json::to_value(&r.chat).unwrap();
        assert_eq!(
            c["messages"][0],
            json!({"role": "system", "content": "be brief"})
        );
        assert_eq!(
            c["messages"][1],
            json!({"role": "user", "content": "weather?"})
        );
        assert_eq!(c["messages"][2]["tool_calls"][0]["id"], "c1");
        assert_eq!(
            c["messages"][3],
            json!({"role": "tool", "content": "sunny", "tool_call_id": "c1"})
        );
        assert_eq!(
            c["messages"][4]["content"][1]["image_url"]["url"],
            "data:image/png;base64,AA"
        );
        assert_eq!(c["tools"][0]["function"]["name"], "get_weather");
        assert_eq!(c["tool_choice"]["function"]["name"], "get_weather");
        assert_eq!(c["max_tokens"], 50);
        assert_eq!(c["response_format"]["type"], "json_schema");
        assert_eq!(c["reasoning_effort"], "low");
        assert_eq!(c["metadata"], json!({"a": "b"}));
        assert!(r.chat_refusal.is_none());
        let r = parse(
            br#"{"model":"m","input":"x","tools":[{"type":"web_search"}]}"#,
            &[],
        )
        .unwrap();
        assert!(r.chat_refusal.unwrap().contains("web_search"));
        assert!(parse(br#"{"model":"m"}"#, &[]).is_err());
    }

    #[test]
    fn chat_answers_become_responses() {
        let body: Map<String, Value> =
            serde_json::from_str(r#"{"model":"m","input":"hi"}"#).unwrap();
        let chat = br#"{"id":"chatcmpl-7","created":3,"model":"gpt","choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":"ok","tool_calls":[{"id":"c9","type":"function","function":{"name":"f","arguments":"{}"}}]}}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}"#;
        let r: Value = serde_json::from_slice(&response(chat, &body).unwrap()).unwrap();
        assert_eq!(r["id"], "resp_7");
        assert_eq!(r["object"], "response");
        assert_eq!(r["status"], "completed");
        assert_eq!(
            r["output"][0]["content"][0],
            json!({"type": "output_text", "text": "ok", "annotations": []})
        );
        assert_eq!(r["output"][1]["call_id"], "c9");
        assert_eq!(r["usage"]["input_tokens"], 5);
        assert_eq!(r["usage"]["total_tokens"], 7);
        assert_eq!(r["tools"], json!([]));
    }

    #[test]
    fn chunks_become_the_event_sequence() {
        let mut s = StreamBack::new(Map::new());
        let mut out = Vec::new();
        for d in [
            r#"{"id":"chatcmpl-1","created":1,"model":"g","choices":[{"index":0,"delta":{"role":"assistant","content":"He"}}]}"#,
            r#"{"id":"chatcmpl-1","created":1,"model":"g","choices":[{"index":0,"delta":{"content":"y"}}]}"#,
            r#"{"id":"chatcmpl-1","created":1,"model":"g","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","function":{"name":"f","arguments":"{\"a\""}}]}}]}"#,
            r#"{"id":"chatcmpl-1","created":1,"model":"g","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]},"finish_reason":"tool_calls"}]}"#,
            r#"{"id":"chatcmpl-1","created":1,"model":"g","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}"#,
            "[DONE]",
        ] {
            out.extend(s.push(format!("data: {d}\n\n").as_bytes()));
        }
        let kinds: Vec<String> = out
            .iter()
            .map(|b| {
                let t = std::str::from_utf8(b).unwrap();
                t.lines()
                    .next()
                    .unwrap()
                    .trim_start_matches("event: ")
                    .to_owned()
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.completed"
            ]
        );
        let done = s.completed.unwrap();
        assert_eq!(done["output"][0]["content"][0]["text"], "Hey");
        assert_eq!(done["output"][1]["arguments"], "{\"a\":1}");
        assert_eq!(done["usage"]["output_tokens"], 4);
        let last = std::str::from_utf8(out.last().unwrap()).unwrap();
        assert!(last.contains("\"sequence_number\":14"), "{last}");
    }
}
