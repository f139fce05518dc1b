//! Token counting: tiktoken's BPE for OpenAI-family models, the same BPE as an approximation
//! for everyone else.
//!
//! - `o200k_base` for gpt-4o, gpt-4.1, gpt-5, o1/o3/o4 and chatgpt-4o; `cl100k_base` for
//!   gpt-4, gpt-3.5 and the text-embedding models. These counts are exact.
//! - Any other model (Claude, Gemini, Llama, ...) is counted with `cl100k_base`, as LiteLLM
//!   does by default. Their own tokenizers differ, typically by 10–20 %; the count is an
//!   estimate, used only when a provider reports no usage.
//!
//! Chat messages are counted the way OpenAI's cookbook describes the chat format: 3 tokens
//! per message, 1 more for a `name`, 3 to prime the reply; tool definitions with its
//! per-function and per-property overheads.

use std::sync::OnceLock;

use serde_json::Value;
use switchyard_types::{ChatMessage, MessageContent, Tool};
use tiktoken_rs::CoreBPE;

/// A BPE encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// gpt-4o and later.
    O200kBase,
    /// gpt-4, gpt-3.5, embeddings; the approximation for non-OpenAI models.
    Cl100kBase,
}

/// Whether counts for `model` are exact (an OpenAI model) or an approximation.
pub fn is_exact(model: &str) -> bool {
    let m = bare(model);
    o200k(m) || cl100k(m)
}

fn bare(model: &str) -> &str {
    model.rsplit('/').next().unwrap_or(model)
}

fn o200k(m: &str) -> bool {
    [
        "gpt-4o",
        "gpt-4.1",
        "gpt-4.5",
        "gpt-5",
        "o1",
        "o3",
        "o4",
        "chatgpt-4o",
        "gpt-oss",
    ]
    .iter()
    .any(|p| m.starts_with(p))
}

fn cl100k(m: &str) -> bool {
    [
        "gpt-4",
        "gpt-3.5",
        "gpt-35",
        "text-embedding-3",
        "text-embedding-ada-002",
    ]
    .iter()
    .any(|p| m.starts_with(p))
}

/// The encoding used to count tokens for `model` (`provider/model` or a bare id).
pub fn encoding_for(model: &str) -> Encoding {
    let m = bare(model);
    if o200k(m) {
        Encoding::O200kBase
    } else {
        Encoding::Cl100kBase
    }
}

fn bpe(enc: Encoding) -> Option<&'static CoreBPE> {
    static O200K: OnceLock<Option<CoreBPE>> = OnceLock::new();
    static CL100K: OnceLock<Option<CoreBPE>> = OnceLock::new();
    match enc {
        Encoding::O200kBase => O200K.get_or_init(|| tiktoken_rs::o200k_base().ok()),
        Encoding::Cl100kBase => CL100K.get_or_init(|| tiktoken_rs::cl100k_base().ok()),
    }
    .as_ref()
}

/// Tokens of plain text. Texts of [`CACHED_FROM`] bytes or more are remembered (see
/// [`Remembered`]): a system prompt or a conversation's earlier turns come back on every
/// request, and hashing them costs a small fraction of encoding them again.
pub fn count_text(enc: Encoding, text: &str) -> u64 {
    if text.len() < CACHED_FROM {
        return encode_len(enc, text);
    }
    let h = remembered().hash(enc, text);
    if let Some(n) = remembered().get(h) {
        return n;
    }
    let n = encode_len(enc, text);
    remembered().put(h, n);
    n
}

fn encode_len(enc: Encoding, text: &str) -> u64 {
    match bpe(enc) {
        Some(b) => b.encode_ordinary(text).len() as u64,
        // The BPE ships inside the tiktoken-rs crate; failing to build it is a bug, not input.
        None => (text.len() as u64).div_ceil(4),
    }
}

/// Shorter texts are encoded every time. Hashing a text costs tens of nanoseconds; tiktoken's
/// regex pass costs about a microsecond even on a short one (the bench's 28-byte system
/// prompt, below an earlier 48-byte threshold, was 2.7 % of the governed lane's CPU).
pub const CACHED_FROM: usize = 8;

/// Token counts of texts seen recently: a fixed, lock-free, direct-mapped table. Each slot
/// holds 40 bits of a text's 64-bit hash as its tag and the count in the other 24; a slot is
/// found by other bits of the same hash, so a false hit needs 52 equal bits. A new text
/// evicts whatever shared its slot. Counts of 2^24 tokens or more are not kept.
pub struct Remembered {
    slots: Box<[std::sync::atomic::AtomicU64]>,
    hasher: std::collections::hash_map::RandomState,
}

const SLOTS: usize = 4096;
const COUNT_BITS: u32 = 24;

fn remembered() -> &'static Remembered {
    static R: OnceLock<Remembered> = OnceLock::new();
    R.get_or_init(|| Remembered {
        slots: (0..SLOTS)
            .map(|_| std::sync::atomic::AtomicU64::new(0))
            .collect(),
        hasher: std::collections::hash_map::RandomState::new(),
    })
}

impl Remembered {
    fn hash(&self, enc: Encoding, text: &str) -> u64 {
        use std::hash::BuildHasher;
        self.hasher.hash_one((enc as u8, text))
    }

    fn slot(&self, h: u64) -> (&std::sync::atomic::AtomicU64, u64) {
        let i = (h as usize) % SLOTS;
        (&self.slots[i], h >> COUNT_BITS)
    }

    fn get(&self, h: u64) -> Option<u64> {
        let (slot, tag) = self.slot(h);
        let v = slot.load(std::sync::atomic::Ordering::Relaxed);
        // A stored count is at least 1 more than the real one, so 0 means empty.
        (v != 0 && v >> COUNT_BITS == tag).then(|| (v & ((1 << COUNT_BITS) - 1)) - 1)
    }

    fn put(&self, h: u64, n: u64) {
        if n + 1 >= 1 << COUNT_BITS {
            return;
        }
        let (slot, tag) = self.slot(h);
        slot.store(
            (tag << COUNT_BITS) | (n + 1),
            std::sync::atomic::Ordering::Relaxed,
        );
    }
}

/// Tokens of an image part: OpenAI's low-detail cost (85) unless the detail is `high`, which
/// is counted as one 512-px tile on top (170 + 85) since the size is not known here.
fn image_tokens(part_detail: Option<&str>) -> u64 {
    match part_detail {
        Some("high") => 255,
        _ => 85,
    }
}

fn content_tokens(enc: Encoding, c: &MessageContent) -> u64 {
    match c {
        MessageContent::Text(t) => count_text(enc, t),
        MessageContent::Parts(parts) => parts
            .iter()
            .map(|p| match (&p.text, &p.image_url) {
                (Some(t), _) => count_text(enc, t),
                (None, Some(img)) => image_tokens(img.detail.as_deref()),
                _ => 0,
            })
            .sum(),
    }
}

/// Tokens of a message's role name: six names, counted once per encoding.
fn role_tokens(enc: Encoding, m: &ChatMessage) -> u64 {
    use switchyard_types::Role;
    const ROLES: [Role; 6] = [
        Role::System,
        Role::Developer,
        Role::User,
        Role::Assistant,
        Role::Tool,
        Role::Function,
    ];
    static O200K: OnceLock<[u64; 6]> = OnceLock::new();
    static CL100K: OnceLock<[u64; 6]> = OnceLock::new();
    let table = match enc {
        Encoding::O200kBase => &O200K,
        Encoding::Cl100kBase => &CL100K,
    }
    .get_or_init(|| {
        ROLES.map(|r| {
            let probe = ChatMessage {
                role: r,
                ..ChatMessage::user("")
            };
            encode_len(enc, role_str(&probe))
        })
    });
    let i = ROLES.iter().position(|r| *r == m.role).unwrap_or(2);
    table[i]
}

fn role_str(m: &ChatMessage) -> &'static str {
    match m.role {
        switchyard_types::Role::System => "system",
        switchyard_types::Role::Developer => "developer",
        switchyard_types::Role::User => "user",
        switchyard_types::Role::Assistant => "assistant",
        switchyard_types::Role::Tool => "tool",
        switchyard_types::Role::Function => "function",
    }
}

/// Tokens of a chat prompt: messages (with tool calls) and tool definitions, as the model
/// sees them.
pub fn count_messages(model: &str, messages: &[ChatMessage], tools: Option<&[Tool]>) -> u64 {
    let enc = encoding_for(model);
    let mut n = 0u64;
    for m in messages {
        n += 3 + role_tokens(enc, m);
        if let Some(c) = &m.content {
            n += content_tokens(enc, c);
        }
        if let Some(name) = &m.name {
            n += 1 + count_text(enc, name);
        }
        for call in m.tool_calls.iter().flatten() {
            n += count_text(enc, &call.function.name) + count_text(enc, &call.function.arguments);
        }
        if let Some(id) = &m.tool_call_id {
            n += count_text(enc, id);
        }
    }
    n += 3; // every reply is primed with <|start|>assistant<|message|>
    if let Some(tools) = tools.filter(|t| !t.is_empty()) {
        n += tool_tokens(enc, tools);
    }
    n
}

/// Tool definitions, with the cookbook's overheads (gpt-4o family: 7 per function, 3 per
/// property list, 3 per property, enums -3 + 3 per item, 12 to close; older models: 10 per
/// function).
fn tool_tokens(enc: Encoding, tools: &[Tool]) -> u64 {
    let func_init: i64 = match enc {
        Encoding::O200kBase => 7,
        Encoding::Cl100kBase => 10,
    };
    let (prop_init, prop_key, enum_init, enum_item, func_end) = (3i64, 3i64, -3i64, 3i64, 12i64);
    let mut n: i64 = 0;
    for f in tools.iter().filter_map(|t| t.function.as_ref()) {
        n += func_init;
        let desc = f.description.as_deref().unwrap_or("");
        let desc = desc.strip_suffix('.').unwrap_or(desc);
        n += count_text(enc, &format!("{}:{desc}", f.name)) as i64;
        let props = f
            .parameters
            .as_ref()
            .and_then(|p| p.get("properties"))
            .and_then(Value::as_object);
        if let Some(props) = props.filter(|p| !p.is_empty()) {
            n += prop_init;
            for (key, prop) in props {
                n += prop_key;
                if let Some(items) = prop.get("enum").and_then(Value::as_array) {
                    n += enum_init;
                    for item in items {
                        n += enum_item;
                        let text = item
                            .as_str()
                            .map_or_else(|| item.to_string(), str::to_owned);
                        n += count_text(enc, &text) as i64;
                    }
                }
                let ty = prop.get("type").and_then(Value::as_str).unwrap_or("");
                let d = prop
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let d = d.strip_suffix('.').unwrap_or(d);
                n += count_text(enc, &format!("{key}:{ty}:{d}")) as i64;
            }
        }
    }
    n += func_end;
    n.max(0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_types::ChatCompletionRequest;

    #[test]
    fn remembered_counts_equal_fresh_ones() {
        let texts: Vec<String> = (0..5000)
            .map(|i| {
                format!(
                    "The quick brown fox {i} jumps over the lazy dog, again and again: {}",
                    "ab ".repeat(i % 50)
                )
            })
            .collect();
        for round in 0..2 {
            for t in &texts {
                for enc in [Encoding::O200kBase, Encoding::Cl100kBase] {
                    assert_eq!(count_text(enc, t), encode_len(enc, t), "round {round}: {t}");
                }
            }
        }
        // The two encodings are told apart.
        let t = "Überraschung! 日本語のテキストも数えます。 ".repeat(4);
        assert_eq!(
            count_text(Encoding::Cl100kBase, &t),
            encode_len(Encoding::Cl100kBase, &t)
        );
        assert_eq!(
            count_text(Encoding::O200kBase, &t),
            encode_len(Encoding::O200kBase, &t)
        );
    }

    fn request(v: serde_json::Value) -> ChatCompletionRequest {
        serde_json::from_value(v).unwrap()
    }

    /// The example conversation of OpenAI's "How to count tokens with tiktoken" cookbook;
    /// it reports 129 prompt tokens for gpt-3.5-turbo / gpt-4 and 124 for gpt-4o / gpt-4o-mini
    /// (as counted by the API).
    fn cookbook_messages() -> ChatCompletionRequest {
        request(serde_json::json!({"model": "x", "messages": [
            {"role": "system", "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},
            {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
            {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
            {"role": "system", "name": "example_user", "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},
            {"role": "system", "name": "example_assistant", "content": "Let's talk later when we're less busy about how to do better."},
            {"role": "user", "content": "This late pivot means we don't have time to boil the ocean for the client deliverable."}
        ]}))
    }

    #[test]
    fn messages_match_the_cookbook_reference() {
        let r = cookbook_messages();
        assert_eq!(count_messages("gpt-3.5-turbo", &r.messages, None), 129);
        assert_eq!(count_messages("gpt-4", &r.messages, None), 129);
        assert_eq!(count_messages("gpt-4o", &r.messages, None), 124);
        assert_eq!(count_messages("openai/gpt-4o-mini", &r.messages, None), 124);
    }

    /// The cookbook's tool example: 105 prompt tokens for gpt-3.5-turbo / gpt-4, 101 for
    /// gpt-4o / gpt-4o-mini.
    #[test]
    fn tools_match_the_cookbook_reference() {
        let r = request(serde_json::json!({"model": "x",
            "messages": [
                {"role": "system", "content": "You are a helpful assistant that can answer to questions about the weather."},
                {"role": "user", "content": "What's the weather like in San Francisco?"}
            ],
            "tools": [{"type": "function", "function": {
                "name": "get_current_weather",
                "description": "Get the current weather in a given location",
                "parameters": {"type": "object", "properties": {
                    "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                    "unit": {"type": "string", "description": "The unit of temperature to return", "enum": ["celsius", "fahrenheit"]}
                }, "required": ["location"]}
            }}]
        }));
        let tools = r.tools.as_deref();
        assert_eq!(count_messages("gpt-3.5-turbo", &r.messages, tools), 105);
        assert_eq!(count_messages("gpt-4", &r.messages, tools), 105);
        assert_eq!(count_messages("gpt-4o", &r.messages, tools), 101);
        assert_eq!(count_messages("gpt-4o-mini", &r.messages, tools), 101);
    }

    #[test]
    fn plain_text_counts() {
        assert_eq!(count_text(Encoding::Cl100kBase, "hello world"), 2);
        assert_eq!(count_text(Encoding::O200kBase, "hello world"), 2);
        assert_eq!(count_text(Encoding::Cl100kBase, ""), 0);
        assert!(is_exact("openai/gpt-4o") && !is_exact("anthropic/claude-sonnet-4"));
        assert_eq!(encoding_for("claude-sonnet-4"), Encoding::Cl100kBase);
    }
}
