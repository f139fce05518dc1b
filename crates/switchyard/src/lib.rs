//! Switchyard: an LLM gateway, and the Rust SDK behind it.
//!
//! The same routing and translation the `switchyard` server runs, as a library:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use switchyard::types::{ChatCompletionRequest, ChatMessage};
//!
//! // Address a provider directly; the key comes from OPENAI_API_KEY.
//! let request = ChatCompletionRequest {
//!     model: "openai/gpt-4o-mini".into(),
//!     messages: vec![ChatMessage::user("Say hello")],
//!     ..Default::default()
//! };
//! let response = switchyard::completion(request.clone()).await?;
//! println!("{:?}", response.choices[0].message.content);
//!
//! // Or route through model groups from a LiteLLM config.yaml.
//! let router = switchyard::Router::from_file("examples/config.yaml")?;
//! let response = router.completion(ChatCompletionRequest { model: "mock-gpt".into(), ..request }).await?;
//! # Ok(()) }
//! ```

use std::sync::OnceLock;

pub use switchyard_config as config;
pub use switchyard_router::{ChunkStream, GatewayError as Error};
pub use switchyard_types as types;

use switchyard_types::{ChatCompletionRequest, ChatCompletionResponse};

/// Model groups, deployment choice and upstream calls; built from a LiteLLM config.
pub use switchyard_router::Router;

fn direct_router() -> Result<&'static Router, Error> {
    static DIRECT: OnceLock<Result<Router, String>> = OnceLock::new();
    DIRECT
        .get_or_init(|| Router::direct().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| Error::internal(e.clone()))
}

fn builtin_prices() -> Option<&'static switchyard_pricing::PriceTable> {
    static PRICES: OnceLock<Option<switchyard_pricing::PriceTable>> = OnceLock::new();
    PRICES
        .get_or_init(|| switchyard_pricing::PriceTable::builtin().ok())
        .as_ref()
}

/// The price of `model` (`provider/model`, or a bare OpenAI model id) in the shipped table.
pub fn model_price(model: &str) -> Option<std::sync::Arc<switchyard_pricing::Price>> {
    let table = builtin_prices()?;
    match config::split_provider(model, None) {
        Some((provider, id)) => table.lookup(&provider, &id),
        None => table
            .lookup("openai", model)
            .or_else(|| table.lookup("", model)),
    }
}

/// The cost in USD of `usage` on `model`, from the shipped price table; `None` when the
/// model has no price there.
pub fn cost_per_usage(model: &str, usage: &types::Usage) -> Option<f64> {
    Some(model_price(model)?.cost(usage).usd())
}

/// The cost in USD of a completion, priced by its `model` and `usage` (LiteLLM's
/// `completion_cost`). `model` overrides the response's own model name when given.
pub fn completion_cost(response: &ChatCompletionResponse, model: Option<&str>) -> Option<f64> {
    cost_per_usage(model.unwrap_or(&response.model), response.usage.as_ref()?)
}

pub use switchyard_pricing as pricing;

/// Tokens of a chat prompt (messages and tool definitions) for `model`: exact for OpenAI
/// models (tiktoken's o200k_base / cl100k_base), a cl100k_base estimate for others.
pub fn token_counter(
    model: &str,
    messages: &[types::ChatMessage],
    tools: Option<&[types::Tool]>,
) -> u64 {
    pricing::tokens::count_messages(model, messages, tools)
}

/// A chat completion for a `provider/model` name (e.g. `openai/gpt-4o`), credentials from the
/// environment.
pub async fn completion(request: ChatCompletionRequest) -> Result<ChatCompletionResponse, Error> {
    direct_router()?.completion(request).await
}

/// A streamed chat completion for a `provider/model` name, as typed chunks.
pub async fn completion_stream(request: ChatCompletionRequest) -> Result<ChunkStream, Error> {
    direct_router()?.completion_stream(request).await
}

/// Embeddings for a `provider/model` name (e.g. `openai/text-embedding-3-small`,
/// `cohere/embed-english-v3.0`, `gemini/text-embedding-004`), credentials from the
/// environment; the response is OpenAI's shape whatever the provider.
pub async fn embedding(
    request: types::EmbeddingRequest,
) -> Result<types::EmbeddingResponse, Error> {
    direct_router()?.embed(request).await
}
