//! Wire types of the APIs Switchyard speaks, with no behaviour attached.
//!
//! Every type round-trips: fields this crate does not model are kept in an `extra` map and
//! written back unchanged, so a request or response passes through the gateway without losing
//! provider-specific fields.

pub mod chat;
pub mod embeddings;
pub mod error;
pub mod models;
pub mod verbatim;

pub use chat::*;
pub use embeddings::{
    Embedding, EmbeddingInput, EmbeddingRequest, EmbeddingResponse, EmbeddingUsage,
};
pub use error::{ErrorBody, ErrorDetail};
pub use models::{ModelList, ModelObject};
pub use verbatim::{Forwardable, Verbatim};

/// A JSON object, as `serde_json` represents it.
pub type JsonObject = serde_json::Map<String, serde_json::Value>;
