//! `GET /v1/models`: the OpenAI list shape.

use serde::{Deserialize, Serialize};

/// `{"object": "list", "data": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelList {
    /// Always `"list"`.
    pub object: String,
    /// The models.
    pub data: Vec<ModelObject>,
}

/// One model in the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelObject {
    /// The name a client sends as `model`.
    pub id: String,
    /// Always `"model"`.
    pub object: String,
    /// Unix seconds.
    pub created: u64,
    /// Who serves it; LiteLLM says `"openai"` for every configured name.
    pub owned_by: String,
}

impl ModelList {
    /// A list of the given model names, in the given order.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>, created: u64) -> Self {
        ModelList {
            object: "list".to_owned(),
            data: names
                .into_iter()
                .map(|id| ModelObject {
                    id: id.to_owned(),
                    object: "model".to_owned(),
                    created,
                    owned_by: "openai".to_owned(),
                })
                .collect(),
        }
    }
}
