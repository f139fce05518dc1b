//! OpenAI embeddings: `POST /v1/embeddings` request and response.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::JsonObject;

/// `POST /v1/embeddings` request body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingRequest {
    /// The model name the client asked for.
    pub model: String,
    /// What to embed.
    pub input: EmbeddingInput,
    /// `float` (default) or `base64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<String>,
    /// Output dimensions, for models that can shorten their vectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
    /// End-user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Everything else (`input_type` for Cohere, `task_type` for Gemini, gateway extras).
    #[serde(flatten)]
    pub extra: JsonObject,
}

/// `input`: a string, strings, or token ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EmbeddingInput {
    /// One text.
    Text(String),
    /// Several texts.
    Texts(Vec<String>),
    /// One text as token ids.
    Tokens(Vec<u32>),
    /// Several texts as token ids.
    TokenLists(Vec<Vec<u32>>),
}

impl Default for EmbeddingInput {
    fn default() -> Self {
        EmbeddingInput::Texts(Vec::new())
    }
}

impl EmbeddingInput {
    /// How many vectors the request asks for.
    pub fn len(&self) -> usize {
        match self {
            EmbeddingInput::Text(_) | EmbeddingInput::Tokens(_) => 1,
            EmbeddingInput::Texts(v) => v.len(),
            EmbeddingInput::TokenLists(v) => v.len(),
        }
    }

    /// Whether there is nothing to embed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The inputs as texts; `None` for token ids (which only OpenAI-format servers take).
    pub fn texts(&self) -> Option<Vec<&str>> {
        match self {
            EmbeddingInput::Text(s) => Some(vec![s.as_str()]),
            EmbeddingInput::Texts(v) => Some(v.iter().map(String::as_str).collect()),
            EmbeddingInput::Tokens(_) | EmbeddingInput::TokenLists(_) => None,
        }
    }
}

/// `POST /v1/embeddings` response body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingResponse {
    /// `list`.
    pub object: String,
    /// One entry per input, in input order.
    pub data: Vec<Embedding>,
    /// The model that embedded.
    pub model: String,
    /// Tokens read.
    #[serde(default)]
    pub usage: EmbeddingUsage,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: JsonObject,
}

/// One vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Embedding {
    /// `embedding`.
    pub object: String,
    /// Its input's position.
    pub index: u32,
    /// Floats, or a base64 string of little-endian f32 with `encoding_format: base64`.
    pub embedding: Value,
}

/// Embedding usage: only prompt tokens.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingUsage {
    /// Tokens read.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Same as `prompt_tokens`.
    #[serde(default)]
    pub total_tokens: u64,
}
