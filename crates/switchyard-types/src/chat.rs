//! OpenAI chat completions: the request, the response and the stream chunk.
//!
//! Field names and shapes follow the OpenAI API reference. Each struct keeps the fields it does
//! not model in `extra`, so unknown and provider-specific fields pass through unchanged.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::JsonObject;

/// `POST /v1/chat/completions` request body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionRequest {
    /// The model name the client asked for (a model group, or `provider/model` in the SDK).
    pub model: String,
    /// The conversation so far.
    pub messages: Vec<ChatMessage>,
    /// Answer as a server-sent-event stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Stream options; `include_usage` asks for a final usage chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// How many choices to generate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    /// Output token limit (legacy name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// Output token limit, reasoning tokens included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u64>,
    /// Presence penalty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    /// Frequency penalty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// Token id -> bias.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logit_bias: Option<JsonObject>,
    /// Return log probabilities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<bool>,
    /// How many top log probabilities per token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<u32>,
    /// End-user id; LiteLLM tracks it as the customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `text`, `json_object` or `json_schema`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// Deterministic sampling seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Tools the model may call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    /// `none`, `auto`, `required` or a named function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Allow several tool calls in one turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// `minimal`, `low`, `medium`, `high` for reasoning models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
    /// Every other field, passed through as sent.
    #[serde(flatten)]
    pub extra: JsonObject,
}

impl ChatCompletionRequest {
    /// Whether the client asked for a stream.
    pub fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    /// Whether the client asked for a final usage chunk on its stream.
    pub fn wants_stream_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false)
    }
}

/// `stream_options`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamOptions {
    /// Send a last chunk with `usage` and empty `choices`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_usage: Option<bool>,
    /// Other options, passed through.
    #[serde(flatten)]
    pub extra: JsonObject,
}

/// `stop`: one string or several.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    /// A single stop sequence.
    One(String),
    /// Several stop sequences.
    Many(Vec<String>),
}

impl Stop {
    /// The stop sequences as a list.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Stop::One(s) => vec![s.clone()],
            Stop::Many(v) => v.clone(),
        }
    }
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions from the application.
    System,
    /// Instructions from the developer (newer name for system on reasoning models).
    Developer,
    /// The end user.
    User,
    /// The model.
    Assistant,
    /// A tool's result.
    Tool,
    /// A legacy function result.
    Function,
}

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatMessage {
    /// Who wrote it.
    pub role: Role,
    /// Text, or a list of typed parts; null on assistant messages that only call tools
    /// (always written, as OpenAI's own clients do).
    #[serde(default)]
    pub content: Option<MessageContent>,
    /// Participant name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Tool calls made by an assistant message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// The call a `tool` message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// Other fields (`refusal`, `audio`, `cache_control`, ...), passed through.
    #[serde(flatten)]
    pub extra: JsonObject,
}

impl ChatMessage {
    /// A message with plain text content.
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        ChatMessage {
            role,
            content: Some(MessageContent::Text(text.into())),
            name: None,
            tool_calls: None,
            tool_call_id: None,
            extra: JsonObject::new(),
        }
    }

    /// A user message.
    pub fn user(text: impl Into<String>) -> Self {
        Self::text(Role::User, text)
    }

    /// A system message.
    pub fn system(text: impl Into<String>) -> Self {
        Self::text(Role::System, text)
    }

    /// An assistant message.
    pub fn assistant(text: impl Into<String>) -> Self {
        Self::text(Role::Assistant, text)
    }
}

/// Message content: a string or a list of parts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MessageContent {
    /// Plain text.
    Text(String),
    /// Typed parts: `text`, `image_url`, `input_audio`, `file`, ...
    Parts(Vec<ContentPart>),
}

impl MessageContent {
    /// All text of the content, parts joined without separator.
    pub fn joined_text(&self) -> String {
        match self {
            MessageContent::Text(s) => s.clone(),
            MessageContent::Parts(parts) => {
                parts.iter().filter_map(|p| p.text.as_deref()).collect()
            }
        }
    }
}

/// One part of a multi-part message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContentPart {
    /// `text`, `image_url`, `input_audio`, `file`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The text of a `text` part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The image of an `image_url` part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<ImageUrl>,
    /// Other fields, passed through.
    #[serde(flatten)]
    pub extra: JsonObject,
}

// Messages are read by hand, not derived: `#[serde(flatten)]` (for `extra`) and
// `#[serde(untagged)]` (string or parts) make serde buffer every field of every message as
// generic content before reading it, and a conversation is parsed on every request.

/// A field name, borrowed from the input where it can be.
struct Key<'de>(std::borrow::Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// An object read field by field ([`each_field`]), for a hand-written `Deserialize`.
trait FromFields: Sized {
    /// What the object is, for errors.
    const WHAT: &'static str;
    /// Reads the object's fields.
    fn from_fields<'de, A: serde::de::MapAccess<'de>>(m: A) -> Result<Self, A::Error>;
}

struct Object<T>(std::marker::PhantomData<T>);

impl<'de, T: FromFields> serde::de::Visitor<'de> for Object<T> {
    type Value = T;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(T::WHAT)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, m: A) -> Result<T, A::Error> {
        T::from_fields(m)
    }
}

fn read_object<'de, D: serde::Deserializer<'de>, T: FromFields>(d: D) -> Result<T, D::Error> {
    d.deserialize_map(Object(std::marker::PhantomData))
}

/// Reads an object's fields: `known` reads the ones it names and returns `false` for any
/// other, which is kept in `extra` as it came.
fn each_field<'de, A: serde::de::MapAccess<'de>>(
    mut m: A,
    extra: &mut JsonObject,
    mut known: impl FnMut(&str, &mut A) -> Result<bool, A::Error>,
) -> Result<(), A::Error> {
    while let Some(Key(k)) = m.next_key()? {
        if !known(&k, &mut m)? {
            let v = m.next_value()?;
            extra.insert(k.into_owned(), v);
        }
    }
    Ok(())
}

impl<'de> Deserialize<'de> for ChatMessage {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        read_object(d)
    }
}

impl FromFields for ChatMessage {
    const WHAT: &'static str = "a message object";
    fn from_fields<'de, A: serde::de::MapAccess<'de>>(m: A) -> Result<Self, A::Error> {
        let (mut role, mut content, mut name, mut tool_calls, mut tool_call_id) =
            (None, None, None, None, None);
        let mut extra = JsonObject::new();
        each_field(m, &mut extra, |k, m| {
            match k {
                "role" => role = Some(m.next_value()?),
                "content" => content = m.next_value()?,
                "name" => name = m.next_value()?,
                "tool_calls" => tool_calls = m.next_value()?,
                "tool_call_id" => tool_call_id = m.next_value()?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(ChatMessage {
            role: role.ok_or_else(|| serde::de::Error::missing_field("role"))?,
            content,
            name,
            tool_calls,
            tool_call_id,
            extra,
        })
    }
}

impl<'de> Deserialize<'de> for MessageContent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = MessageContent;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or a list of content parts")
            }
            fn visit_str<E>(self, v: &str) -> Result<MessageContent, E> {
                Ok(MessageContent::Text(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<MessageContent, E> {
                Ok(MessageContent::Text(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<MessageContent, A::Error> {
                Vec::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
                    .map(MessageContent::Parts)
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for ContentPart {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        read_object(d)
    }
}

impl FromFields for ContentPart {
    const WHAT: &'static str = "a content part object";
    fn from_fields<'de, A: serde::de::MapAccess<'de>>(m: A) -> Result<Self, A::Error> {
        let (mut kind, mut text, mut image_url) = (None, None, None);
        let mut extra = JsonObject::new();
        each_field(m, &mut extra, |k, m| {
            match k {
                "type" => kind = Some(m.next_value()?),
                "text" => text = m.next_value()?,
                "image_url" => image_url = m.next_value()?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(ContentPart {
            kind: kind.ok_or_else(|| serde::de::Error::missing_field("type"))?,
            text,
            image_url,
            extra,
        })
    }
}

/// An image reference: an `https:` URL or a `data:` URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageUrl {
    /// The URL.
    pub url: String,
    /// `auto`, `low` or `high`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    /// `function` (or a provider's own tool type).
    #[serde(rename = "type")]
    pub kind: String,
    /// The function, for `function` tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionDefinition>,
    /// Other fields, passed through.
    #[serde(flatten)]
    pub extra: JsonObject,
}

/// A function tool's declaration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionDefinition {
    /// Function name.
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// Enforce the schema exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// `tool_choice`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ToolChoice {
    /// `none`, `auto` or `required`.
    Mode(String),
    /// `{"type": "function", "function": {"name": ...}}`.
    Named(NamedToolChoice),
}

/// A forced tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedToolChoice {
    /// `function`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Which function.
    pub function: FunctionName,
}

/// A function named by a tool choice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionName {
    /// Function name.
    pub name: String,
}

/// `response_format`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    /// Free text.
    Text,
    /// Any valid JSON object.
    JsonObject,
    /// JSON matching a schema.
    JsonSchema {
        /// The schema and its name.
        json_schema: JsonSchemaFormat,
    },
}

/// The schema of a `json_schema` response format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonSchemaFormat {
    /// Schema name.
    pub name: String,
    /// What the schema is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The JSON Schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    /// Enforce the schema exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// A tool call made by the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Call id, echoed by the tool result.
    pub id: String,
    /// `function`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The function called.
    pub function: FunctionCall,
}

/// The function of a tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// Function name.
    pub name: String,
    /// Arguments as a JSON string.
    pub arguments: String,
}

/// Token usage of a response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Input tokens, cached ones included.
    pub prompt_tokens: u64,
    /// Output tokens, reasoning ones included.
    #[serde(default)]
    pub completion_tokens: u64,
    /// Sum of the two.
    #[serde(default)]
    pub total_tokens: u64,
    /// Break-down of the input tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    /// Break-down of the output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
    /// Other fields (e.g. `cache_creation_input_tokens`), passed through.
    #[serde(flatten)]
    pub extra: JsonObject,
}

/// `usage.prompt_tokens_details`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PromptTokensDetails {
    /// Input tokens read from the provider's prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u64>,
    /// Audio input tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_tokens: Option<u64>,
    /// Other fields, passed through.
    #[serde(flatten)]
    pub extra: JsonObject,
}

/// `usage.completion_tokens_details`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompletionTokensDetails {
    /// Hidden reasoning tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
    /// Audio output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_tokens: Option<u64>,
    /// Other fields, passed through.
    #[serde(flatten)]
    pub extra: JsonObject,
}

/// A non-streamed chat completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionResponse {
    /// Response id.
    pub id: String,
    /// `chat.completion`.
    pub object: String,
    /// Unix seconds.
    pub created: u64,
    /// The model that answered.
    pub model: String,
    /// One choice per `n`.
    pub choices: Vec<Choice>,
    /// Token usage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Backend configuration fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
    /// Other fields, passed through.
    #[serde(flatten)]
    pub extra: JsonObject,
}

/// One choice of a completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// Position in `choices`.
    pub index: u32,
    /// The answer.
    pub message: ResponseMessage,
    /// `stop`, `length`, `tool_calls`, `content_filter`.
    pub finish_reason: Option<String>,
    /// Log probabilities, when asked for.
    #[serde(default)]
    pub logprobs: Option<Value>,
    /// Other fields, passed through.
    #[serde(flatten)]
    pub extra: JsonObject,
}

/// The assistant message of a choice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseMessage {
    /// `assistant`.
    pub role: Role,
    /// The text.
    pub content: Option<String>,
    /// Tool calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// Other fields (`refusal`, `reasoning_content`, `annotations`, ...), passed through.
    #[serde(flatten)]
    pub extra: JsonObject,
}

/// One chunk of a streamed chat completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionChunk {
    /// Response id, the same for every chunk.
    pub id: String,
    /// `chat.completion.chunk`.
    pub object: String,
    /// Unix seconds.
    pub created: u64,
    /// The model that answers.
    pub model: String,
    /// Deltas; empty on the final usage chunk.
    pub choices: Vec<ChunkChoice>,
    /// Token usage, on the final chunk when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Backend configuration fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
    /// Other fields, passed through.
    #[serde(flatten)]
    pub extra: JsonObject,
}

/// One choice's delta in a chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkChoice {
    /// Position in `choices`.
    pub index: u32,
    /// What this chunk adds.
    pub delta: Delta,
    /// Set on the choice's last chunk.
    pub finish_reason: Option<String>,
    /// Log probabilities, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Value>,
}

/// What a chunk adds to a choice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    /// `assistant`, on the first chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// More text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Tool-call fragments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallDelta>>,
    /// Other fields (`refusal`, `reasoning_content`, ...), passed through.
    #[serde(flatten)]
    pub extra: JsonObject,
}

/// A fragment of a tool call in a stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallDelta {
    /// Which tool call of the choice.
    pub index: u32,
    /// Call id, on the first fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `function`, on the first fragment.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Name and argument fragments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionCallDelta>,
}

/// Name and argument fragment of a tool call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionCallDelta {
    /// Function name, on the first fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// More argument text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trips_unknown_fields() {
        let body = r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral"}}],"x_msg":1}],
            "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],
            "tool_choice":{"type":"function","function":{"name":"f"}},
            "response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{"type":"object"},"strict":true}},
            "stop":["a","b"],"seed":7,"n":2,"logprobs":true,"user":"u1","service_tier":"flex","metadata":{"a":"b"}}"#;
        let req: ChatCompletionRequest = serde_json::from_str(body).unwrap();
        assert_eq!(req.n, Some(2));
        assert_eq!(req.stop, Some(Stop::Many(vec!["a".into(), "b".into()])));
        assert_eq!(req.extra["service_tier"], "flex");
        assert_eq!(req.messages[0].extra["x_msg"], 1);
        let back: Value = serde_json::to_value(&req).unwrap();
        let orig: Value = serde_json::from_str(body).unwrap();
        assert_eq!(back, orig);
    }

    /// Messages are read by hand: every shape the derive took reads the same, and written
    /// back unchanged.
    #[test]
    fn messages_read_like_the_derive() {
        let body = r#"[
            {"role":"system","content":"be brief","name":"ops"},
            {"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"https://x/y.png","detail":"low"}},{"type":"input_audio","input_audio":{"data":"AA==","format":"wav"}}]},
            {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}],"refusal":null},
            {"role":"tool","tool_call_id":"call_1","content":"42"},
            {"role":"user","content":"caf\u00e9 \"quoted\"","x_custom":{"a":[1,2]}}
        ]"#;
        let msgs: Vec<ChatMessage> = serde_json::from_str(body).unwrap();
        assert_eq!(msgs[0].name.as_deref(), Some("ops"));
        let Some(MessageContent::Parts(parts)) = &msgs[1].content else {
            panic!("parts: {:?}", msgs[1].content)
        };
        assert_eq!(parts[0].text.as_deref(), Some("hi"));
        assert_eq!(parts[1].image_url.as_ref().unwrap().url, "https://x/y.png");
        assert_eq!(parts[2].kind, "input_audio");
        assert_eq!(parts[2].extra["input_audio"]["format"], "wav");
        assert_eq!(msgs[2].content, None);
        assert_eq!(msgs[2].tool_calls.as_ref().unwrap()[0].id, "call_1");
        assert!(msgs[2].extra["refusal"].is_null());
        assert_eq!(msgs[3].tool_call_id.as_deref(), Some("call_1"));
        assert_eq!(
            msgs[4].content,
            Some(MessageContent::Text("café \"quoted\"".into()))
        );
        assert_eq!(msgs[4].extra["x_custom"]["a"][1], 2);
        let back = serde_json::to_value(&msgs).unwrap();
        let orig: Value = serde_json::from_str(body).unwrap();
        assert_eq!(back, orig);
        // From a parsed value too (the Responses bridge builds requests that way).
        let again: Vec<ChatMessage> = serde_json::from_value(orig).unwrap();
        assert_eq!(again, msgs);
    }

    #[test]
    fn malformed_messages_are_errors_naming_what_is_wrong() {
        let err = |b: &str| {
            serde_json::from_str::<ChatMessage>(b)
                .unwrap_err()
                .to_string()
        };
        assert!(err(r#"{"content":"x"}"#).contains("missing field `role`"));
        assert!(err(r#"{"role":"user","content":{"a":1}}"#)
            .contains("a string or a list of content parts"));
        assert!(
            err(r#"{"role":"user","content":7}"#).contains("a string or a list of content parts")
        );
        assert!(err(r#"{"role":"user","content":[{"text":"x"}]}"#).contains("missing field `type`"));
        assert!(err(r#"{"role":"user","content":[1]}"#).contains("a content part object"));
        assert!(err(r#"{"role":"user","name":5}"#).contains("invalid type"));
        assert!(err(r#"["user","x"]"#).contains("a message object"));
    }

    #[test]
    fn missing_messages_is_an_error_naming_the_field() {
        let err = serde_json::from_str::<ChatCompletionRequest>(r#"{"model":"m"}"#).unwrap_err();
        assert!(
            err.to_string().contains("missing field `messages`"),
            "{err}"
        );
    }

    #[test]
    fn unknown_role_is_rejected() {
        let err = serde_json::from_str::<ChatCompletionRequest>(
            r#"{"model":"m","messages":[{"role":"wizard","content":"x"}]}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("wizard"), "{err}");
    }

    #[test]
    fn response_with_tool_calls_and_usage_details_parses() {
        let body = r#"{"id":"c1","object":"chat.completion","created":1,"model":"gpt-4o",
            "choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}],"refusal":null},"finish_reason":"tool_calls","logprobs":null}],
            "usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":2}}}"#;
        let resp: ChatCompletionResponse = serde_json::from_str(body).unwrap();
        let usage = resp.usage.unwrap();
        assert_eq!(usage.prompt_tokens_details.unwrap().cached_tokens, Some(4));
        assert_eq!(
            usage.completion_tokens_details.unwrap().reasoning_tokens,
            Some(2)
        );
        let call = &resp.choices[0].message.tool_calls.as_ref().unwrap()[0];
        assert_eq!(call.function.arguments, "{\"a\":1}");
    }
}
