//! Typed calls for library users: the same path as the server, answers parsed into structs.

use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use switchyard_config::{Config, ConfigError};
use switchyard_types::{
    ChatCompletionChunk, ChatCompletionRequest, ChatCompletionResponse, ErrorBody,
};

use crate::{CallOptions, ChatResponse, GatewayError, Router};

/// A stream of typed chunks.
pub type ChunkStream = BoxStream<'static, Result<ChatCompletionChunk, GatewayError>>;

fn parse_event(event: &[u8]) -> Option<Result<ChatCompletionChunk, GatewayError>> {
    let mut framer = switchyard_providers::sse::Framer::new();
    framer.push(event);
    let ev = framer.finish()?;
    let data = ev.data?;
    if data.as_ref() == b"[DONE]" {
        return None;
    }
    if let Ok(err) = serde_json::from_slice::<ErrorBody>(&data) {
        let mut e = GatewayError::bad_gateway(err.error.message);
        e.provider_type = Some(err.error.kind);
        e.code = err.error.code;
        return Some(Err(e));
    }
    Some(
        serde_json::from_slice::<ChatCompletionChunk>(&data)
            .map_err(|e| GatewayError::bad_gateway(format!("unreadable stream chunk: {e}"))),
    )
}

impl Router {
    /// Reads and validates a LiteLLM `config.yaml` and builds the router. Warnings (unknown
    /// keys, unused params) are logged through `tracing`.
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<Router, ConfigError> {
        let loaded = switchyard_config::load(path.as_ref())?;
        let (router, warnings) = Router::from_config(loaded.config)?;
        for w in loaded.warnings.iter().chain(&warnings) {
            tracing::warn!("{w}");
        }
        Ok(router)
    }

    /// A router with no model groups that routes `provider/model` names directly, with
    /// credentials from the environment (`OPENAI_API_KEY`, `GROQ_API_KEY`, ...).
    pub fn direct() -> Result<Router, ConfigError> {
        let config = Config::from_model_list(Vec::new())?;
        Ok(Router::from_config(config)?.0.with_direct_addressing(true))
    }

    /// A chat completion, parsed. Streams are refused here: use [`Router::completion_stream`].
    pub async fn completion(
        &self,
        mut request: ChatCompletionRequest,
    ) -> Result<ChatCompletionResponse, GatewayError> {
        request.stream = None;
        match self.chat(request, &CallOptions::default()).await? {
            ChatResponse::Complete(c) => serde_json::from_slice(&c.body)
                .map_err(|e| GatewayError::bad_gateway(format!("unreadable response: {e}"))),
            ChatResponse::Stream(_) => Err(GatewayError::internal("expected a complete response")),
        }
    }

    /// Embeddings, parsed (OpenAI's response shape, whatever the provider).
    pub async fn embed(
        &self,
        request: switchyard_types::EmbeddingRequest,
    ) -> Result<switchyard_types::EmbeddingResponse, GatewayError> {
        let c = self.embedding(request, &CallOptions::default()).await?;
        serde_json::from_slice(&c.body)
            .map_err(|e| GatewayError::bad_gateway(format!("unreadable response: {e}")))
    }

    /// A streamed chat completion, as typed chunks (`[DONE]` ends the stream).
    pub async fn completion_stream(
        &self,
        mut request: ChatCompletionRequest,
    ) -> Result<ChunkStream, GatewayError> {
        request.stream = Some(true);
        match self.chat(request, &CallOptions::default()).await? {
            ChatResponse::Stream(s) => Ok(s
                .events
                .filter_map(|item| async move {
                    match item {
                        Ok(event) => parse_event(&event),
                        Err(e) => Some(Err(e)),
                    }
                })
                .boxed()),
            ChatResponse::Complete(_) => Err(GatewayError::internal("expected a stream")),
        }
    }
}
