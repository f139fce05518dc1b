//! OpenAI format in, Google AI Studio (Gemini API) out (`gemini/…` deployments).
//!
//! Request: system and developer messages become `systemInstruction`; `assistant` becomes
//! `model`, and consecutive same-role turns are merged; text and images (base64 data URLs as
//! `inlineData`, other URLs as `fileData`) become parts; tools become `functionDeclarations`,
//! `tool_choice` becomes `toolConfig.functionCallingConfig` (auto/none/required -> AUTO/NONE/ANY,
//! a named function -> ANY with `allowedFunctionNames`); assistant `tool_calls` become
//! `functionCall` parts and `role: tool` messages `functionResponse` parts (named after the call
//! they answer); sampling parameters go to `generationConfig`; `response_format` json_object /
//! json_schema -> `responseMimeType: application/json` (+ `responseJsonSchema`);
//! `reasoning_effort` -> `thinkingConfig.thinkingBudget`. The key travels in the
//! `x-goog-api-key` header, never in the URL.
//!
//! Response and stream (`streamGenerateContent?alt=sse`): text, thoughts
//! (`reasoning_content`), function calls (ids `call_<n>`, arguments as a JSON string),
//! finish reasons (STOP -> stop, MAX_TOKENS -> length, SAFETY/RECITATION/BLOCKLIST/... ->
//! content_filter, a function call -> tool_calls), usage (`cachedContentTokenCount` in
//! `prompt_tokens_details.cached_tokens`, `thoughtsTokenCount` as reasoning tokens, counted in
//! `completion_tokens`).

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderName, HeaderValue, Method};
use serde_json::{json, Map, Value};
use switchyard_types::{
    ChatCompletionRequest, ChatMessage, CompletionTokensDetails, EmbeddingRequest, MessageContent,
    PromptTokensDetails, ResponseFormat, Role, ToolChoice, Usage,
};

use crate::sse::{data_event, Framer};
use crate::{
    ChatOutput, ChatProvider, ProviderError, StreamOutput, StreamTranslator, Target,
    TranslateError, UpstreamRequest,
};

/// The Gemini API base.
pub const DEFAULT_API_BASE: &str = "https://generativelanguage.googleapis.com";

/// The Gemini translation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gemini;

fn invalid(msg: impl Into<String>) -> TranslateError {
    TranslateError::Invalid(msg.into())
}

/// `{api_base}/v1beta/models/{model}:generateContent` (or `:streamGenerateContent?alt=sse`).
pub fn url(api_base: &str, model: &str, stream: bool) -> String {
    let base = api_base.trim_end_matches('/');
    let base = if base.ends_with("/v1beta") || base.ends_with("/v1") {
        base.to_owned()
    } else {
        format!("{base}/v1beta")
    };
    let model = model.strip_prefix("models/").unwrap_or(model);
    if stream {
        format!("{base}/models/{model}:streamGenerateContent?alt=sse")
    } else {
        format!("{base}/models/{model}:generateContent")
    }
}

fn mime_from_url(url: &str) -> &'static str {
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .to_ascii_lowercase();
    match path.rsplit('.').next() {
        Some("png") => "image/png",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("pdf") => "application/pdf",
        Some("mp3") => "audio/mpeg",
        Some("wav") => "audio/wav",
        Some("mp4") => "video/mp4",
        _ => "image/jpeg",
    }
}

fn parts_of(content: &Option<MessageContent>) -> Result<Vec<Value>, TranslateError> {
    match content {
        None => Ok(Vec::new()),
        Some(MessageContent::Text(t)) if t.is_empty() => Ok(Vec::new()),
        Some(MessageContent::Text(t)) => Ok(vec![json!({"text": t})]),
        Some(MessageContent::Parts(parts)) => {
            let mut out = Vec::with_capacity(parts.len());
            for p in parts {
                match p.kind.as_str() {
                    "text" => {
                        if let Some(t) = &p.text {
                            out.push(json!({"text": t}));
                        }
                    }
                    "image_url" => {
                        let url = p
                            .image_url
                            .as_ref()
                            .map(|u| u.url.as_str())
                            .ok_or_else(|| invalid("an image_url part needs image_url.url"))?;
                        match crate::data_url(url)? {
                            Some((mime, data)) => {
                                out.push(json!({"inlineData": {"mimeType": mime, "data": data}}))
                            }
                            None => out.push(
                                json!({"fileData": {"mimeType": mime_from_url(url), "fileUri": url}}),
                            ),
                        }
                    }
                    other => {
                        return Err(invalid(format!(
                            "content part type `{other}` is not supported for Gemini"
                        )))
                    }
                }
            }
            Ok(out)
        }
    }
}

/// `contents` and the system instruction's parts.
fn convert(messages: &[ChatMessage]) -> Result<(Vec<Value>, Vec<Value>), TranslateError> {
    let mut system = Vec::new();
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    // Tool call id -> function name, for the responses that answer them.
    let mut names: Vec<(String, String)> = Vec::new();
    for m in messages {
        let (role, parts) = match m.role {
            Role::System | Role::Developer => {
                system.extend(parts_of(&m.content)?);
                continue;
            }
            Role::User => ("user", parts_of(&m.content)?),
            Role::Assistant => {
                let mut parts = parts_of(&m.content)?;
                for c in m.tool_calls.iter().flatten() {
                    let args = crate::tool_call_args(c)?;
                    names.push((c.id.clone(), c.function.name.clone()));
                    parts.push(json!({"functionCall": {"name": c.function.name, "args": args}}));
                }
                ("model", parts)
            }
            Role::Tool | Role::Function => {
                let id = m.tool_call_id.clone().unwrap_or_default();
                let name = names
                    .iter()
                    .find(|(i, _)| *i == id)
                    .map(|(_, n)| n.clone())
                    .or_else(|| m.name.clone())
                    .ok_or_else(|| {
                        invalid(format!("tool message `{id}` answers no earlier tool call"))
                    })?;
                let text = m
                    .content
                    .as_ref()
                    .map(MessageContent::joined_text)
                    .unwrap_or_default();
                let response = match serde_json::from_str::<Value>(&text) {
                    Ok(Value::Object(o)) => Value::Object(o),
                    _ => json!({"content": text}),
                };
                (
                    "user",
                    vec![json!({"functionResponse": {"name": name, "response": response}})],
                )
            }
        };
        if parts.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((r, prev)) if *r == role => prev.extend(parts),
            _ => turns.push((role, parts)),
        }
    }
    let contents = turns
        .into_iter()
        .map(|(role, parts)| json!({"role": role, "parts": parts}))
        .collect();
    Ok((contents, system))
}

/// The `generateContent` body for an OpenAI-format request.
pub fn request_body(target: &Target, req: &ChatCompletionRequest) -> Result<Value, TranslateError> {
    for (param, set) in [
        (
            "logit_bias",
            req.logit_bias.as_ref().is_some_and(|b| !b.is_empty()),
        ),
        ("top_logprobs", req.top_logprobs.is_some()),
    ] {
        if set && !target.drop_params {
            return Err(TranslateError::UnsupportedParam {
                provider: target.provider.clone(),
                param: param.to_owned(),
            });
        }
    }
    let (contents, system) = convert(&req.messages)?;
    if contents.is_empty() {
        return Err(invalid(
            "Gemini needs at least one user or assistant message",
        ));
    }
    let mut body = Map::new();
    body.insert("contents".into(), Value::Array(contents));
    if !system.is_empty() {
        body.insert("systemInstruction".into(), json!({"parts": system}));
    }
    let mut gen = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            gen.insert(k.to_owned(), v);
        }
    };
    put("temperature", req.temperature.map(|v| json!(v)));
    put("topP", req.top_p.map(|v| json!(v)));
    put(
        "maxOutputTokens",
        req.max_completion_tokens
            .or(req.max_tokens)
            .map(|v| json!(v)),
    );
    put(
        "stopSequences",
        req.stop.as_ref().map(|s| json!(s.to_vec())),
    );
    put("candidateCount", req.n.map(|v| json!(v)));
    put("presencePenalty", req.presence_penalty.map(|v| json!(v)));
    put("frequencyPenalty", req.frequency_penalty.map(|v| json!(v)));
    put("seed", req.seed.map(|v| json!(v)));
    put("responseLogprobs", req.logprobs.map(|v| json!(v)));
    put("topK", req.extra.get("top_k").cloned());
    match &req.response_format {
        Some(ResponseFormat::JsonObject) => {
            put("responseMimeType", Some(json!("application/json")));
        }
        Some(ResponseFormat::JsonSchema { json_schema }) => {
            put("responseMimeType", Some(json!("application/json")));
            put("responseJsonSchema", json_schema.schema.clone());
        }
        _ => {}
    }
    if let Some(effort) = req.reasoning_effort.as_deref() {
        let budget = match effort {
            "none" => 0,
            "minimal" | "low" => 1024,
            "medium" => 2048,
            "high" => 4096,
            other => {
                return Err(invalid(format!(
                    "reasoning_effort `{other}` is not one of low, medium, high"
                )))
            }
        };
        put("thinkingConfig", Some(json!({"thinkingBudget": budget})));
    }
    if !gen.is_empty() {
        body.insert("generationConfig".into(), Value::Object(gen));
    }
    let decls: Vec<Value> = req
        .tools
        .iter()
        .flatten()
        .filter_map(|t| t.function.as_ref())
        .map(|f| {
            let mut d = json!({"name": f.name});
            if let Some(desc) = &f.description {
                d["description"] = json!(desc);
            }
            if let Some(p) = &f.parameters {
                d["parametersJsonSchema"] = p.clone();
            }
            d
        })
        .collect();
    if !decls.is_empty() {
        body.insert("tools".into(), json!([{"functionDeclarations": decls}]));
    }
    let config = match &req.tool_choice {
        None => None,
        Some(ToolChoice::Mode(m)) => match m.as_str() {
            "auto" => Some(json!({"mode": "AUTO"})),
            "none" => Some(json!({"mode": "NONE"})),
            "required" | "any" => Some(json!({"mode": "ANY"})),
            other => {
                return Err(invalid(format!(
                    "tool_choice `{other}` is not one of auto, none, required"
                )))
            }
        },
        Some(ToolChoice::Named(n)) => {
            Some(json!({"mode": "ANY", "allowedFunctionNames": [n.function.name]}))
        }
    };
    if let Some(c) = config {
        body.insert("toolConfig".into(), json!({"functionCallingConfig": c}));
    }
    for (k, v) in &req.extra {
        if k != "top_k" {
            body.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    for (k, v) in &target.extra_body {
        body.insert(k.clone(), v.clone());
    }
    Ok(Value::Object(body))
}

fn headers(target: &Target) -> Result<Vec<(HeaderName, HeaderValue)>, TranslateError> {
    let mut h = vec![(CONTENT_TYPE, HeaderValue::from_static("application/json"))];
    if let Some(key) = target.api_key.as_deref().filter(|k| !k.is_empty()) {
        let mut v = HeaderValue::try_from(key).map_err(|_| {
            TranslateError::Config("api_key has characters not allowed in a header".into())
        })?;
        v.set_sensitive(true);
        h.push((HeaderName::from_static("x-goog-api-key"), v));
    }
    crate::push_extra_headers(target, &mut h)?;
    Ok(h)
}

/// Gemini's finish reason as OpenAI's.
pub fn finish_reason(reason: &str) -> &'static str {
    match reason {
        "MAX_TOKENS" => "length",
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            "content_filter"
        }
        _ => "stop",
    }
}

fn usage_of(u: &Value) -> Usage {
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    let prompt = n("promptTokenCount");
    let thoughts = n("thoughtsTokenCount");
    let completion = n("candidatesTokenCount") + thoughts;
    let cached = n("cachedContentTokenCount");
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        prompt_tokens_details: (cached > 0).then(|| PromptTokensDetails {
            cached_tokens: Some(cached),
            ..PromptTokensDetails::default()
        }),
        completion_tokens_details: (thoughts > 0).then(|| CompletionTokensDetails {
            reasoning_tokens: Some(thoughts),
            ..CompletionTokensDetails::default()
        }),
        extra: Map::new(),
    }
}

use crate::now_secs;

/// Reads Gemini's error body `{"error": {"code", "message", "status"}}`.
pub fn gemini_error(status: u16, body: &[u8]) -> ProviderError {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let v = match v {
        Value::Array(mut a) if !a.is_empty() => a.swap_remove(0),
        other => other,
    };
    let e = v.get("error");
    let message = e
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let kind = e
        .and_then(|e| e.get("status"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let code = (status == 400
        && (message.contains("exceeds the maximum number of tokens")
            || message.contains("input token count")))
    .then(|| "context_length_exceeded".to_owned());
    ProviderError {
        status,
        message,
        kind,
        code,
        param: None,
    }
}

/// A prompt Gemini refused to answer: a content-policy error, as OpenAI reports one.
fn blocked(reason: &str) -> ProviderError {
    ProviderError {
        status: 400,
        message: format!(
            "The prompt was blocked by the provider's safety filters (blockReason {reason})."
        ),
        kind: Some("invalid_request_error".into()),
        code: Some("content_policy_violation".into()),
        param: Some("messages".into()),
    }
}

impl ChatProvider for Gemini {
    fn chat_request(
        &self,
        target: &Target,
        request: &switchyard_types::Verbatim<ChatCompletionRequest>,
    ) -> Result<UpstreamRequest, TranslateError> {
        let body = request_body(target, request)?;
        Ok(UpstreamRequest {
            method: Method::POST,
            url: url(&target.api_base, &target.model, request.is_stream()),
            headers: headers(target)?,
            body: Bytes::from(serde_json::to_vec(&body).map_err(|e| invalid(e.to_string()))?),
        })
    }

    fn chat_response(&self, target: &Target, body: Bytes) -> Result<ChatOutput, ProviderError> {
        let v: Value = serde_json::from_slice(&body).map_err(ProviderError::malformed)?;
        if let Some(reason) = v
            .pointer("/promptFeedback/blockReason")
            .and_then(Value::as_str)
        {
            return Err(blocked(reason));
        }
        let candidates = v
            .get("candidates")
            .and_then(Value::as_array)
            .ok_or_else(|| ProviderError::malformed("no candidates"))?;
        let mut choices = Vec::new();
        for (i, c) in candidates.iter().enumerate() {
            let mut text = String::new();
            let mut thoughts = String::new();
            let mut calls = Vec::new();
            for p in c
                .pointer("/content/parts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(fc) = p.get("functionCall") {
                    calls.push(json!({
                        "id": fc.get("id").and_then(Value::as_str).map_or_else(|| format!("call_{}", calls.len()), str::to_owned),
                        "type": "function",
                        "function": {"name": fc.get("name"), "arguments": fc.get("args").cloned().unwrap_or(json!({})).to_string()},
                    }));
                } else if let Some(t) = p.get("text").and_then(Value::as_str) {
                    if p.get("thought").and_then(Value::as_bool) == Some(true) {
                        thoughts.push_str(t);
                    } else {
                        text.push_str(t);
                    }
                }
            }
            let finish = if calls.is_empty() {
                c.get("finishReason")
                    .and_then(Value::as_str)
                    .map_or("stop", finish_reason)
            } else {
                "tool_calls"
            };
            let mut message = json!({"role": "assistant", "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { json!(text) }});
            if !calls.is_empty() {
                message["tool_calls"] = Value::Array(calls);
            }
            if !thoughts.is_empty() {
                message["reasoning_content"] = json!(thoughts);
            }
            choices.push(
                json!({"index": i, "message": message, "finish_reason": finish, "logprobs": null}),
            );
        }
        let usage = v.get("usageMetadata").map(usage_of);
        let out = json!({
            "id": v.get("responseId").and_then(Value::as_str).map_or_else(|| "chatcmpl-gemini".to_owned(), |id| format!("chatcmpl-{id}")),
            "object": "chat.completion",
            "created": now_secs(),
            "model": v.get("modelVersion").and_then(Value::as_str).unwrap_or(&target.model),
            "choices": choices,
            "usage": usage,
        });
        Ok(ChatOutput {
            body: Bytes::from(serde_json::to_vec(&out).map_err(ProviderError::malformed)?),
            usage,
        })
    }

    fn chat_stream(&self, target: &Target, strip_usage: bool) -> Box<dyn StreamTranslator> {
        Box::new(GeminiStream {
            framer: Framer::new(),
            strip_usage,
            model: target.model.clone(),
            id: String::new(),
            created: now_secs(),
            started: false,
            tool_calls: 0,
            finish: None,
            usage: None,
            text: String::new(),
            ended: false,
        })
    }

    fn error_response(&self, status: u16, body: &[u8]) -> ProviderError {
        gemini_error(status, body)
    }

    /// `:batchEmbedContents`, one request per input; `task_type` and `dimensions`
    /// (`outputDimensionality`) passed on. Gemini reports no usage: the router counts it.
    fn embedding_request(
        &self,
        target: &Target,
        request: &switchyard_types::Verbatim<switchyard_types::EmbeddingRequest>,
    ) -> Result<UpstreamRequest, TranslateError> {
        let texts = crate::embeddings::texts(target, request)?;
        let model = target
            .model
            .strip_prefix("models/")
            .unwrap_or(&target.model);
        let task = crate::embeddings::extra_str(request, "task_type");
        let requests: Vec<Value> = texts
            .iter()
            .map(|t| {
                let mut r = json!({"model": format!("models/{model}"), "content": {"parts": [{"text": t}]}});
                if let Some(task) = task {
                    r["taskType"] = json!(task);
                }
                if let Some(d) = request.dimensions {
                    r["outputDimensionality"] = json!(d);
                }
                r
            })
            .collect();
        let mut body = Map::new();
        body.insert("requests".into(), Value::Array(requests));
        let url =
            url(&target.api_base, model, false).replace(":generateContent", ":batchEmbedContents");
        Ok(UpstreamRequest {
            method: Method::POST,
            url,
            headers: headers(target)?,
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
        let vectors = v
            .get("embeddings")
            .and_then(Value::as_array)
            .ok_or_else(|| ProviderError::malformed("no embeddings in the answer"))?
            .iter()
            .map(|e| crate::embeddings::vector(e.get("values"), "embeddings.values"))
            .collect::<Result<Vec<_>, _>>()?;
        crate::embeddings::response(
            &target.model,
            &vectors,
            None,
            crate::embeddings::wants_base64(request),
        )
    }
}

struct GeminiStream {
    framer: Framer,
    strip_usage: bool,
    model: String,
    id: String,
    created: u64,
    started: bool,
    tool_calls: u32,
    finish: Option<&'static str>,
    usage: Option<Usage>,
    text: String,
    ended: bool,
}

impl GeminiStream {
    fn chunk(&self, delta: Value, finish: Option<&str>) -> Bytes {
        let c = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        });
        data_event(c.to_string().as_bytes())
    }

    fn on_chunk(&mut self, v: &Value, out: &mut StreamOutput) {
        if let Some(e) = v.get("error") {
            let status = e
                .get("code")
                .and_then(Value::as_u64)
                .and_then(|c| u16::try_from(c).ok())
                .unwrap_or(500);
            let err = gemini_error(status, v.to_string().as_bytes());
            let body = json!({"error": {"message": err.message, "type": err.kind, "param": null, "code": status.to_string()}});
            out.events.push(data_event(body.to_string().as_bytes()));
            out.error = Some(err);
            self.ended = true;
            return;
        }
        if let Some(reason) = v
            .pointer("/promptFeedback/blockReason")
            .and_then(Value::as_str)
        {
            let err = blocked(reason);
            let body = json!({"error": {"message": err.message, "type": err.kind, "param": err.param, "code": err.code}});
            out.events.push(data_event(body.to_string().as_bytes()));
            out.error = Some(err);
            self.ended = true;
            return;
        }
        if !self.started {
            self.started = true;
            self.id = v.get("responseId").and_then(Value::as_str).map_or_else(
                || "chatcmpl-gemini".to_owned(),
                |id| format!("chatcmpl-{id}"),
            );
            if let Some(m) = v.get("modelVersion").and_then(Value::as_str) {
                self.model = m.to_owned();
            }
            out.events
                .push(self.chunk(json!({"role": "assistant", "content": ""}), None));
        }
        let cand = v.pointer("/candidates/0");
        for p in cand
            .and_then(|c| c.pointer("/content/parts"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(fc) = p.get("functionCall") {
                let i = self.tool_calls;
                self.tool_calls += 1;
                let args = fc.get("args").cloned().unwrap_or(json!({})).to_string();
                self.text.push_str(&args);
                let id = fc
                    .get("id")
                    .and_then(Value::as_str)
                    .map_or_else(|| format!("call_{i}"), str::to_owned);
                out.events.push(self.chunk(
                    json!({"tool_calls": [{"index": i, "id": id, "type": "function", "function": {"name": fc.get("name"), "arguments": args}}]}),
                    None,
                ));
            } else if let Some(t) = p.get("text").and_then(Value::as_str) {
                if p.get("thought").and_then(Value::as_bool) == Some(true) {
                    out.events
                        .push(self.chunk(json!({"reasoning_content": t}), None));
                } else {
                    self.text.push_str(t);
                    out.events.push(self.chunk(json!({"content": t}), None));
                }
            }
        }
        if let Some(r) = cand
            .and_then(|c| c.get("finishReason"))
            .and_then(Value::as_str)
        {
            self.finish = Some(if self.tool_calls > 0 {
                "tool_calls"
            } else {
                finish_reason(r)
            });
        }
        if let Some(u) = v.get("usageMetadata") {
            self.usage = Some(usage_of(u));
        }
    }

    fn end(&mut self, out: &mut StreamOutput) {
        if self.ended || self.finish.is_none() {
            return;
        }
        self.ended = true;
        out.events.push(self.chunk(json!({}), self.finish));
        if let Some(u) = &self.usage {
            if !self.strip_usage {
                let c = json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                    "model": self.model, "choices": [], "usage": u});
                out.events.push(data_event(c.to_string().as_bytes()));
            }
        }
        out.events.push(Bytes::from_static(b"data: [DONE]\n\n"));
        out.usage = self.usage.clone();
        out.done = true;
    }

    fn feed(&mut self, data: &[u8], out: &mut StreamOutput) {
        match serde_json::from_slice::<Value>(data) {
            Ok(v) => self.on_chunk(&v, out),
            Err(e) => {
                out.fail(ProviderError::malformed(format!(
                    "stream chunk is not JSON: {e}"
                )));
                self.ended = true;
            }
        }
    }
}

impl StreamTranslator for GeminiStream {
    fn push(&mut self, bytes: &[u8]) -> StreamOutput {
        self.framer.push(bytes);
        let mut out = StreamOutput::default();
        while let Some(ev) = self.framer.next_event() {
            if self.ended {
                break;
            }
            if let Some(data) = ev.data {
                self.feed(&data, &mut out);
            }
        }
        out
    }

    /// Gemini sends no end marker: the stream is complete when the body ends after a chunk
    /// with a finish reason.
    fn finish(&mut self) -> StreamOutput {
        let mut out = StreamOutput::default();
        if let Some(ev) = self.framer.finish() {
            if let Some(data) = ev.data {
                if !self.ended {
                    self.feed(&data, &mut out);
                }
            }
        }
        self.end(&mut out);
        out
    }

    fn completion_text(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests;
