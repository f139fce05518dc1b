//! Deployment health checks (`/health`): one cheap call to a deployment, outside routing (no
//! retries, no cooldown bookkeeping, no spend).

use std::sync::Arc;
use std::time::{Duration, Instant};

use switchyard_pricing::Mode;
use switchyard_types::{
    ChatCompletionRequest, ChatMessage, EmbeddingInput, EmbeddingRequest, Verbatim,
};

use crate::{CallOptions, Deployment, GatewayError, GatewayParams, Router};

/// The longest a check waits.
const CHECK_TIMEOUT: Duration = Duration::from_secs(60);

impl Router {
    /// Calls `d` with the cheapest request of its kind (a one-token chat, or the embedding of
    /// one word); returns how long it took.
    pub async fn check(&self, d: &Arc<Deployment>) -> Result<Duration, GatewayError> {
        let params = GatewayParams {
            timeout: Some(d.timeout.min(CHECK_TIMEOUT)),
            ..GatewayParams::default()
        };
        let opts = CallOptions::default();
        let started = Instant::now();
        let embedding = match d.price.as_ref() {
            Some(p) => p.mode == Mode::Embedding,
            None => d.target.model.contains("embed"),
        };
        if embedding {
            let mut request = Verbatim::from(EmbeddingRequest {
                model: d.model_name.clone(),
                input: EmbeddingInput::Text("ping".into()),
                ..EmbeddingRequest::default()
            });
            self.attempt_embedding(d, &mut request, &params, &opts)
                .await?;
        } else {
            let mut request = Verbatim::from(ChatCompletionRequest {
                model: d.model_name.clone(),
                messages: vec![ChatMessage::user("ping")],
                max_tokens: Some(1),
                ..ChatCompletionRequest::default()
            });
            self.attempt_chat(d, &mut request, &params, &opts).await?;
        }
        Ok(started.elapsed())
    }
}
