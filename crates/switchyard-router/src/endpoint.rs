//! The smaller endpoints (images, speech, moderations, rerank) as routed calls.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::StreamExt;
use http_body_util::BodyExt;
use serde_json::{Map, Value};
use switchyard_providers::endpoints::Endpoint;

use crate::{
    Backend, CallOptions, ChatResponse, ChatStream, Completion, Deployment, Format, GatewayError,
    GatewayParams, Router,
};

/// A request to one of the smaller endpoints: the client's body, read only as far as routing
/// needs.
#[derive(Debug, Clone)]
pub struct EndpointRequest {
    /// Which endpoint.
    pub endpoint: Endpoint,
    /// The model name asked for.
    pub model: String,
    /// The body, `model` and the gateway's own keys aside.
    pub body: Map<String, Value>,
}

impl EndpointRequest {
    /// Reads a JSON body for `endpoint`; `model` is required.
    pub fn parse(endpoint: Endpoint, bytes: &[u8]) -> Result<EndpointRequest, GatewayError> {
        let mut body: Map<String, Value> = serde_json::from_slice(bytes)
            .map_err(|e| GatewayError::bad_request(format!("Invalid request body: {e}")))?;
        let model = match body.remove("model") {
            Some(Value::String(m)) if !m.is_empty() => m,
            // OpenAI's own defaults, as its API applies them.
            None if endpoint == Endpoint::Moderations => "omni-moderation-latest".to_owned(),
            None if endpoint == Endpoint::Images => "dall-e-2".to_owned(),
            _ => {
                return Err(GatewayError::bad_param(
                    "model",
                    "`model` is required (a model name)",
                ))
            }
        };
        Ok(EndpointRequest {
            endpoint,
            model,
            body,
        })
    }
}

impl crate::routed::Routed for EndpointRequest {
    type Answer = ChatResponse;

    fn model(&self) -> &str {
        &self.model
    }

    fn model_mut(&mut self) -> &mut String {
        &mut self.model
    }

    fn gateway_params(&mut self) -> Result<GatewayParams, GatewayError> {
        GatewayParams::extract(&mut self.body)
    }

    fn validate(&self) -> Result<(), GatewayError> {
        let need = match self.endpoint {
            Endpoint::Images => "prompt",
            Endpoint::Speech | Endpoint::Moderations => "input",
            Endpoint::Rerank => "query",
        };
        if self.body.get(need).is_none_or(Value::is_null) {
            return Err(GatewayError::bad_param(
                need,
                format!("`{need}` is required"),
            ));
        }
        Ok(())
    }

    fn meta_mut(answer: &mut ChatResponse) -> &mut crate::CallMeta {
        <switchyard_types::Verbatim<switchyard_types::ChatCompletionRequest> as crate::routed::Routed>::meta_mut(answer)
    }

    fn attempt<'a>(
        router: &'a Router,
        deployment: &'a Arc<Deployment>,
        request: &'a mut Self,
        params: &'a GatewayParams,
        opts: &'a CallOptions,
    ) -> impl std::future::Future<Output = Result<ChatResponse, GatewayError>> + Send + 'a {
        router.attempt_endpoint(deployment, request, params, opts)
    }

    fn succeeded(
        answer: &mut ChatResponse,
        deployment: &Deployment,
        busy: crate::strategy::Busy,
        traced: crate::trace::Attempt,
    ) {
        <switchyard_types::Verbatim<switchyard_types::ChatCompletionRequest> as crate::routed::Routed>::succeeded(
            answer, deployment, busy, traced,
        );
    }
}

impl Router {
    pub(crate) async fn attempt_endpoint(
        &self,
        deployment: &Arc<Deployment>,
        request: &EndpointRequest,
        params: &GatewayParams,
        opts: &CallOptions,
    ) -> Result<ChatResponse, GatewayError> {
        let (mut meta, backend, timeout, _) = Self::attempt_basics(deployment, params, opts);
        let Backend::Http(translator) = backend else {
            return Err(GatewayError::bad_request(format!(
                "`{}` is a mock deployment, which does not serve /v1/{}",
                deployment.model_name,
                request.endpoint.path()
            )));
        };
        if deployment.price.is_none() {
            self.note_unpriced(deployment);
        }
        let target = self.authed_target(deployment).await?;
        let up = translator
            .endpoint_request(&target, request.endpoint, &request.body)
            .map_err(GatewayError::from_translate)?;
        let started = Instant::now();
        if request.endpoint == Endpoint::Speech {
            // Audio goes back as it comes.
            let resp = self
                .client
                .forward(&target, translator, up, timeout)
                .await?;
            meta.upstream_latency = started.elapsed();
            meta.content_type = resp.headers().get(http::header::CONTENT_TYPE).cloned();
            let usage =
                switchyard_providers::endpoints::usage(request.endpoint, &request.body, b"");
            let events = resp
                .into_body()
                .into_data_stream()
                .map(|c| {
                    c.map_err(|e| {
                        GatewayError::bad_gateway(format!("the provider's audio broke off: {e}"))
                    })
                })
                .boxed();
            return Ok(ChatResponse::Stream(ChatStream {
                meta,
                events,
                usage: Arc::new(Mutex::new(usage)),
                price: deployment.price.clone(),
                format: Format::PassThrough,
            }));
        }
        let (headers, body) = self.client.fetch(&target, translator, up, timeout).await?;
        meta.upstream_headers = headers;
        meta.upstream_latency = started.elapsed();
        let out = translator
            .endpoint_response(&target, request.endpoint, &request.body, body)
            .map_err(|e| GatewayError::from_provider(e, &target.provider))?;
        let cost = self.cost(deployment, out.usage.as_ref());
        Ok(ChatResponse::Complete(Completion {
            body: out.body,
            usage: out.usage,
            cost,
            meta,
            format: Format::PassThrough,
        }))
    }
}
