//! Usage read from provider-native answers, for the pass-through routes (`/openai/*`,
//! `/anthropic/*`, `/gemini/*`, `/vertex_ai/*`, `/cohere/*`): whatever the provider's format,
//! a complete body or each stream event is looked at for its usage, so the call is priced and
//! counted against budgets like any other.

use memchr::memmem;
use serde_json::Value;
use switchyard_types::{CompletionTokensDetails, PromptTokensDetails, Usage};

use crate::sse::Framer;

/// Usage as the answer reports it so far; fields a later event sends replace earlier ones
/// (stream usage is cumulative in every format).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Tally {
    input: Option<u64>,
    output: Option<u64>,
    cache_read: Option<u64>,
    cache_write: Option<u64>,
    reasoning: Option<u64>,
    /// Input excludes cache reads and writes (Anthropic) rather than including them.
    input_excludes_cache: bool,
}

fn num(v: &Value, key: &str) -> Option<u64> {
    v.get(key).and_then(Value::as_u64)
}

impl Tally {
    /// Reads the usage of one JSON document (a body or a stream event), if it has any.
    pub fn read(&mut self, doc: &Value) {
        if let Some(u) = doc.get("usageMetadata") {
            // Gemini / Vertex AI.
            self.set(num(u, "promptTokenCount"), num(u, "candidatesTokenCount"));
            self.cache_read = num(u, "cachedContentTokenCount").or(self.cache_read);
            self.reasoning = num(u, "thoughtsTokenCount").or(self.reasoning);
            return;
        }
        let u = doc
            .get("usage")
            .or_else(|| doc.pointer("/message/usage"))
            .or_else(|| doc.pointer("/response/usage"))
            .filter(|u| u.is_object());
        let Some(u) = u else { return };
        if u.get("inputTokens").is_some() {
            // Bedrock Converse (input excludes the cache).
            self.set(num(u, "inputTokens"), num(u, "outputTokens"));
            self.input_excludes_cache = true;
            self.cache_read = num(u, "cacheReadInputTokens").or(self.cache_read);
            self.cache_write = num(u, "cacheWriteInputTokens").or(self.cache_write);
        } else if let Some(b) = u.get("billed_units") {
            // Cohere.
            self.set(num(b, "input_tokens"), num(b, "output_tokens"));
        } else if u.get("prompt_tokens").is_some() {
            // OpenAI chat, completions, embeddings.
            self.set(num(u, "prompt_tokens"), num(u, "completion_tokens"));
            self.cache_read = u
                .pointer("/prompt_tokens_details/cached_tokens")
                .and_then(Value::as_u64)
                .or(self.cache_read);
            self.reasoning = u
                .pointer("/completion_tokens_details/reasoning_tokens")
                .and_then(Value::as_u64)
                .or(self.reasoning);
        } else if u.get("input_tokens").is_some() || u.get("output_tokens").is_some() {
            // Anthropic (input excludes the cache) or OpenAI Responses (input includes it).
            self.set(num(u, "input_tokens"), num(u, "output_tokens"));
            if let Some(d) = u.get("input_tokens_details") {
                self.cache_read = num(d, "cached_tokens").or(self.cache_read);
                self.reasoning = u
                    .pointer("/output_tokens_details/reasoning_tokens")
                    .and_then(Value::as_u64)
                    .or(self.reasoning);
            } else {
                self.input_excludes_cache = true;
                self.cache_read = num(u, "cache_read_input_tokens").or(self.cache_read);
                self.cache_write = num(u, "cache_creation_input_tokens").or(self.cache_write);
            }
        }
    }

    fn set(&mut self, input: Option<u64>, output: Option<u64>) {
        self.input = input.or(self.input);
        self.output = output.or(self.output);
    }

    /// The usage in the gateway's terms, once anything was reported.
    pub fn usage(&self) -> Option<Usage> {
        if self.input.is_none() && self.output.is_none() {
            return None;
        }
        let read = self.cache_read.unwrap_or(0);
        let write = self.cache_write.unwrap_or(0);
        let mut prompt = self.input.unwrap_or(0);
        if self.input_excludes_cache {
            prompt += read + write;
        }
        let completion = self.output.unwrap_or(0);
        let mut extra = serde_json::Map::new();
        if write > 0 {
            extra.insert("cache_creation_input_tokens".into(), write.into());
        }
        Some(Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
            prompt_tokens_details: (read > 0).then(|| PromptTokensDetails {
                cached_tokens: Some(read),
                ..PromptTokensDetails::default()
            }),
            completion_tokens_details: self.reasoning.map(|r| CompletionTokensDetails {
                reasoning_tokens: Some(r),
                ..CompletionTokensDetails::default()
            }),
            extra,
        })
    }
}

/// Reads usage from a stream's events as they pass, without holding the stream.
#[derive(Debug, Default)]
pub struct StreamTally {
    framer: Framer,
    /// What was read so far.
    pub tally: Tally,
}

impl StreamTally {
    /// Looks at the next bytes of an SSE stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.framer.push(bytes);
        while let Some(ev) = self.framer.next_event() {
            let Some(data) = ev.data else { continue };
            // Most events carry no usage (`usage`, `usageMetadata`): skip them unparsed.
            if memmem::find(&data, b"usage").is_none()
                && memmem::find(&data, b"usageMetadata").is_none()
            {
                continue;
            }
            if let Ok(v) = serde_json::from_slice::<Value>(&data) {
                self.tally.read(&v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn every_format_is_read() {
        let u = |docs: &[Value]| {
            let mut t = Tally::default();
            for d in docs {
                t.read(d);
            }
            let u = t.usage().unwrap();
            (
                u.prompt_tokens,
                u.completion_tokens,
                u.prompt_tokens_details.and_then(|d| d.cached_tokens),
            )
        };
        assert_eq!(
            u(&[
                json!({"usage": {"prompt_tokens": 9, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": 4}}})
            ]),
            (9, 3, Some(4))
        );
        // Anthropic stream: input at message_start, output at message_delta; cache apart.
        assert_eq!(
            u(&[
                json!({"type": "message_start", "message": {"usage": {"input_tokens": 10, "output_tokens": 1, "cache_read_input_tokens": 5}}}),
                json!({"type": "message_delta", "usage": {"output_tokens": 7}}),
            ]),
            (15, 7, Some(5))
        );
        assert_eq!(
            u(&[
                json!({"type": "response.completed", "response": {"usage": {"input_tokens": 8, "input_tokens_details": {"cached_tokens": 2}, "output_tokens": 4}}})
            ]),
            (8, 4, Some(2))
        );
        assert_eq!(
            u(&[json!({"usageMetadata": {"promptTokenCount": 6, "candidatesTokenCount": 2}})]),
            (6, 2, None)
        );
        assert_eq!(
            u(&[json!({"usage": {"billed_units": {"input_tokens": 3, "output_tokens": 1}}})]),
            (3, 1, None)
        );
        assert_eq!(
            u(&[
                json!({"usage": {"inputTokens": 4, "outputTokens": 2, "cacheReadInputTokens": 1}})
            ]),
            (5, 2, Some(1))
        );
        assert!(Tally::default().usage().is_none());
        let mut s = StreamTally::default();
        s.push(b"data: {\"choices\":[]}\n\ndata: {\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\n\n");
        assert_eq!(s.tally.usage().unwrap().total_tokens, 3);
    }
}
