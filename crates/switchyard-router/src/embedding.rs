//! One embeddings attempt on one deployment.

use std::sync::Arc;
use std::time::Instant;

use switchyard_types::{EmbeddingRequest, Verbatim};

use crate::{
    Backend, CallOptions, Completion, Deployment, Format, GatewayError, GatewayParams, Router,
};

impl Router {
    /// Translates, calls and translates back; usage the provider did not report is counted
    /// with the tokenizer, so every call is priced.
    pub(crate) async fn attempt_embedding(
        &self,
        deployment: &Arc<Deployment>,
        request: &mut Verbatim<EmbeddingRequest>,
        params: &GatewayParams,
        opts: &CallOptions,
    ) -> Result<Completion, GatewayError> {
        // Pointed at the deployment for the call, and left as it came (for a retry); the
        // client's bytes are kept (a forwarded body takes the deployment's model id).
        let group = std::mem::replace(request.model_mut(), deployment.target.model.clone());
        let result = self.embed_once(deployment, request, params, opts).await;
        *request.model_mut() = group;
        result
    }

    async fn embed_once(
        &self,
        deployment: &Arc<Deployment>,
        request: &Verbatim<EmbeddingRequest>,
        params: &GatewayParams,
        opts: &CallOptions,
    ) -> Result<Completion, GatewayError> {
        let (mut meta, backend, timeout, _) = Self::attempt_basics(deployment, params, opts);
        let out = match backend {
            Backend::Mock(m) => switchyard_providers::mock::embedding(&m, request)
                .map_err(|e| GatewayError::from_provider(e, "mock"))?,
            Backend::Http(translator) => {
                if deployment.price.is_none() {
                    self.note_unpriced(deployment);
                }
                let target = self.authed_target(deployment).await?;
                let up = translator
                    .embedding_request(&target, request)
                    .map_err(GatewayError::from_translate)?;
                let started = Instant::now();
                let (headers, body) = self.client.fetch(&target, translator, up, timeout).await?;
                meta.upstream_headers = headers;
                meta.upstream_latency = started.elapsed();
                translator
                    .embedding_response(&target, request, body)
                    .map_err(|e| GatewayError::from_provider(e, &target.provider))?
            }
        };
        let mut body = out.body;
        let usage = match out.usage {
            Some(u) => Some(u),
            // The provider counts nothing (Gemini): count the inputs, and say so in the body.
            None => request.input.texts().map(|texts| {
                use switchyard_pricing::tokens;
                let enc = tokens::encoding_for(&deployment.target.model);
                let n: u64 = texts.iter().map(|t| tokens::count_text(enc, t)).sum();
                if let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&body) {
                    v["usage"] = serde_json::json!({"prompt_tokens": n, "total_tokens": n});
                    if let Ok(b) = serde_json::to_vec(&v) {
                        body = b.into();
                    }
                }
                switchyard_providers::embeddings::usage(n)
            }),
        };
        let cost = self.cost(deployment, usage.as_ref());
        Ok(Completion {
            body,
            usage,
            cost,
            meta,
            format: Format::OpenAi,
        })
    }
}
