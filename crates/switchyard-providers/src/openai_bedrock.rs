//! OpenAI format in, Amazon Bedrock out (`bedrock/<modelId>`, `bedrock/converse/<modelId>`).
//!
//! Chat goes through the Converse API (`POST {endpoint}/model/{modelId}/converse`, and
//! `/converse-stream` for streams), which takes one message shape for every model on Bedrock.
//! Model ids are percent-encoded into the path (ids and ARNs hold `:` and `/`).
//!
//! Request: system and developer messages become `system: [{text}]`; user and assistant
//! messages alternate (consecutive same-role messages are merged); text, images (base64 data
//! URLs only: Bedrock takes bytes, not URLs), assistant `tool_calls` -> `toolUse`, `role: tool`
//! messages -> user `toolResult` blocks; `cache_control` on a text part or tool -> a
//! `cachePoint` after it; tools -> `toolConfig.tools[].toolSpec`, `tool_choice` auto /
//! required (`any`) / named (`tool`) / none (no `toolConfig`); `max_tokens`, `temperature`,
//! `top_p`, `stop` -> `inferenceConfig`; `response_format` json -> a forced `json_tool_call`
//! tool whose input comes back as the content (as for Anthropic); `reasoning_effort` and
//! `top_k` -> `additionalModelRequestFields` for Anthropic models. Converse's own top-level
//! fields (`guardrailConfig`, `additionalModelRequestFields`, ...) pass as they are; other
//! unknown fields go into `additionalModelRequestFields`, as LiteLLM does. OpenAI parameters
//! Converse has no place for are refused unless `drop_params`; `user` (the gateway's end-user
//! id) and `stream_options` (ConverseStream always reports usage) are not sent.
//!
//! Response: text, `toolUse` (-> `tool_calls`, input as a JSON string), `reasoningContent`
//! (-> `reasoning_content`), `stopReason` (end_turn / stop_sequence -> stop, max_tokens ->
//! length, tool_use -> tool_calls, guardrail_intervened / content_filtered -> content_filter),
//! usage (cache reads in `prompt_tokens_details.cached_tokens`, cache writes as
//! `cache_creation_input_tokens`, both counted in `prompt_tokens`).
//!
//! Stream: ConverseStream answers in AWS's binary event-stream framing
//! ([`crate::eventstream`]); each verified message (`messageStart`, `contentBlockStart`,
//! `contentBlockDelta`, `messageStop`, `metadata`, or an exception) becomes OpenAI chunks.
//!
//! Errors: `{"message"}` with the type in `x-amzn-errortype` (ValidationException 400, with
//! "input is too long" messages as `context_length_exceeded`; signature and token problems
//! 401; AccessDeniedException 403; ThrottlingException 429; model and service failures 5xx).
//!
//! Embeddings (`POST /model/{modelId}/invoke`): Amazon Titan text (`{inputText, dimensions}`,
//! one text per call) and Cohere embed (`{texts, input_type}`).
//!
//! Authentication is the router's: SigV4 ([`crate::sigv4`]) or a Bedrock API key as a bearer
//! token.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};
use serde_json::{json, Map, Value};
use switchyard_types::{
    ChatCompletionRequest, ChatMessage, ContentPart, EmbeddingRequest, MessageContent,
    ResponseFormat, Role, ToolChoice, Usage,
};

use crate::eventstream::{Decoder, Message};
use crate::openai_anthropic::{AnthropicUsage, JSON_TOOL};
use crate::sse::data_event;
use crate::{
    now_secs, ChatOutput, ChatProvider, ProviderError, StreamOutput, StreamTranslator, Target,
    TranslateError, UpstreamRequest,
};

/// The region used when neither the deployment nor the environment names one (LiteLLM's).
pub const DEFAULT_REGION: &str = "us-west-2";

/// The Bedrock translation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bedrock;

/// Bedrock's runtime endpoint in `region`.
pub fn default_endpoint(region: &str) -> String {
    format!("https://bedrock-runtime.{region}.amazonaws.com")
}

/// The model id of a `bedrock/…` model: LiteLLM's route prefix `converse/` removed.
pub fn model_id(model: &str) -> &str {
    model.strip_prefix("converse/").unwrap_or(model)
}

/// The model id without a cross-region inference profile prefix (`us.`, `eu.`, ...), for
/// looking up its price.
pub fn base_model_id(model: &str) -> &str {
    const GEOS: &[&str] = &[
        "us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca.",
    ];
    GEOS.iter()
        .find_map(|g| model.strip_prefix(g))
        .unwrap_or(model)
}

/// The region of a model ARN (`arn:aws:bedrock:us-east-1:…`), if the id is one.
pub fn arn_region(model: &str) -> Option<&str> {
    let rest = model.strip_prefix("arn:")?;
    let mut parts = rest.split(':');
    let (_partition, service, region) = (parts.next()?, parts.next()?, parts.next()?);
    (service == "bedrock" && !region.is_empty()).then_some(region)
}

/// A path segment, percent-encoded: everything but RFC 3986's unreserved characters.
fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `{endpoint}/model/{modelId}/{action}`.
pub fn model_url(api_base: &str, model: &str, action: &str) -> String {
    format!(
        "{}/model/{}/{action}",
        api_base.trim_end_matches('/'),
        path_segment(model)
    )
}

fn invalid(msg: impl Into<String>) -> TranslateError {
    TranslateError::Invalid(msg.into())
}

/// A per-process unique response id (Converse answers carry none).
fn response_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("chatcmpl-bedrock-{:x}{n:04x}", nanos & 0xffff_ffff_ffff)
}

/// An image data URL as a Converse image block.
fn image_block(url: &str) -> Result<Value, TranslateError> {
    let Some((mime, data)) = crate::data_url(url)? else {
        return Err(invalid(
            "Bedrock takes images as bytes, not URLs: send the image as a base64 data URL \
             (data:image/png;base64,...)",
        ));
    };
    let format = match mime.to_ascii_lowercase().as_str() {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpeg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        other => {
            return Err(invalid(format!(
                "Bedrock takes png, jpeg, gif and webp images, not `{other}`"
            )))
        }
    };
    Ok(json!({"image": {"format": format, "source": {"bytes": data}}}))
}

/// One content part as Converse blocks (a `cachePoint` follows a part with `cache_control`).
fn part_blocks(part: &ContentPart, out: &mut Vec<Value>) -> Result<(), TranslateError> {
    match part.kind.as_str() {
        "text" => {
            // Bedrock refuses blank text blocks.
            if let Some(t) = part.text.as_deref().filter(|t| !t.trim().is_empty()) {
                out.push(json!({"text": t}));
            }
        }
        "image_url" => {
            let url = part
                .image_url
                .as_ref()
                .map(|u| u.url.as_str())
                .ok_or_else(|| invalid("an image_url part needs image_url.url"))?;
            out.push(image_block(url)?);
        }
        other => {
            return Err(invalid(format!(
                "content part type `{other}` is not supported for Bedrock"
            )))
        }
    }
    if part.extra.contains_key("cache_control") {
        out.push(json!({"cachePoint": {"type": "default"}}));
    }
    Ok(())
}

fn content_blocks(content: &Option<MessageContent>) -> Result<Vec<Value>, TranslateError> {
    let mut out = Vec::new();
    match content {
        None => {}
        Some(MessageContent::Text(t)) if t.trim().is_empty() => {}
        Some(MessageContent::Text(t)) => out.push(json!({"text": t})),
        Some(MessageContent::Parts(parts)) => {
            for p in parts {
                part_blocks(p, &mut out)?;
            }
        }
    }
    Ok(out)
}

/// The conversation in Converse's shape, and the system blocks.
fn convert_messages(messages: &[ChatMessage]) -> Result<(Vec<Value>, Vec<Value>), TranslateError> {
    let mut system: Vec<Value> = Vec::new();
    let mut out: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for m in messages {
        let (role, blocks) = match m.role {
            Role::System | Role::Developer => {
                let blocks = content_blocks(&m.content)?;
                if blocks.iter().any(|b| b.get("image").is_some()) {
                    return Err(invalid("Bedrock takes no images in system messages"));
                }
                system.extend(blocks);
                continue;
            }
            Role::User => ("user", content_blocks(&m.content)?),
            Role::Assistant => {
                let mut blocks = content_blocks(&m.content)?;
                for call in m.tool_calls.iter().flatten() {
                    let input = crate::tool_call_args(call)?;
                    blocks.push(json!({"toolUse": {
                        "toolUseId": call.id, "name": call.function.name, "input": input}}));
                }
                ("assistant", blocks)
            }
            Role::Tool | Role::Function => {
                let id = m
                    .tool_call_id
                    .clone()
                    .ok_or_else(|| invalid("a tool message needs tool_call_id"))?;
                let content: Vec<Value> = match &m.content {
                    Some(MessageContent::Parts(_)) => content_blocks(&m.content)?
                        .into_iter()
                        .filter(|b| b.get("cachePoint").is_none())
                        .collect(),
                    Some(MessageContent::Text(t)) => vec![json!({"text": t})],
                    None => vec![json!({"text": ""})],
                };
                let mut result = json!({"toolUseId": id, "content": content});
                if let Some(s) = m.extra.get("status").and_then(Value::as_str) {
                    if s == "success" || s == "error" {
                        result["status"] = json!(s);
                    }
                }
                ("user", vec![json!({"toolResult": result})])
            }
        };
        if blocks.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some((r, prev)) if *r == role => prev.extend(blocks),
            _ => out.push((role, blocks)),
        }
    }
    let messages = out
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect();
    Ok((system, messages))
}

/// The deployment's default parameters applied where the request sets none.
fn with_defaults(
    target: &Target,
    req: &ChatCompletionRequest,
) -> Result<Option<ChatCompletionRequest>, TranslateError> {
    if target.defaults.is_empty() {
        return Ok(None);
    }
    let mut v = serde_json::to_value(req).map_err(|e| invalid(e.to_string()))?;
    if let Some(o) = v.as_object_mut() {
        for (k, d) in &target.defaults {
            if o.get(k).is_none_or(Value::is_null) {
                o.insert(k.clone(), d.clone());
            }
        }
    }
    serde_json::from_value(v)
        .map(Some)
        .map_err(|e| TranslateError::Config(format!("a default parameter is not valid: {e}")))
}

/// Converse's own top-level request fields, passed through when a client sends them.
const CONVERSE_FIELDS: &[&str] = &[
    "guardrailConfig",
    "additionalModelRequestFields",
    "additionalModelResponseFieldPaths",
    "performanceConfig",
    "promptVariables",
    "requestMetadata",
];

/// OpenAI request fields (kept in `extra`) that Converse has no place for: refused unless
/// `drop_params`, never passed on to the model.
const OPENAI_ONLY: &[&str] = &[
    "service_tier",
    "store",
    "modalities",
    "audio",
    "prediction",
    "web_search_options",
    "verbosity",
    "safety_identifier",
    "prompt_cache_key",
    "functions",
    "function_call",
];

/// The Converse body for an OpenAI-format request.
pub fn request_body(target: &Target, req: &ChatCompletionRequest) -> Result<Value, TranslateError> {
    let merged = with_defaults(target, req)?;
    let req = merged.as_ref().unwrap_or(req);
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
        (
            "parallel_tool_calls",
            req.parallel_tool_calls == Some(false),
        ),
    ] {
        if set && !target.drop_params {
            return Err(unsupported(param));
        }
    }
    let (system, messages) = convert_messages(&req.messages)?;
    if messages.is_empty() {
        return Err(invalid(
            "Bedrock needs at least one user or assistant message",
        ));
    }
    let history_has_tools = messages.iter().any(|m| {
        m["content"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|b| b.get("toolUse").is_some() || b.get("toolResult").is_some())
    });
    let anthropic_model = base_model_id(&target.model).starts_with("anthropic.")
        || target.model.contains("anthropic.claude");

    let mut body = Map::new();
    body.insert("messages".into(), Value::Array(messages));
    if !system.is_empty() {
        body.insert("system".into(), Value::Array(system));
    }

    // inferenceConfig
    let mut inference = Map::new();
    let mut max_tokens = req.max_completion_tokens.or(req.max_tokens);
    if let Some(t) = req.temperature {
        inference.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        inference.insert("topP".into(), json!(p));
    }
    if let Some(stop) = &req.stop {
        let stops = stop.to_vec();
        if !stops.is_empty() {
            inference.insert("stopSequences".into(), json!(stops));
        }
    }

    // Fields for the model itself.
    let mut additional = Map::new();
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
            if anthropic_model {
                additional.insert(
                    "thinking".into(),
                    json!({"type": "enabled", "budget_tokens": budget}),
                );
                max_tokens = Some(max_tokens.unwrap_or(4096).max(budget + 1024));
            } else if !target.drop_params {
                return Err(unsupported("reasoning_effort"));
            }
        }
    }
    if let Some(n) = max_tokens {
        inference.insert("maxTokens".into(), json!(n));
    }
    if !inference.is_empty() {
        body.insert("inferenceConfig".into(), Value::Object(inference));
    }

    // toolConfig
    let mut tools: Vec<Value> = Vec::new();
    for t in req.tools.iter().flatten() {
        let Some(f) = &t.function else {
            return Err(invalid(format!(
                "tool type `{}` is not supported for Bedrock",
                t.kind
            )));
        };
        let mut spec = json!({
            "name": f.name,
            "inputSchema": {"json": f.parameters.clone().unwrap_or_else(|| json!({"type": "object", "properties": {}}))},
        });
        if let Some(d) = f.description.as_deref().filter(|d| !d.is_empty()) {
            spec["description"] = json!(d);
        }
        tools.push(json!({"toolSpec": spec}));
        if t.extra.contains_key("cache_control") {
            tools.push(json!({"cachePoint": {"type": "default"}}));
        }
    }
    let mut tool_choice = match &req.tool_choice {
        None => None,
        Some(ToolChoice::Mode(m)) => match m.as_str() {
            "auto" => Some(json!({"auto": {}})),
            "required" | "any" => Some(json!({"any": {}})),
            "none" => {
                // Converse has no "none": leaving the tools out is the only way, and a
                // conversation holding tool calls needs them.
                if history_has_tools && !target.drop_params {
                    return Err(invalid(
                        "Bedrock has no tool_choice `none`: the tools can only be left out, and \
                         this conversation holds tool calls, which need them; set drop_params: \
                         true to send the tools without a choice",
                    ));
                }
                if !history_has_tools {
                    tools.clear();
                }
                None
            }
            other => {
                return Err(invalid(format!(
                    "tool_choice `{other}` is not one of auto, none, required"
                )))
            }
        },
        Some(ToolChoice::Named(n)) => Some(json!({"tool": {"name": n.function.name}})),
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
        tools.push(
            json!({"toolSpec": {"name": JSON_TOOL, "description": "Respond with a JSON object.",
            "inputSchema": {"json": schema}}}),
        );
        tool_choice = Some(json!({"tool": {"name": JSON_TOOL}}));
    }
    if !tools.is_empty() {
        let mut config = json!({"tools": tools});
        if let Some(tc) = tool_choice {
            config["toolChoice"] = tc;
        }
        body.insert("toolConfig".into(), config);
    }

    // Converse's own fields as they are; `top_k` and other model fields for the model.
    for (k, v) in &req.extra {
        if OPENAI_ONLY.contains(&k.as_str()) {
            if target.drop_params {
                continue;
            }
            return Err(unsupported(k));
        }
        if k == "additionalModelRequestFields" {
            if let Some(o) = v.as_object() {
                for (ak, av) in o {
                    additional.insert(ak.clone(), av.clone());
                }
                continue;
            }
        }
        if CONVERSE_FIELDS.contains(&k.as_str()) {
            body.insert(k.clone(), v.clone());
        } else {
            additional.insert(k.clone(), v.clone());
        }
    }
    if !additional.is_empty() {
        body.insert(
            "additionalModelRequestFields".into(),
            Value::Object(additional),
        );
    }
    for (k, v) in &target.extra_body {
        body.insert(k.clone(), v.clone());
    }
    Ok(Value::Object(body))
}

fn headers(
    target: &Target,
    accept: &'static str,
) -> Result<Vec<(HeaderName, HeaderValue)>, TranslateError> {
    let mut h = crate::bearer_json_headers(target)?;
    h.push((http::header::ACCEPT, HeaderValue::from_static(accept)));
    Ok(h)
}

/// Converse's `usage` as OpenAI's.
fn usage_of(u: &Value) -> Usage {
    let n = |k: &str| u.get(k).and_then(Value::as_u64);
    crate::openai_anthropic::usage_of(&AnthropicUsage {
        input_tokens: n("inputTokens"),
        output_tokens: n("outputTokens"),
        cache_creation_input_tokens: n("cacheWriteInputTokens"),
        cache_read_input_tokens: n("cacheReadInputTokens"),
    })
}

/// Converse's stop reason as OpenAI's finish reason.
pub fn finish_reason(stop: &str) -> &'static str {
    match stop {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "guardrail_intervened" | "content_filtered" => "content_filter",
        _ => "stop",
    }
}

/// The HTTP status an AWS error type stands for (`ThrottlingException`, ...), by name.
fn status_of_type(kind: &str) -> Option<u16> {
    let k = kind.to_ascii_lowercase();
    let k = k.strip_suffix("exception").unwrap_or(&k);
    Some(match k {
        "validation" => 400,
        "unrecognizedclient"
        | "invalidsignature"
        | "incompletesignature"
        | "missingauthenticationtoken"
        | "expiredtoken"
        | "invalidclienttokenid" => 401,
        "accessdenied" => 403,
        "resourcenotfound" => 404,
        "modeltimeout" => 408,
        "throttling" | "modelnotready" | "servicequotaexceeded" | "toomanyrequests" => 429,
        "modelerror" | "modelstreamerror" | "internalserver" | "internalfailure" => 500,
        "serviceunavailable" => 503,
        _ => return None,
    })
}

/// Whether a validation message says the prompt is longer than the model takes.
fn is_context_length(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "input is too long",
        "too many input tokens",
        "prompt is too long",
        "input token count",
        "maximum context length",
        "context window",
        "too many tokens",
    ]
    .iter()
    .any(|p| m.contains(p))
}

/// An AWS error as the gateway's provider error: the status the type stands for (a
/// signature problem is a 401 even though AWS answers 403), the message, the type as `kind`.
pub fn bedrock_error(status: u16, error_type: Option<&str>, message: String) -> ProviderError {
    let kind = error_type
        .map(|t| t.split(':').next().unwrap_or(t).trim().to_owned())
        .filter(|t| !t.is_empty());
    let lower = message.to_ascii_lowercase();
    let signature_problem = lower.contains("signature we calculated does not match")
        || lower.contains("security token included in the request is invalid")
        || lower.contains("security token included in the request is expired")
        || lower.contains("missing authentication token");
    let mut status = kind.as_deref().and_then(status_of_type).unwrap_or(status);
    if signature_problem {
        status = 401;
    }
    let code = (status == 400 && is_context_length(&message))
        .then(|| "context_length_exceeded".to_owned());
    ProviderError {
        status,
        message,
        kind,
        code,
        param: None,
    }
}

/// The message of an AWS JSON error body (`message`, `Message`), else the body's text.
fn error_message(status: u16, body: &[u8]) -> (String, Option<String>) {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let message = v
        .get("message")
        .or_else(|| v.get("Message"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let kind = v
        .get("__type")
        .or_else(|| v.get("code"))
        .and_then(Value::as_str)
        .map(|t| t.rsplit('#').next().unwrap_or(t).to_owned());
    let message = message.unwrap_or_else(|| {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        if text.is_empty() {
            format!("Bedrock returned HTTP {status} with an empty body")
        } else {
            text.chars().take(1000).collect()
        }
    });
    (message, kind)
}

impl ChatProvider for Bedrock {
    fn chat_request(
        &self,
        target: &Target,
        request: &switchyard_types::Verbatim<ChatCompletionRequest>,
    ) -> Result<UpstreamRequest, TranslateError> {
        let body = request_body(target, request)?;
        let (action, accept) = if request.is_stream() {
            ("converse-stream", "application/vnd.amazon.eventstream")
        } else {
            ("converse", "application/json")
        };
        Ok(UpstreamRequest {
            method: Method::POST,
            url: model_url(&target.api_base, model_id(&target.model), action),
            headers: headers(target, accept)?,
            body: Bytes::from(serde_json::to_vec(&body).map_err(|e| invalid(e.to_string()))?),
        })
    }

    fn chat_response(&self, target: &Target, body: Bytes) -> Result<ChatOutput, ProviderError> {
        let v: Value = serde_json::from_slice(&body).map_err(ProviderError::malformed)?;
        let content = v
            .pointer("/output/message/content")
            .and_then(Value::as_array)
            .ok_or_else(|| ProviderError::malformed("no output.message.content"))?;
        let mut text = String::new();
        let mut reasoning = String::new();
        let mut calls = Vec::new();
        let mut json_answer = None;
        for b in content {
            if let Some(t) = b.get("text").and_then(Value::as_str) {
                text.push_str(t);
            } else if let Some(r) = b.get("reasoningContent") {
                if let Some(t) = r.pointer("/reasoningText/text").and_then(Value::as_str) {
                    reasoning.push_str(t);
                }
            } else if let Some(u) = b.get("toolUse") {
                let name = u.get("name").and_then(Value::as_str).unwrap_or("");
                let input = u.get("input").cloned().unwrap_or_else(|| json!({}));
                if name == JSON_TOOL {
                    json_answer = Some(input.to_string());
                    continue;
                }
                calls.push(json!({
                    "id": u.get("toolUseId").cloned().unwrap_or(Value::Null),
                    "type": "function",
                    "function": {"name": name, "arguments": input.to_string()},
                }));
            }
        }
        let mut finish = v
            .get("stopReason")
            .and_then(Value::as_str)
            .map_or("stop", finish_reason);
        if let Some(j) = json_answer {
            text = j;
            if calls.is_empty() {
                finish = "stop";
            }
        }
        let usage = v.get("usage").map(usage_of);
        let mut message = json!({"role": "assistant",
            "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { json!(text) }});
        if !calls.is_empty() {
            message["tool_calls"] = Value::Array(calls);
        }
        if !reasoning.is_empty() {
            message["reasoning_content"] = json!(reasoning);
        }
        let out = json!({
            "id": response_id(),
            "object": "chat.completion",
            "created": now_secs(),
            "model": model_id(&target.model),
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": null}],
            "usage": usage,
        });
        Ok(ChatOutput {
            body: Bytes::from(serde_json::to_vec(&out).map_err(ProviderError::malformed)?),
            usage,
        })
    }

    fn chat_stream(&self, target: &Target, strip_usage: bool) -> Box<dyn StreamTranslator> {
        Box::new(BedrockStream {
            decoder: Decoder::new(),
            strip_usage,
            id: response_id(),
            model: model_id(&target.model).to_owned(),
            created: now_secs(),
            blocks: Vec::new(),
            tool_calls: 0,
            finish: None,
            usage: None,
            text: String::new(),
            ended: false,
        })
    }

    fn error_response(&self, status: u16, body: &[u8]) -> ProviderError {
        let (message, kind) = error_message(status, body);
        bedrock_error(status, kind.as_deref(), message)
    }

    fn error_response_with_headers(
        &self,
        status: u16,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> ProviderError {
        let (message, kind) = error_message(status, body);
        let header = headers
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        bedrock_error(status, header.or(kind).as_deref(), message)
    }

    /// `POST /model/{id}/invoke` with the model family's own body: Titan text takes one
    /// `inputText`, Cohere embed a list of `texts`.
    fn embedding_request(
        &self,
        target: &Target,
        request: &switchyard_types::Verbatim<switchyard_types::EmbeddingRequest>,
    ) -> Result<UpstreamRequest, TranslateError> {
        let id = model_id(&target.model);
        let texts = crate::embeddings::texts(target, request)?;
        let mut body = Map::new();
        match EmbedFamily::of(id) {
            Some(EmbedFamily::Titan { v2 }) => {
                let [text] = texts.as_slice() else {
                    return Err(invalid(format!(
                        "Titan text embeddings on Bedrock take one input per call and this \
                         request has {}: send one input per request, or use a Cohere embed \
                         model (cohere.embed-*) for lists",
                        texts.len()
                    )));
                };
                body.insert("inputText".into(), json!(text));
                if let Some(d) = request.dimensions {
                    if v2 {
                        body.insert("dimensions".into(), json!(d));
                    } else {
                        crate::embeddings::refuse_unless_dropped(target, "dimensions", true)?;
                    }
                }
            }
            Some(EmbedFamily::Cohere { v4 }) => {
                body.insert("texts".into(), json!(texts));
                body.insert(
                    "input_type".into(),
                    json!(crate::embeddings::extra_str(request, "input_type")
                        .unwrap_or("search_document")),
                );
                if let Some(t) = request.extra.get("truncate") {
                    body.insert("truncate".into(), t.clone());
                }
                if let Some(d) = request.dimensions {
                    if v4 {
                        body.insert("output_dimension".into(), json!(d));
                    } else {
                        crate::embeddings::refuse_unless_dropped(target, "dimensions", true)?;
                    }
                }
            }
            None => {
                return Err(invalid(format!(
                    "Bedrock embeddings are supported for Amazon Titan text \
                     (amazon.titan-embed-text-*) and Cohere (cohere.embed-*) models, not `{id}`"
                )))
            }
        }
        Ok(UpstreamRequest {
            method: Method::POST,
            url: model_url(&target.api_base, id, "invoke"),
            headers: headers(target, "application/json")?,
            body: crate::embeddings::body(target, body)?,
        })
    }

    fn embedding_response(
        &self,
        target: &Target,
        request: &EmbeddingRequest,
        body: Bytes,
    ) -> Result<ChatOutput, ProviderError> {
        let id = model_id(&target.model);
        let v: Value = serde_json::from_slice(&body).map_err(ProviderError::malformed)?;
        let base64 = crate::embeddings::wants_base64(request);
        match EmbedFamily::of(id) {
            Some(EmbedFamily::Titan { .. }) => {
                let vector = crate::embeddings::vector(v.get("embedding"), "embedding")?;
                let tokens = v.get("inputTextTokenCount").and_then(Value::as_u64);
                crate::embeddings::response(id, &[vector], tokens, base64)
            }
            Some(EmbedFamily::Cohere { .. }) => {
                // A list of vectors, or by type (`{"float": [...]}`) when types were asked for.
                let e = v.get("embeddings");
                let vectors = match e.and_then(|e| e.get("float")) {
                    Some(f) => crate::embeddings::vectors(Some(f), "embeddings.float")?,
                    None => crate::embeddings::vectors(e, "embeddings")?,
                };
                crate::embeddings::response(id, &vectors, None, base64)
            }
            None => Err(ProviderError::malformed(format!(
                "`{id}` is not a Bedrock embedding model Switchyard reads"
            ))),
        }
    }
}

/// The embedding model families Bedrock serves that this translation knows.
enum EmbedFamily {
    /// `amazon.titan-embed-text-v1` / `-v2:0`.
    Titan { v2: bool },
    /// `cohere.embed-english-v3`, `cohere.embed-multilingual-v3`, `cohere.embed-v4:0`.
    Cohere { v4: bool },
}

impl EmbedFamily {
    fn of(id: &str) -> Option<EmbedFamily> {
        let base = base_model_id(id);
        if base.starts_with("amazon.titan-embed-text")
            || base.starts_with("amazon.titan-embed-g1-text")
        {
            Some(EmbedFamily::Titan {
                v2: base.contains("-v2"),
            })
        } else if base.starts_with("cohere.embed") {
            Some(EmbedFamily::Cohere {
                v4: base.contains("embed-v4"),
            })
        } else {
            None
        }
    }
}

/// What a content block of the stream is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Block {
    /// A tool call, with its index among the answer's tool calls.
    Tool(u32),
    /// The `json_tool_call` of `response_format`: its input is the answer's content.
    Json,
}

struct BedrockStream {
    decoder: Decoder,
    strip_usage: bool,
    id: String,
    model: String,
    created: u64,
    /// Tool-use blocks by `contentBlockIndex`.
    blocks: Vec<(u64, Block)>,
    tool_calls: u32,
    /// Set by `messageStop`.
    finish: Option<&'static str>,
    /// Set by `metadata`.
    usage: Option<Usage>,
    text: String,
    ended: bool,
}

impl BedrockStream {
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

    fn block(&self, index: u64) -> Option<Block> {
        self.blocks
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, b)| *b)
    }

    fn on_message(&mut self, m: &Message, out: &mut StreamOutput) {
        match m.header(":message-type").unwrap_or("event") {
            "event" => {}
            "exception" => {
                let kind = m.header(":exception-type").unwrap_or("exception");
                let (message, _) = error_message(500, &m.payload);
                let mut err = bedrock_error(500, Some(kind), message);
                if status_of_type(kind).is_none() {
                    err.status = 500;
                }
                self.fail(err, out);
                return;
            }
            other => {
                // Protocol-level errors carry their code and message in headers.
                let message = m
                    .header(":error-message")
                    .unwrap_or("Bedrock stream error")
                    .to_owned();
                let kind = m.header(":error-code").unwrap_or(other).to_owned();
                self.fail(
                    ProviderError {
                        status: 500,
                        message,
                        kind: Some(kind),
                        code: None,
                        param: None,
                    },
                    out,
                );
                return;
            }
        }
        let v: Value = match serde_json::from_slice(&m.payload) {
            Ok(v) => v,
            Err(e) => {
                self.fail(
                    ProviderError::malformed(format!("stream event is not JSON: {e}")),
                    out,
                );
                return;
            }
        };
        let index = v
            .get("contentBlockIndex")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        match m.header(":event-type").unwrap_or("") {
            "messageStart" => out
                .events
                .push(self.chunk(json!({"role": "assistant", "content": ""}), None)),
            "contentBlockStart" => {
                let Some(tool) = v.pointer("/start/toolUse") else {
                    return;
                };
                if tool.get("name").and_then(Value::as_str) == Some(JSON_TOOL) {
                    self.blocks.push((index, Block::Json));
                    return;
                }
                let i = self.tool_calls;
                self.tool_calls += 1;
                self.blocks.push((index, Block::Tool(i)));
                out.events.push(self.chunk(
                    json!({"tool_calls": [{"index": i, "id": tool.get("toolUseId"), "type": "function",
                        "function": {"name": tool.get("name"), "arguments": ""}}]}),
                    None,
                ));
            }
            "contentBlockDelta" => {
                let d = v.get("delta").cloned().unwrap_or(Value::Null);
                if let Some(t) = d.get("text").and_then(Value::as_str) {
                    self.text.push_str(t);
                    out.events.push(self.chunk(json!({"content": t}), None));
                } else if let Some(input) = d.pointer("/toolUse/input").and_then(Value::as_str) {
                    self.text.push_str(input);
                    match self.block(index) {
                        Some(Block::Json) => {
                            out.events.push(self.chunk(json!({"content": input}), None));
                        }
                        Some(Block::Tool(i)) => out.events.push(self.chunk(
                            json!({"tool_calls": [{"index": i, "function": {"arguments": input}}]}),
                            None,
                        )),
                        None => {}
                    }
                } else if let Some(t) = d.pointer("/reasoningContent/text").and_then(Value::as_str)
                {
                    out.events
                        .push(self.chunk(json!({"reasoning_content": t}), None));
                }
            }
            "messageStop" => {
                let stop = v
                    .get("stopReason")
                    .and_then(Value::as_str)
                    .unwrap_or("end_turn");
                let json_only =
                    self.blocks.iter().any(|(_, b)| *b == Block::Json) && self.tool_calls == 0;
                let finish = if json_only {
                    "stop"
                } else {
                    finish_reason(stop)
                };
                self.finish = Some(finish);
                out.events.push(self.chunk(json!({}), Some(finish)));
            }
            "metadata" => {
                let usage = v.get("usage").map(usage_of);
                self.usage = usage;
                self.end(out);
            }
            _ => {} // contentBlockStop, unknown events
        }
    }

    fn fail(&mut self, err: ProviderError, out: &mut StreamOutput) {
        out.fail(err);
        self.ended = true;
    }

    /// The answer is complete: the usage chunk (unless stripped) and `[DONE]`.
    fn end(&mut self, out: &mut StreamOutput) {
        if self.ended {
            return;
        }
        self.ended = true;
        if self.finish.is_none() {
            let finish = "stop";
            self.finish = Some(finish);
            out.events.push(self.chunk(json!({}), Some(finish)));
        }
        if let (Some(u), false) = (&self.usage, self.strip_usage) {
            let c = json!({
                "id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model, "choices": [], "usage": u,
            });
            out.events.push(data_event(c.to_string().as_bytes()));
        }
        out.events.push(Bytes::from_static(b"data: [DONE]\n\n"));
        out.usage = self.usage.clone();
        out.done = true;
    }
}

impl StreamTranslator for BedrockStream {
    fn push(&mut self, bytes: &[u8]) -> StreamOutput {
        let mut out = StreamOutput::default();
        if self.ended {
            return out;
        }
        self.decoder.push(bytes);
        while !self.ended {
            match self.decoder.next_message() {
                Ok(Some(m)) => self.on_message(&m, &mut out),
                Ok(None) => break,
                Err(e) => self.fail(ProviderError::malformed(e), &mut out),
            }
        }
        out
    }

    fn finish(&mut self) -> StreamOutput {
        let mut out = StreamOutput::default();
        if self.ended {
            return out;
        }
        if self.decoder.pending() > 0 {
            self.fail(
                ProviderError::malformed(format!(
                    "the event stream ended inside a frame ({} bytes left over)",
                    self.decoder.pending()
                )),
                &mut out,
            );
        } else if self.finish.is_some() {
            // `messageStop` came but no `metadata`: complete, usage to be counted.
            self.end(&mut out);
        }
        out
    }

    fn completion_text(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests;
