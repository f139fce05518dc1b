//! OpenAI embeddings: `POST /v1/embeddings` request and response.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
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
///
/// Read by hand: serde's `untagged` copies the whole input into a buffer first and then
/// tries each shape on it, twice the work for a batch of thousands of texts. The first
/// element of a list decides which list it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
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

const INPUT_SHAPES: &str =
    "a string, a list of strings, a list of token ids, or a list of token-id lists";

impl<'de> Deserialize<'de> for EmbeddingInput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Input;
        impl<'de> Visitor<'de> for Input {
            type Value = EmbeddingInput;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(INPUT_SHAPES)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(EmbeddingInput::Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(EmbeddingInput::Text(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let room = seq.size_hint().unwrap_or(0).min(4096) + 1;
                Ok(match seq.next_element::<Item>()? {
                    None => EmbeddingInput::Texts(Vec::new()),
                    Some(Item::Text(first)) => EmbeddingInput::Texts(rest(first, room, seq)?),
                    Some(Item::Token(first)) => EmbeddingInput::Tokens(rest(first, room, seq)?),
                    Some(Item::Tokens(first)) => {
                        EmbeddingInput::TokenLists(rest(first, room, seq)?)
                    }
                })
            }
        }
        /// The first element, then the others of its type.
        fn rest<'de, T: Deserialize<'de>, A: SeqAccess<'de>>(
            first: T,
            room: usize,
            mut seq: A,
        ) -> Result<Vec<T>, A::Error> {
            let mut all = Vec::with_capacity(room);
            all.push(first);
            while let Some(next) = seq.next_element()? {
                all.push(next);
            }
            Ok(all)
        }
        d.deserialize_any(Input)
    }
}

/// The first element of a list `input`: it decides the list's shape.
enum Item {
    Text(String),
    Token(u32),
    Tokens(Vec<u32>),
}

impl<'de> Deserialize<'de> for Item {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct First;
        impl<'de> Visitor<'de> for First {
            type Value = Item;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, a token id, or a list of token ids")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Item, E> {
                Ok(Item::Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Item, E> {
                Ok(Item::Text(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Item, E> {
                u32::try_from(v)
                    .map(Item::Token)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &"a token id"))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Item, E> {
                u32::try_from(v)
                    .map(Item::Token)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &"a token id"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Item, A::Error> {
                let mut ids = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(8192));
                while let Some(id) = seq.next_element()? {
                    ids.push(id);
                }
                Ok(Item::Tokens(ids))
            }
        }
        d.deserialize_any(First)
    }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// What serde's `untagged` made of an input, for comparison.
    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(untagged)]
    enum Untagged {
        Text(String),
        Texts(Vec<String>),
        Tokens(Vec<u32>),
        TokenLists(Vec<Vec<u32>>),
    }

    fn same(u: Untagged) -> EmbeddingInput {
        match u {
            Untagged::Text(s) => EmbeddingInput::Text(s),
            Untagged::Texts(v) => EmbeddingInput::Texts(v),
            Untagged::Tokens(v) => EmbeddingInput::Tokens(v),
            Untagged::TokenLists(v) => EmbeddingInput::TokenLists(v),
        }
    }

    #[test]
    fn inputs_read_as_untagged_read_them_and_write_back_unchanged() {
        for json in [
            r#""one text""#,
            r#""esc\"aped \u00e9""#,
            r#"["a", "b\n", ""]"#,
            "[]",
            "[1, 2, 4294967295]",
            "[[1, 2], [], [3]]",
            "[[]]",
        ] {
            let got: EmbeddingInput = serde_json::from_str(json).unwrap();
            let want: Untagged = serde_json::from_str(json).unwrap();
            assert_eq!(got, same(want), "{json}");
            let back = serde_json::to_value(&got).unwrap();
            assert_eq!(back, serde_json::from_str::<Value>(json).unwrap(), "{json}");
        }
    }

    #[test]
    fn malformed_inputs_are_errors_that_say_what_was_expected() {
        for (json, says) in [
            ("null", INPUT_SHAPES),
            ("7", INPUT_SHAPES),
            (r#"{"a": 1}"#, INPUT_SHAPES),
            (r#"["a", 1]"#, "expected a string"),
            (r#"[1, "a"]"#, "expected u32"),
            ("[4294967296]", "a token id"),
            ("[-1]", "a token id"),
            ("[1.5]", "a string, a token id, or a list of token ids"),
            ("[[1], 2]", "expected a sequence"),
        ] {
            let e = serde_json::from_str::<EmbeddingInput>(json).unwrap_err();
            assert!(e.to_string().contains(says), "{json}: {e}");
            assert!(serde_json::from_str::<Untagged>(json).is_err(), "{json}");
        }
        // In a request, the error names the field.
        let e =
            serde_json::from_str::<EmbeddingRequest>(r#"{"model":"m","input":null}"#).unwrap_err();
        assert!(e.to_string().contains(INPUT_SHAPES), "{e}");
    }
}
