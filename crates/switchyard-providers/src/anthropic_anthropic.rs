//! Anthropic Messages format in, Anthropic out: `/v1/messages` to an `anthropic/…` deployment.
//!
//! The client's body goes through as it was sent (`cache_control`, `thinking`, server tools,
//! betas and any field Switchyard does not know are kept): only `model` becomes the
//! deployment's, `max_tokens` gets the deployment's default when missing, `metadata` keeps only
//! Anthropic's `user_id` (the rest is the gateway's), and the deployment's `extra_body` is
//! merged. The answer and every stream event are forwarded byte for byte; usage is read on the
//! side (`message_start` and `message_delta`) to price the call.

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};
use serde_json::{json, Map, Value};

use crate::openai_anthropic::{
    anthropic_error, headers, messages_url, usage_of, AnthropicUsage, DEFAULT_MAX_TOKENS,
};
use crate::sse::Framer;
use crate::{
    ChatOutput, ChatProvider, ProviderError, StreamOutput, StreamTranslator, Target,
    TranslateError, UpstreamRequest,
};

/// The upstream call for a Messages body, with the client's `anthropic-beta` header passed on.
/// The caller has removed the gateway's own body keys.
pub fn messages_request(
    target: &Target,
    mut body: Map<String, Value>,
    beta: Option<&str>,
) -> Result<UpstreamRequest, TranslateError> {
    body.insert("model".into(), json!(target.model));
    if !body.contains_key("max_tokens") {
        let max = target
            .defaults
            .get("max_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(DEFAULT_MAX_TOKENS);
        body.insert("max_tokens".into(), json!(max));
    }
    for (k, v) in &target.defaults {
        body.entry(k.clone()).or_insert_with(|| v.clone());
    }
    if let Some(Value::Object(m)) = body.remove("metadata") {
        if let Some(u) = m.get("user_id") {
            body.insert("metadata".into(), json!({"user_id": u}));
        }
    }
    for (k, v) in &target.extra_body {
        body.insert(k.clone(), v.clone());
    }
    let mut h = headers(target)?;
    if let Some(b) = beta.filter(|b| !b.is_empty()) {
        let v = HeaderValue::try_from(b)
            .map_err(|_| TranslateError::Invalid("anthropic-beta is not a valid header".into()))?;
        h.push((HeaderName::from_static("anthropic-beta"), v));
    }
    Ok(UpstreamRequest {
        method: Method::POST,
        url: messages_url(&target.api_base),
        headers: h,
        body: Bytes::from(
            serde_json::to_vec(&Value::Object(body))
                .map_err(|e| TranslateError::Invalid(e.to_string()))?,
        ),
    })
}

/// Anthropic's answers, kept in Anthropic's format.
#[derive(Debug, Clone, Copy, Default)]
pub struct Native;

impl ChatProvider for Native {
    fn chat_request(
        &self,
        _target: &Target,
        _request: &switchyard_types::Verbatim<switchyard_types::ChatCompletionRequest>,
    ) -> Result<UpstreamRequest, TranslateError> {
        Err(TranslateError::Config(
            "the Anthropic pass-through builds its request with messages_request".into(),
        ))
    }

    fn chat_response(&self, _target: &Target, body: Bytes) -> Result<ChatOutput, ProviderError> {
        let usage = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("usage").cloned())
            .and_then(|u| serde_json::from_value::<AnthropicUsage>(u).ok())
            .map(|u| usage_of(&u));
        Ok(ChatOutput { body, usage })
    }

    fn chat_stream(&self, _target: &Target, _strip_usage: bool) -> Box<dyn StreamTranslator> {
        Box::new(NativeStream::default())
    }

    fn error_response(&self, status: u16, body: &[u8]) -> ProviderError {
        anthropic_error(status, body)
    }
}

/// Forwards Anthropic's events as they are, reading usage and the end on the side.
#[derive(Default)]
struct NativeStream {
    framer: Framer,
    usage: AnthropicUsage,
}

impl NativeStream {
    fn on_event(&mut self, ev: crate::sse::Event, out: &mut StreamOutput) {
        let kind = ev.event.as_deref().unwrap_or_default();
        let wanted = matches!(
            kind,
            b"message_start" | b"message_delta" | b"message_stop" | b"error"
        );
        if wanted {
            let v = ev
                .data
                .as_deref()
                .and_then(|d| serde_json::from_slice::<Value>(d).ok())
                .unwrap_or(Value::Null);
            match kind {
                b"message_start" => {
                    if let Some(u) = v.pointer("/message/usage") {
                        self.usage = serde_json::from_value(u.clone()).unwrap_or_default();
                    }
                    out.usage = Some(usage_of(&self.usage));
                }
                b"message_delta" => {
                    if let Some(u) = v.get("usage") {
                        let more: AnthropicUsage =
                            serde_json::from_value(u.clone()).unwrap_or_default();
                        let u = &mut self.usage;
                        u.output_tokens = more.output_tokens.or(u.output_tokens);
                        u.input_tokens = more.input_tokens.or(u.input_tokens);
                        u.cache_read_input_tokens =
                            more.cache_read_input_tokens.or(u.cache_read_input_tokens);
                        u.cache_creation_input_tokens = more
                            .cache_creation_input_tokens
                            .or(u.cache_creation_input_tokens);
                    }
                    out.usage = Some(usage_of(&self.usage));
                }
                b"message_stop" => out.done = true,
                _ => {
                    let e = v.get("error").cloned().unwrap_or(Value::Null);
                    let kind = e.get("type").and_then(Value::as_str).map(str::to_owned);
                    out.error = Some(ProviderError {
                        status: match kind.as_deref() {
                            Some("overloaded_error") => 503,
                            Some("rate_limit_error") => 429,
                            Some("invalid_request_error") => 400,
                            _ => 500,
                        },
                        message: e
                            .get("message")
                            .and_then(Value::as_str)
                            .unwrap_or("stream error")
                            .to_owned(),
                        kind,
                        code: None,
                        param: None,
                    });
                }
            }
        }
        out.events.push(ev.raw);
    }
}

impl StreamTranslator for NativeStream {
    fn push(&mut self, bytes: &[u8]) -> StreamOutput {
        self.framer.push(bytes);
        let mut out = StreamOutput::default();
        while let Some(ev) = self.framer.next_event() {
            self.on_event(ev, &mut out);
        }
        out
    }

    fn finish(&mut self) -> StreamOutput {
        let mut out = StreamOutput::default();
        if let Some(ev) = self.framer.finish() {
            self.on_event(ev, &mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn body_passes_through_with_the_deployment_model() {
        let target = Target {
            provider: "anthropic".into(),
            model: "claude-sonnet-4-5".into(),
            api_base: "http://x".into(),
            api_key: Some("k".into()),
            ..Target::default()
        };
        let body: Map<String, Value> = serde_json::from_str(
            r#"{"model":"alias","messages":[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral"}}]}],
            "thinking":{"type":"enabled","budget_tokens":2000},"metadata":{"user_id":"u","tags":["a"]}}"#,
        )
        .unwrap();
        let up = messages_request(&target, body, Some("prompt-caching-2024-07-31")).unwrap();
        assert_eq!(up.url, "http://x/v1/messages");
        let sent: Value = serde_json::from_slice(&up.body).unwrap();
        assert_eq!(sent["model"], "claude-sonnet-4-5");
        assert_eq!(sent["max_tokens"], DEFAULT_MAX_TOKENS);
        assert_eq!(sent["metadata"], json!({"user_id": "u"}));
        assert_eq!(sent["thinking"]["budget_tokens"], 2000);
        assert_eq!(
            sent["messages"][0]["content"][0]["cache_control"]["type"],
            "ephemeral"
        );
        let h = |n: &str| {
            up.headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(h("anthropic-beta").unwrap(), "prompt-caching-2024-07-31");
        assert_eq!(h("x-api-key").unwrap(), "k");
    }

    #[test]
    fn stream_is_forwarded_as_is_with_usage_read() {
        let mut t = Native.chat_stream(&Target::default(), false);
        let src = concat!(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":12,\"cache_read_input_tokens\":3,\"output_tokens\":1}}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":9}}\n\n",
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        );
        let mut out = t.push(&src.as_bytes()[..50]);
        let rest = t.push(&src.as_bytes()[50..]);
        out.events.extend(rest.events);
        let joined: Vec<u8> = out.events.iter().flat_map(|b| b.to_vec()).collect();
        assert_eq!(joined, src.as_bytes());
        assert!(rest.done);
        let u = rest.usage.unwrap();
        assert_eq!((u.prompt_tokens, u.completion_tokens), (15, 9));
    }
}
