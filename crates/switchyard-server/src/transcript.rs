//! What a request said and what it got back, for log sinks that keep message bodies
//! (LiteLLM's `messages` and `response` in its standard logging payload; off with
//! `litellm_settings.turn_off_message_logging`). Kept only when a sink wants it, so the
//! request path pays nothing otherwise.
//!
//! A streamed answer is rebuilt from its events as they pass (OpenAI chat and text chunks,
//! Anthropic content deltas, Responses text deltas) into one chat completion, bounded to
//! [`LIMIT`] bytes of text.

use bytes::Bytes;
use serde_json::{json, Map, Value};

/// Text kept from one streamed answer at most.
pub const LIMIT: usize = 1 << 20;

/// One choice of a streamed answer, as far as it came.
#[derive(Default)]
struct Choice {
    content: String,
    /// Tool calls by index: id, name, arguments.
    tools: Vec<(String, String, String)>,
    finish: Option<String>,
}

/// Rebuilds a streamed answer from the bytes sent to the client.
#[derive(Default)]
pub struct StreamText {
    line: Vec<u8>,
    model: Option<String>,
    choices: Vec<Choice>,
    kept: usize,
    truncated: bool,
}

impl StreamText {
    /// Takes the next piece of the stream (SSE, split anywhere).
    pub fn observe(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' {
                let line = std::mem::take(&mut self.line);
                self.line_done(&line);
            } else if self.line.len() < LIMIT {
                self.line.push(b);
            }
        }
    }

    fn line_done(&mut self, line: &[u8]) {
        let Some(data) = line.strip_prefix(b"data:") else {
            return;
        };
        let Ok(event) = serde_json::from_slice::<Value>(data.trim_ascii()) else {
            return;
        };
        if self.model.is_none() {
            if let Some(m) = event
                .get("model")
                .or_else(|| event.pointer("/message/model"))
                .or_else(|| event.pointer("/response/model"))
                .and_then(Value::as_str)
            {
                self.model = Some(m.to_owned());
            }
        }
        if let Some(choices) = event.get("choices").and_then(Value::as_array) {
            for c in choices {
                let i = c.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
                let text = c
                    .pointer("/delta/content")
                    .or_else(|| c.get("text"))
                    .and_then(Value::as_str);
                if let Some(t) = text {
                    self.push_text(i, t);
                }
                for call in c
                    .pointer("/delta/tool_calls")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    self.push_tool(i, call);
                }
                if let Some(f) = c.get("finish_reason").and_then(Value::as_str) {
                    self.choice(i).finish = Some(f.to_owned());
                }
            }
            return;
        }
        match event.get("type").and_then(Value::as_str) {
            // Anthropic Messages.
            Some("content_block_delta") => {
                if let Some(t) = event.pointer("/delta/text").and_then(Value::as_str) {
                    self.push_text(0, t);
                }
            }
            Some("message_delta") => {
                if let Some(f) = event.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.choice(0).finish = Some(f.to_owned());
                }
            }
            // Responses.
            Some("response.output_text.delta") => {
                if let Some(t) = event.get("delta").and_then(Value::as_str) {
                    self.push_text(0, t);
                }
            }
            _ => {}
        }
    }

    fn choice(&mut self, i: usize) -> &mut Choice {
        let i = i.min(127);
        if self.choices.len() <= i {
            self.choices.resize_with(i + 1, Choice::default);
        }
        &mut self.choices[i]
    }

    fn room(&mut self, n: usize) -> bool {
        if self.kept + n > LIMIT {
            self.truncated = true;
            return false;
        }
        self.kept += n;
        true
    }

    fn push_text(&mut self, i: usize, t: &str) {
        if self.room(t.len()) {
            self.choice(i).content.push_str(t);
        }
    }

    fn push_tool(&mut self, i: usize, call: &Value) {
        let at = call.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
        let s = |p: &str| call.pointer(p).and_then(Value::as_str).unwrap_or_default();
        let (id, name, args) = (s("/id"), s("/function/name"), s("/function/arguments"));
        if !self.room(id.len() + name.len() + args.len()) {
            return;
        }
        let tools = &mut self.choice(i).tools;
        if tools.len() <= at.min(127) {
            tools.resize_with(at.min(127) + 1, Default::default);
        }
        let t = &mut tools[at.min(127)];
        t.0.push_str(id);
        t.1.push_str(name);
        t.2.push_str(args);
    }

    /// The answer as one chat completion.
    pub fn finish(self) -> Value {
        let choices: Vec<Value> = self
            .choices
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let mut message = Map::new();
                message.insert("role".into(), json!("assistant"));
                message.insert("content".into(), json!(c.content));
                if !c.tools.is_empty() {
                    let calls: Vec<Value> = c
                        .tools
                        .into_iter()
                        .map(|(id, name, args)| {
                            json!({"id": id, "type": "function",
                                   "function": {"name": name, "arguments": args}})
                        })
                        .collect();
                    message.insert("tool_calls".into(), Value::Array(calls));
                }
                json!({"index": i, "message": message, "finish_reason": c.finish})
            })
            .collect();
        let mut out = json!({"object": "chat.completion", "model": self.model, "choices": choices});
        if self.truncated {
            out["truncated"] = json!(true);
        }
        out
    }
}

/// A complete answer's body as logged: the bytes the client got (shared, not copied), left
/// out (empty) when they are neither JSON nor text, such as audio. A sink writes JSON as it
/// is and other text as a string.
pub fn body(bytes: &Bytes, content_type: Option<&str>) -> Bytes {
    if content_type.is_some_and(|c| !c.contains("json") && !c.starts_with("text/")) {
        return Bytes::new();
    }
    bytes.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebuilds_chat_chunks_split_anywhere() {
        let events = [
            json!({"model": "m", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}]}),
            json!({"model": "m", "choices": [{"index": 0, "delta": {"content": "lo"}}]}),
            json!({"model": "m", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": "{\"a\""}}]}}]}),
            json!({"model": "m", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]}, "finish_reason": "tool_calls"}]}),
        ];
        let mut wire = String::new();
        for e in &events {
            wire.push_str(&format!("data: {e}\n\n"));
        }
        wire.push_str("data: [DONE]\n\n");
        let mut t = StreamText::default();
        for piece in wire.as_bytes().chunks(7) {
            t.observe(piece);
        }
        let out = t.finish();
        assert_eq!(out["model"], "m");
        let c = &out["choices"][0];
        assert_eq!(c["message"]["content"], "Hello");
        assert_eq!(c["message"]["tool_calls"][0]["id"], "c1");
        assert_eq!(
            c["message"]["tool_calls"][0]["function"]["arguments"],
            "{\"a\":1}"
        );
        assert_eq!(c["finish_reason"], "tool_calls");
    }

    #[test]
    fn rebuilds_anthropic_and_responses_text() {
        let mut t = StreamText::default();
        t.observe(b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude\"}}\n\n");
        t.observe(b"data: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n");
        t.observe(
            b"data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"}}\n\n",
        );
        let out = t.finish();
        assert_eq!(out["model"], "claude");
        assert_eq!(out["choices"][0]["message"]["content"], "Hi");
        assert_eq!(out["choices"][0]["finish_reason"], "end_turn");

        let mut t = StreamText::default();
        t.observe(b"data: {\"type\":\"response.output_text.delta\",\"delta\":\"Yo\"}\n\n");
        assert_eq!(t.finish()["choices"][0]["message"]["content"], "Yo");
    }

    #[test]
    fn text_is_bounded() {
        let mut t = StreamText::default();
        let big = "x".repeat(LIMIT / 2 + 1);
        for _ in 0..3 {
            let e = json!({"choices": [{"index": 0, "delta": {"content": big}}]});
            t.observe(format!("data: {e}\n\n").as_bytes());
        }
        let out = t.finish();
        assert_eq!(out["truncated"], true);
        assert_eq!(
            out["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .len(),
            LIMIT / 2 + 1
        );
    }
}
