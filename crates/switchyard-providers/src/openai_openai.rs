//! OpenAI format in, OpenAI (or any OpenAI-compatible server) out.
//!
//! The request is forwarded with the deployment's model id and its default parameters; unknown
//! fields pass through. The response body and stream events are forwarded byte for byte; only
//! `usage` is read from them.

use std::borrow::Cow;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderName, HeaderValue, Method};
use serde::Deserialize;
use serde_json::{Map, Value};
use switchyard_types::{ChatCompletionRequest, EmbeddingRequest, Usage, Verbatim};

use crate::endpoints::{self, Endpoint};
use crate::error::openai_style_error;
use crate::sse::Framer;
use crate::{
    ChatOutput, ChatProvider, ProviderError, StreamOutput, StreamTranslator, Target,
    TranslateError, UpstreamRequest,
};

/// OpenAI's API base.
pub const DEFAULT_API_BASE: &str = "https://api.openai.com/v1";

/// The OpenAI translation (also used by every OpenAI-compatible provider).
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenAi;

/// `{api_base}/chat/completions`, tolerating a base that already ends with the path.
pub fn chat_url(api_base: &str) -> String {
    let base = api_base.trim_end_matches('/');
    if base.ends_with("/chat/completions") {
        base.to_owned()
    } else {
        format!("{base}/chat/completions")
    }
}

/// The request body for an OpenAI-format upstream: the client's request with the deployment's
/// model id, its default params where the client set none, the provider's quirks applied
/// (see [`compat`](crate::compat)), and its `extra_body` on top.
///
/// A request that sets none of its provider's quirk parameters, to a deployment with no
/// defaults or `extra_body`, goes as the client sent it when it still has the client's bytes
/// ([`Verbatim::forward_body`]: the model id set, the gateway's own fields left out), and is
/// otherwise serialised once from the typed request.
pub fn request_body(
    target: &Target,
    request: &Verbatim<ChatCompletionRequest>,
) -> Result<Bytes, TranslateError> {
    let row = crate::compat::lookup(&target.provider);
    let model = row.map_or(Cow::Borrowed(target.model.as_str()), |r| {
        r.model_id(&target.model)
    });
    let quirks = row.map_or(&[][..], |r| r.quirks);
    let plain = target.defaults.is_empty() && target.extra_body.is_empty();
    if plain {
        let quirk = |key: &[u8]| {
            quirks
                .iter()
                .any(|q| q.param.as_bytes() == key && q.applies_to(&target.model))
        };
        if let Some(body) = request.forward_body(&model, quirk) {
            return Ok(Bytes::from(body));
        }
    }
    let request: &ChatCompletionRequest = request;
    // The router has already set the deployment's model id: the request is serialised as it
    // is, not copied (a copy of every message) to be renamed.
    let renamed;
    let req = if request.model == *model {
        request
    } else {
        renamed = ChatCompletionRequest {
            model: model.into_owned(),
            ..request.clone()
        };
        &renamed
    };
    let quirk_set = quirks.iter().any(|q| {
        q.applies_to(&target.model)
            && (is_set(req, q.param) || target.defaults.contains_key(q.param))
    });
    if !quirk_set && plain {
        return serde_json::to_vec(req)
            .map(Bytes::from)
            .map_err(|e| TranslateError::Invalid(e.to_string()));
    }
    let mut obj = match serde_json::to_value(req) {
        Ok(Value::Object(o)) => o,
        Ok(_) => return Err(TranslateError::Invalid("request is not an object".into())),
        Err(e) => return Err(TranslateError::Invalid(e.to_string())),
    };
    for (k, v) in &target.defaults {
        obj.entry(k.clone()).or_insert_with(|| v.clone());
    }
    if quirk_set {
        apply_quirks(target, quirks, &mut obj)?;
    }
    for (k, v) in &target.extra_body {
        obj.insert(k.clone(), v.clone());
    }
    serde_json::to_vec(&obj)
        .map(Bytes::from)
        .map_err(|e| TranslateError::Invalid(e.to_string()))
}

/// Whether the request sets a top-level parameter (not null), without serialising it.
fn is_set(req: &ChatCompletionRequest, param: &str) -> bool {
    match param {
        "stream" => req.stream.is_some(),
        "stream_options" => req.stream_options.is_some(),
        "temperature" => req.temperature.is_some(),
        "top_p" => req.top_p.is_some(),
        "n" => req.n.is_some(),
        "stop" => req.stop.is_some(),
        "max_tokens" => req.max_tokens.is_some(),
        "max_completion_tokens" => req.max_completion_tokens.is_some(),
        "presence_penalty" => req.presence_penalty.is_some(),
        "frequency_penalty" => req.frequency_penalty.is_some(),
        "logit_bias" => req.logit_bias.is_some(),
        "logprobs" => req.logprobs.is_some(),
        "top_logprobs" => req.top_logprobs.is_some(),
        "user" => req.user.is_some(),
        "response_format" => req.response_format.is_some(),
        "seed" => req.seed.is_some(),
        "tools" => req.tools.is_some(),
        "tool_choice" => req.tool_choice.is_some(),
        "parallel_tool_calls" => req.parallel_tool_calls.is_some(),
        "reasoning_effort" => req.reasoning_effort.is_some(),
        other => req.extra.get(other).is_some_and(|v| !v.is_null()),
    }
}

/// Applies a provider's quirks to the body: a refused parameter is an error, or removed under
/// `drop_params`; a renamed one moves to its new name.
fn apply_quirks(
    target: &Target,
    quirks: &[crate::compat::Quirk],
    obj: &mut Map<String, Value>,
) -> Result<(), TranslateError> {
    use crate::compat::Action;
    for q in quirks.iter().filter(|q| q.applies_to(&target.model)) {
        match q.action {
            Action::Reject(when) => {
                if !obj.get(q.param).is_some_and(|v| when.holds(v)) {
                    continue;
                }
                if !target.drop_params {
                    return Err(TranslateError::UnsupportedParam {
                        provider: target.provider.clone(),
                        param: q.param.to_owned(),
                    });
                }
                obj.remove(q.param);
            }
            Action::Rename(to) => {
                if let Some(v) = obj.remove(q.param) {
                    obj.insert(to.to_owned(), v);
                }
            }
        }
    }
    Ok(())
}

/// Authorization, organization and extra headers for an OpenAI-format upstream.
pub fn headers(target: &Target) -> Result<Vec<(HeaderName, HeaderValue)>, TranslateError> {
    let mut h = Vec::with_capacity(3 + target.extra_headers.len());
    h.push((CONTENT_TYPE, HeaderValue::from_static("application/json")));
    if let Some(key) = target.api_key.as_deref().filter(|k| !k.is_empty()) {
        let mut v = HeaderValue::try_from(format!("Bearer {key}")).map_err(|_| {
            TranslateError::Config("api_key has characters not allowed in a header".into())
        })?;
        v.set_sensitive(true);
        h.push((AUTHORIZATION, v));
    }
    if let Some(org) = target.organization.as_deref().filter(|o| !o.is_empty()) {
        let v = HeaderValue::try_from(org).map_err(|_| {
            TranslateError::Config("organization is not a valid header value".into())
        })?;
        h.push((HeaderName::from_static("openai-organization"), v));
    }
    crate::push_extra_headers(target, &mut h)?;
    Ok(h)
}

#[derive(Deserialize)]
struct Peek {
    // Required: a 2xx body without choices is not a chat completion.
    #[allow(dead_code)]
    choices: serde::de::IgnoredAny,
    #[serde(default)]
    usage: Option<Usage>,
}

/// The top-level `usage` of a chat completion body, read without walking the rest of it: the
/// body is forwarded as it is, so only `usage` needs parsing, and OpenAI puts it at the end.
///
/// The last `"usage"` key is parsed where it stands, then the bytes after it are followed to
/// check that the object holding it is the body's own (its closing brace ends the body).
/// `None` when that does not hold (no such key, a `usage` of a nested object, no `choices`,
/// a truncated body): the caller then parses the whole body, as before.
///
/// `required` is a key the body must hold (`"choices"`; `"data"` for embeddings, whose bodies
/// of floats run to megabytes).
fn top_level_usage<U: serde::de::DeserializeOwned>(
    body: &[u8],
    required: &memchr::memmem::Finder<'_>,
) -> Option<Option<U>> {
    let finders = &*FINDERS;
    if skip_ws(body).first() != Some(&b'{') {
        return None;
    }
    let key = finders.usage_last.rfind(body)?;
    // `"` after a backslash is inside a string (a quote that closed a string cannot be
    // followed by `usage`).
    if key.checked_sub(1).and_then(|i| body.get(i)) == Some(&b'\\') {
        return None;
    }
    required.find(body)?;
    let rest = skip_ws(body.get(key + 7..)?);
    let value = skip_ws(rest.strip_prefix(b":")?);
    let mut values = serde_json::Deserializer::from_slice(value).into_iter::<Option<U>>();
    let usage = values.next()?.ok()?;
    let tail = value.get(values.byte_offset()..)?;
    closes_the_body(tail).then_some(usage)
}

fn skip_ws(b: &[u8]) -> &[u8] {
    let n = b
        .iter()
        .position(|c| !matches!(c, b' ' | b'\n' | b'\r' | b'\t'))
        .unwrap_or(b.len());
    &b[n..]
}

/// Whether `tail`, the bytes after a member of an object, closes that object at the end of the
/// body: its one unmatched closer is a `}`, and only whitespace follows it.
fn closes_the_body(tail: &[u8]) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in tail.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' if depth > 0 => depth -= 1,
            b'}' => return skip_ws(&tail[i + 1..]).is_empty(),
            b']' => return false,
            _ => {}
        }
    }
    false
}

impl ChatProvider for OpenAi {
    fn chat_request(
        &self,
        target: &Target,
        request: &switchyard_types::Verbatim<ChatCompletionRequest>,
    ) -> Result<UpstreamRequest, TranslateError> {
        Ok(UpstreamRequest {
            method: Method::POST,
            url: chat_url(&target.api_base),
            headers: headers(target)?,
            body: request_body(target, request)?,
        })
    }

    fn chat_response(&self, _target: &Target, body: Bytes) -> Result<ChatOutput, ProviderError> {
        let usage = match top_level_usage(&body, &FINDERS.choices) {
            Some(usage) => usage,
            None => {
                let peek: Peek = serde_json::from_slice(&body).map_err(ProviderError::malformed)?;
                peek.usage
            }
        };
        Ok(ChatOutput { body, usage })
    }

    fn chat_stream(&self, _target: &Target, strip_usage: bool) -> Box<dyn StreamTranslator> {
        Box::new(OpenAiStream {
            framer: Framer::new(),
            strip_usage,
            text: String::new(),
        })
    }

    fn error_response(&self, status: u16, body: &[u8]) -> ProviderError {
        openai_style_error(status, body)
    }

    /// Images, speech and moderations at `{base}/…`; rerank at `{base}/rerank` in the
    /// Jina/Voyage dialect (Cohere's request, translated).
    fn endpoint_request(
        &self,
        target: &Target,
        endpoint: Endpoint,
        request: &Map<String, Value>,
    ) -> Result<UpstreamRequest, TranslateError> {
        if endpoint == Endpoint::Rerank {
            return endpoints::rerank_request(target, request, headers(target)?);
        }
        Ok(UpstreamRequest {
            method: Method::POST,
            url: endpoints::url(&target.api_base, endpoint),
            headers: headers(target)?,
            body: endpoints::body(target, request)?,
        })
    }

    fn transcription_request(
        &self,
        target: &Target,
        translate: bool,
    ) -> Result<UpstreamRequest, TranslateError> {
        let path = if translate {
            "audio/translations"
        } else {
            "audio/transcriptions"
        };
        let mut h = headers(target)?;
        h.retain(|(k, _)| k != CONTENT_TYPE);
        Ok(UpstreamRequest {
            method: Method::POST,
            url: format!("{}/{path}", target.api_base.trim_end_matches('/')),
            headers: h,
            body: Bytes::new(),
        })
    }

    fn endpoint_response(
        &self,
        _target: &Target,
        endpoint: Endpoint,
        request: &Map<String, Value>,
        body: Bytes,
    ) -> Result<ChatOutput, ProviderError> {
        if endpoint == Endpoint::Rerank {
            return endpoints::rerank_response(request, &body);
        }
        let usage = endpoints::usage(endpoint, request, &body);
        Ok(ChatOutput { body, usage })
    }

    fn embedding_request(
        &self,
        target: &Target,
        request: &switchyard_types::Verbatim<switchyard_types::EmbeddingRequest>,
    ) -> Result<UpstreamRequest, TranslateError> {
        Ok(UpstreamRequest {
            method: Method::POST,
            url: embeddings_url(&target.api_base),
            headers: headers(target)?,
            body: embedding_body(target, request)?,
        })
    }

    fn embedding_response(
        &self,
        _target: &Target,
        _request: &EmbeddingRequest,
        body: Bytes,
    ) -> Result<ChatOutput, ProviderError> {
        #[derive(Deserialize)]
        struct Peek {
            #[allow(dead_code)]
            data: serde::de::IgnoredAny,
            #[serde(default)]
            usage: Option<switchyard_types::EmbeddingUsage>,
        }
        // Usage is read from the end: the vectors before it are forwarded unread.
        let usage = match top_level_usage::<switchyard_types::EmbeddingUsage>(&body, &FINDERS.data)
        {
            Some(usage) => usage,
            None => {
                let peek: Peek = serde_json::from_slice(&body).map_err(ProviderError::malformed)?;
                peek.usage
            }
        };
        Ok(ChatOutput {
            body,
            usage: usage.map(|u| crate::embeddings::usage(u.prompt_tokens)),
        })
    }
}

/// `{api_base}/embeddings`.
pub fn embeddings_url(api_base: &str) -> String {
    let base = api_base.trim_end_matches('/');
    if base.ends_with("/embeddings") {
        base.to_owned()
    } else {
        format!("{base}/embeddings")
    }
}

/// The embeddings body for an OpenAI-format server: the client's, with the deployment's
/// model and `extra_body` (chat defaults such as `temperature` do not apply).
///
/// Without `extra_body`, a request that still has the client's bytes goes as they were sent
/// ([`Verbatim::forward_body`]): a batch of thousands of texts is copied once, not cloned,
/// turned into a JSON tree and written out again.
pub fn embedding_body(
    target: &Target,
    request: &Verbatim<EmbeddingRequest>,
) -> Result<Bytes, TranslateError> {
    if target.extra_body.is_empty() {
        if let Some(body) = request.forward_body(&target.model, |_| false) {
            return Ok(Bytes::from(body));
        }
    }
    match serde_json::to_value(request.get()) {
        Ok(Value::Object(mut o)) => {
            o.insert("model".into(), Value::String(target.model.clone()));
            crate::embeddings::body(target, o)
        }
        Ok(_) => Err(TranslateError::Invalid("request is not an object".into())),
        Err(e) => Err(TranslateError::Invalid(e.to_string())),
    }
}

/// Forwards OpenAI SSE events unchanged, noting usage and the end marker.
#[derive(Debug, Default)]
pub struct OpenAiStream {
    framer: Framer,
    strip_usage: bool,
    /// Content and tool-call arguments seen, in case no usage comes.
    text: String,
}

/// Substring searchers built once: constructing one costs more than a search of a chunk.
struct Finders {
    usage: memchr::memmem::Finder<'static>,
    choices: memchr::memmem::Finder<'static>,
    data: memchr::memmem::Finder<'static>,
    usage_last: memchr::memmem::FinderRev<'static>,
    error: memchr::memmem::Finder<'static>,
    content: memchr::memmem::Finder<'static>,
    name: memchr::memmem::Finder<'static>,
    arguments: memchr::memmem::Finder<'static>,
    function: memchr::memmem::Finder<'static>,
}

static FINDERS: std::sync::LazyLock<Finders> = std::sync::LazyLock::new(|| Finders {
    usage: memchr::memmem::Finder::new(b"\"usage\""),
    choices: memchr::memmem::Finder::new(b"\"choices\""),
    data: memchr::memmem::Finder::new(b"\"data\""),
    usage_last: memchr::memmem::FinderRev::new(b"\"usage\""),
    error: memchr::memmem::Finder::new(b"\"error\""),
    content: memchr::memmem::Finder::new(b"\"content\":"),
    name: memchr::memmem::Finder::new(b"\"name\":"),
    arguments: memchr::memmem::Finder::new(b"\"arguments\":"),
    function: memchr::memmem::Finder::new(b"\"function"),
});

/// Appends to `out` every JSON string value of `"key"` in `data`, unescaped, without
/// parsing the document. Inside a JSON string every `"` is escaped, so the byte pattern
/// `"key":` can only be a real key; the value's end is the first `"` not escaped.
fn append_string_values(data: &[u8], key: &memchr::memmem::Finder<'_>, out: &mut String) {
    let mut pos = 0;
    while let Some(at) = key.find(&data[pos..]) {
        let mut i = pos + at + key.needle().len();
        pos = i;
        while data
            .get(i)
            .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        {
            i += 1;
        }
        if data.get(i) != Some(&b'"') {
            continue; // null, or not a string
        }
        let start = i;
        i += 1;
        let mut escaped = false;
        while let Some(off) = memchr::memchr2(b'"', b'\\', &data[i..]) {
            let j = i + off;
            if data[j] == b'\\' {
                escaped = true;
                i = j + 2; // skip the escaped byte
                if i > data.len() {
                    return; // a value cut after its backslash: nothing to keep
                }
                continue;
            }
            let raw = &data[start..=j];
            if escaped {
                if let Ok(s) = serde_json::from_slice::<String>(raw) {
                    out.push_str(&s);
                }
            } else if let Ok(s) = std::str::from_utf8(&raw[1..raw.len() - 1]) {
                out.push_str(s);
            }
            pos = j + 1;
            break;
        }
    }
}

/// Whether `"usage"` in `data` is followed by an object (not `null`).
fn usage_object_follows(data: &[u8]) -> bool {
    FINDERS.usage.find_iter(data).any(|at| {
        data[at + 7..]
            .iter()
            .find(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b':'))
            == Some(&b'{')
    })
}

#[derive(Deserialize)]
struct PeekUsageChunk {
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    choices: Option<Vec<serde::de::IgnoredAny>>,
}

impl OpenAiStream {
    /// Keeps the text of a chunk (content, tool names and arguments) for counting, should the
    /// provider send no usage. A byte scan, not a parse, to stay cheap on every chunk.
    fn note_text(&mut self, data: &[u8]) {
        let f = &*FINDERS;
        append_string_values(data, &f.content, &mut self.text);
        // Names and arguments come only in tool-call chunks (`"function":{…}` or the legacy
        // `"function_call":{…}`): one search rules both out for the other chunks.
        if f.function.find(data).is_some() {
            append_string_values(data, &f.name, &mut self.text);
            append_string_values(data, &f.arguments, &mut self.text);
        }
    }

    fn drain(&mut self, last: bool) -> StreamOutput {
        let mut out = StreamOutput::default();
        loop {
            let event = if last {
                self.framer.finish()
            } else {
                self.framer.next_event()
            };
            let Some(event) = event else { return out };
            if let Some(data) = &event.data {
                if data.as_ref() == b"[DONE]" {
                    out.done = true;
                } else if usage_object_follows(data) {
                    if let Ok(PeekUsageChunk {
                        usage: Some(u),
                        choices,
                    }) = serde_json::from_slice(data)
                    {
                        out.usage = Some(u);
                        // The usage-only chunk the client did not ask for: keep it to ourselves.
                        if self.strip_usage && choices.is_none_or(|c| c.is_empty()) {
                            continue;
                        }
                    }
                } else if FINDERS.error.find(data).is_some() {
                    // A provider error inside a 200 stream: pass it on, and end the stream.
                    if let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(data) {
                        if o.contains_key("error") {
                            out.events.push(event.raw);
                            out.error = Some(openai_style_error(502, data));
                            return out;
                        }
                    }
                }
                self.note_text(data);
            }
            out.events.push(event.raw);
        }
    }
}

impl StreamTranslator for OpenAiStream {
    fn push(&mut self, bytes: &[u8]) -> StreamOutput {
        self.framer.push(bytes);
        self.drain(false)
    }

    fn finish(&mut self) -> StreamOutput {
        self.drain(true)
    }

    fn completion_text(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_types::JsonObject;

    fn target() -> Target {
        Target {
            provider: "openai".into(),
            model: "gpt-4o-2024-08-06".into(),
            api_base: "http://127.0.0.1:1/v1/".into(),
            api_key: Some("sk-test".into()),
            ..Target::default()
        }
    }

    /// A request as the server parses it: with the client's bytes.
    fn req(json: &str) -> Verbatim<ChatCompletionRequest> {
        Verbatim::parse(Bytes::copy_from_slice(json.as_bytes())).unwrap()
    }

    #[test]
    fn builds_url_headers_and_body() {
        let mut t = target();
        t.organization = Some("org-1".into());
        t.extra_headers = vec![("x-extra".into(), "1".into())];
        let r = OpenAi
            .chat_request(&t, &req(r#"{"model":"gpt-4o-2024-08-06","messages":[{"role":"user","content":"hi"}],"seed":3,"vendor_field":{"a":1}}"#))
            .unwrap();
        assert_eq!(r.url, "http://127.0.0.1:1/v1/chat/completions");
        let find = |n: &str| {
            r.headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.to_str().unwrap().to_owned())
        };
        assert_eq!(find("authorization").as_deref(), Some("Bearer sk-test"));
        assert_eq!(find("openai-organization").as_deref(), Some("org-1"));
        assert_eq!(find("x-extra").as_deref(), Some("1"));
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["model"], "gpt-4o-2024-08-06");
        assert_eq!(body["seed"], 3);
        assert_eq!(body["vendor_field"]["a"], 1);
    }

    #[test]
    fn defaults_apply_only_where_the_client_set_nothing() {
        let mut t = target();
        let mut d = JsonObject::new();
        d.insert("temperature".into(), 0.1.into());
        d.insert("max_tokens".into(), 50.into());
        t.defaults = d;
        let body =
            request_body(&t, &req(r#"{"model":"x","messages":[],"temperature":0.9}"#)).unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["temperature"], 0.9);
        assert_eq!(body["max_tokens"], 50);
    }

    fn compat(provider: &str, model: &str) -> Target {
        Target {
            provider: provider.into(),
            model: model.into(),
            api_base: "http://127.0.0.1:1/v1".into(),
            ..Target::default()
        }
    }

    fn body_of(t: &Target, json: &str) -> Result<Value, TranslateError> {
        request_body(t, &req(json)).map(|b| serde_json::from_slice(&b).unwrap())
    }

    #[test]
    fn a_refused_parameter_is_an_error_unless_dropped() {
        let mut t = compat("groq", "llama-3.1-8b-instant");
        let r = r#"{"model":"x","messages":[],"logprobs":true,"temperature":0.5}"#;
        let e = body_of(&t, r).unwrap_err();
        assert_eq!(
            e,
            TranslateError::UnsupportedParam {
                provider: "groq".into(),
                param: "logprobs".into()
            }
        );
        assert!(e.to_string().contains("drop_params"), "{e}");
        t.drop_params = true;
        let b = body_of(&t, r).unwrap();
        assert!(b.get("logprobs").is_none());
        assert_eq!(b["temperature"], 0.5);
        assert_eq!(b["model"], "llama-3.1-8b-instant");
    }

    #[test]
    fn conditions_and_model_filters_decide() {
        let groq = compat("groq", "m");
        let one = body_of(&groq, r#"{"model":"x","messages":[],"n":1}"#).unwrap();
        assert_eq!(one["n"], 1);
        assert!(body_of(&groq, r#"{"model":"x","messages":[],"n":2}"#).is_err());
        let deepinfra = compat("deepinfra", "m");
        assert!(body_of(
            &deepinfra,
            r#"{"model":"x","messages":[],"tool_choice":"auto"}"#
        )
        .is_ok());
        let e = body_of(
            &deepinfra,
            r#"{"model":"x","messages":[],"tool_choice":"required"}"#,
        );
        assert!(
            matches!(e, Err(TranslateError::UnsupportedParam { ref param, .. }) if param == "tool_choice")
        );
        // `stop` is refused by xAI's reasoning models only.
        let stop = r#"{"model":"x","messages":[],"stop":["\n"]}"#;
        assert!(body_of(&compat("xai", "grok-4-0709"), stop).is_err());
        assert_eq!(
            body_of(&compat("xai", "grok-3"), stop).unwrap()["stop"][0],
            "\n"
        );
        // Fields the request does not model (`functions`) are quirks like any other.
        let f = r#"{"model":"x","messages":[],"functions":[{"name":"f"}]}"#;
        assert!(body_of(&compat("perplexity", "sonar"), f).is_err());
        assert!(body_of(&compat("groq", "m"), f).is_ok());
    }

    #[test]
    fn renamed_parameters_arrive_renamed() {
        let t = compat("mistral", "mistral-small-latest");
        let b = body_of(
            &t,
            r#"{"model":"x","messages":[],"seed":7,"max_tokens":5,"max_completion_tokens":9}"#,
        )
        .unwrap();
        assert_eq!(b["random_seed"], 7);
        assert!(b.get("seed").is_none());
        // The newer name wins, as in LiteLLM.
        assert_eq!(b["max_tokens"], 9);
        assert!(b.get("max_completion_tokens").is_none());
        // A deployment default is renamed too; extra_body is sent as written.
        let mut d = compat("mistral", "m");
        d.defaults.insert("seed".into(), 3.into());
        d.extra_body.insert("safe_prompt".into(), true.into());
        let b = body_of(&d, r#"{"model":"x","messages":[]}"#).unwrap();
        assert_eq!(b["random_seed"], 3);
        assert_eq!(b["safe_prompt"], true);
    }

    #[test]
    fn model_prefix_from_the_row() {
        let b = body_of(
            &compat("fireworks_ai", "llama-v3p1-8b-instruct"),
            r#"{"model":"x","messages":[]}"#,
        )
        .unwrap();
        assert_eq!(
            b["model"],
            "accounts/fireworks/models/llama-v3p1-8b-instruct"
        );
    }

    #[test]
    fn a_plain_request_takes_the_fast_path() {
        let json = r#"{"model":"x","messages":[{"role":"user","content":"hi"}],"temperature":0.2,"max_tokens":9,"stream":true}"#;
        for provider in ["openai", "groq", "mistral", "cerebras", "perplexity"] {
            let t = compat(provider, "m");
            // With the client's bytes: forwarded as sent, the model id set.
            assert_eq!(
                request_body(&t, &req(json)).unwrap(),
                json.replace(r#""model":"x""#, r#""model":"m""#).as_bytes(),
                "{provider}"
            );
            // Without (a request built in code, or changed): serialised straight from the
            // typed request (struct field order), not via a map.
            let mut expected = req(json).into_inner();
            expected.model = "m".into();
            assert_eq!(
                request_body(&t, &req(json).into_inner().into()).unwrap(),
                serde_json::to_vec(&expected).unwrap(),
                "{provider}"
            );
        }
    }

    #[test]
    fn a_quirk_parameter_present_even_as_null_is_rewritten_not_forwarded() {
        // groq refuses `logprobs`: a null one is not set, and is left out like any unset
        // typed field rather than forwarded.
        let t = compat("groq", "m");
        let b = body_of(
            &t,
            r#"{"model":"x","messages":[],"logprobs":null,"seed":1}"#,
        )
        .unwrap();
        assert!(b.get("logprobs").is_none(), "{b}");
        assert_eq!(b["seed"], 1);
        // A default or `extra_body` on the deployment: rebuilt, with them.
        let mut d = target();
        d.extra_body.insert("vendor".into(), 2.into());
        let b = body_of(&d, r#"{"model":"x","messages":[],"seed":1}"#).unwrap();
        assert_eq!(
            (b["vendor"].clone(), b["seed"].clone()),
            (2.into(), 1.into())
        );
    }

    #[test]
    fn every_quirk_parameter_is_seen_on_a_typed_request() {
        // A quirk naming a typed field must be noticed without serialising: set each one
        // through JSON and check `is_set` finds it.
        for row in crate::compat::PROVIDERS {
            for q in row.quirks {
                let seen = ["1", "true", r#""a""#, r#"{"type":"text"}"#, "[]"]
                    .iter()
                    .filter_map(|v| {
                        serde_json::from_str::<ChatCompletionRequest>(&format!(
                            r#"{{"model":"x","messages":[],"{}":{v}}}"#,
                            q.param
                        ))
                        .ok()
                    })
                    .any(|r| is_set(&r, q.param));
                assert!(seen, "{}: {}", row.name, q.param);
            }
        }
    }

    #[test]
    fn url_keeps_a_full_path() {
        assert_eq!(
            chat_url("http://h/v1/chat/completions"),
            "http://h/v1/chat/completions"
        );
        assert_eq!(chat_url("http://h"), "http://h/chat/completions");
    }

    #[test]
    fn response_body_passes_through_and_usage_is_read() {
        let body = Bytes::from_static(br#"{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7},"custom":true}"#);
        let out = OpenAi.chat_response(&target(), body.clone()).unwrap();
        assert_eq!(out.body, body);
        assert_eq!(out.usage.unwrap().total_tokens, 7);
        let err = OpenAi
            .chat_response(&target(), Bytes::from_static(b"<html>"))
            .unwrap_err();
        assert_eq!(err.status, 502);
        let err = OpenAi
            .chat_response(&target(), Bytes::from_static(b"{\"ok\":1}"))
            .unwrap_err();
        assert!(err.message.contains("choices"), "{}", err.message);
    }

    /// The usage read from the end of a body is the one a full parse finds, and every body
    /// the shortcut cannot vouch for is parsed whole.
    #[test]
    fn top_level_usage_agrees_with_a_full_parse() {
        let full = |b: &str| {
            serde_json::from_str::<Peek>(b)
                .ok()
                .map(|p| p.usage.map(|u| u.total_tokens))
        };
        let fast = |b: &str| {
            top_level_usage::<Usage>(b.as_bytes(), &FINDERS.choices)
                .map(|u| u.map(|u| u.total_tokens))
        };
        let usage = r#""usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7,"prompt_tokens_details":{"cached_tokens":1},"x":[1,{"y":"}"}]}"#;
        // Taken: usage last, usage followed by members, usage first, `null`, whitespace.
        for body in [
            format!(r#"{{"id":"a","choices":[{{"message":{{"content":"hi"}}}}],{usage}}}"#),
            format!(r#"{{"choices":[],{usage},"system_fingerprint":"fp\"}}]","n":[{{}}]}}"#),
            format!(r#"{{{usage},"choices":[{{"message":{{"content":"\"usage\": {{"}}}}]}}"#),
            r#"{"choices":[],"usage":null}"#.to_owned(),
            format!(
                "\n {{ \"choices\" : [] , {} }} \n",
                usage.replace(':', " : ")
            ),
        ] {
            assert!(fast(&body).is_some(), "{body}");
            assert_eq!(fast(&body), full(&body), "{body}");
        }
        // Declined (parsed whole): a nested usage only, a usage in a string last, a truncated
        // body, trailing bytes, no choices, not an object.
        for body in [
            r#"{"choices":[{"usage":{"prompt_tokens":1}}]}"#.to_owned(),
            format!(r#"{{{usage},"choices":[{{"message":{{"content":"say \"usage"}}}}]}}"#),
            format!(r#"{{"choices":[],{usage}"#),
            format!(r#"{{"choices":[],{usage}}}}}"#),
            format!(r#"{{"choices":[],{usage}}} x"#),
            format!(r#"{{"data":[],{usage}}}"#),
            format!(r#"[{{"choices":[],{usage}}}]"#),
        ] {
            assert_eq!(fast(&body), None, "{body}");
        }
        // A usage the shortcut declines is still read by the full parse.
        let body = format!(r#"{{{usage},"choices":[{{"message":{{"content":"say \"usage"}}}}]}}"#);
        let out = OpenAi.chat_response(&target(), Bytes::from(body)).unwrap();
        assert_eq!(out.usage.unwrap().total_tokens, 7);
        // A truncated body is still refused.
        let body = format!(r#"{{"choices":[],{usage}"#);
        assert!(OpenAi.chat_response(&target(), Bytes::from(body)).is_err());
    }

    #[test]
    fn embedding_usage_is_read_from_the_end_as_a_full_parse_reads_it() {
        let req = EmbeddingRequest::default();
        let read = |body: String| {
            OpenAi
                .embedding_response(&target(), &req, Bytes::from(body))
                .map(|o| o.usage.map(|u| u.prompt_tokens))
        };
        let floats = vec!["-0.0123456"; 1536].join(",");
        let usage = r#""usage":{"prompt_tokens":8,"total_tokens":8}"#;
        // Usage last (OpenAI's order), first, or absent; a nested usage is not the body's.
        let last = format!(
            r#"{{"object":"list","data":[{{"object":"embedding","index":0,"embedding":[{floats}]}}],"model":"m",{usage}}}"#
        );
        assert!(top_level_usage::<switchyard_types::EmbeddingUsage>(
            last.as_bytes(),
            &FINDERS.data
        )
        .is_some());
        assert_eq!(read(last).unwrap(), Some(8));
        let first = format!(r#"{{{usage},"data":[{{"embedding":[{floats}]}}]}}"#);
        assert_eq!(read(first).unwrap(), Some(8));
        assert_eq!(read(r#"{"data":[]}"#.into()).unwrap(), None);
        let nested = r#"{"data":[{"embedding":[1],"usage":{"prompt_tokens":3}}]}"#;
        assert_eq!(read(nested.into()).unwrap(), None);
        // Still refused: a truncated body, a body without `data`, a usage of the wrong shape.
        assert!(read(format!(r#"{{"data":[{{"embedding":[{floats}]}}],{usage}"#)).is_err());
        assert!(read(format!("{{{usage}}}")).is_err());
        assert!(read(r#"{"data":[],"usage":{"prompt_tokens":"many"}}"#.into()).is_err());
    }

    #[test]
    fn stream_events_pass_through_with_usage_and_done() {
        let mut s = OpenAi.chat_stream(&target(), false);
        let a = s.push(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}],\"usage\":null}\n\ndata: {\"choices\":[],\"usa");
        assert_eq!(a.events.len(), 1);
        assert!(a.usage.is_none());
        let b = s.push(b"ge\":{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3}}\n\ndata: [DONE]\n\n");
        assert_eq!(b.events.len(), 2);
        assert_eq!(b.usage.unwrap().completion_tokens, 2);
        assert!(b.done);
        assert!(s.finish().events.is_empty());
    }

    #[test]
    fn text_is_kept_for_counting_and_null_usage_is_not_parsed() {
        let mut s = OpenAi.chat_stream(&target(), false);
        s.push(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}],\"usage\":null}\n\n");
        s.push(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo \\\"x\\\"\",\"tool_calls\":[{\"index\":0,\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}}]}\n\n");
        // The legacy `function_call` delta too.
        s.push(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"function_call\":{\"name\":\"g\",\"arguments\":\"[1]\"}}}]}\n\n");
        assert_eq!(s.completion_text(), "Hello \"x\"f{}g[1]");
        let mut out = String::new();
        append_string_values(
            br#"{"content": "a\u00e9\n", "x": {"content":null}, "y":"\"content\":\"no\""}"#,
            &FINDERS.content,
            &mut out,
        );
        assert_eq!(out, "a\u{e9}\n");
        // A value that ends on its backslash (a broken chunk) is skipped, without a panic.
        let mut out = String::new();
        append_string_values(b"{\"content\":\"abc\\", &FINDERS.content, &mut out);
        assert!(out.is_empty());
        assert!(usage_object_follows(b"{\"usage\": {\"prompt_tokens\":1}}"));
        assert!(!usage_object_follows(b"{\"usage\":null}"));
    }

    #[test]
    fn the_usage_chunk_is_stripped_when_only_the_gateway_asked() {
        let mut s = OpenAi.chat_stream(&target(), true);
        let out = s.push(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}],\"usage\":null}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3}}\n\ndata: [DONE]\n\n");
        assert_eq!(out.events.len(), 2, "content chunk and [DONE] only");
        assert_eq!(out.usage.unwrap().total_tokens, 3);
        assert!(out.done);
    }

    #[test]
    fn an_error_inside_a_stream_is_forwarded_and_reported() {
        let mut s = OpenAi.chat_stream(&target(), false);
        let out =
            s.push(b"data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n");
        assert_eq!(out.events.len(), 1, "the error event is forwarded");
        assert_eq!(out.error.unwrap().message, "overloaded");
    }
}
