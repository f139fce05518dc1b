//! What the router routes: each kind of call (chat completions, embeddings) implements
//! [`Routed`], so choosing deployments, retries, cooldowns and fallbacks are written once.

use std::future::Future;
use std::sync::Arc;

use switchyard_types::{ChatCompletionRequest, EmbeddingRequest, Verbatim};

use crate::strategy::Busy;
use crate::trace::{Attempt, AttemptSpan};
use crate::{
    CallMeta, CallOptions, ChatResponse, Completion, Deployment, GatewayError, GatewayParams,
    Router,
};

/// A kind of call the router can route.
pub(crate) trait Routed: Send + Sync + Sized + 'static {
    /// A successful answer.
    type Answer: Send;
    /// The model name asked for.
    fn model(&self) -> &str;
    /// The model name, to point the request at a fallback group.
    fn model_mut(&mut self) -> &mut String;
    /// Takes the gateway's own params out of the fields the type does not model.
    fn gateway_params(&mut self) -> Result<GatewayParams, GatewayError>;
    /// Refuses a request no deployment could answer.
    fn validate(&self) -> Result<(), GatewayError>;
    /// The prompt's tokens, for `enable_pre_call_checks` (kinds without a prompt: `None`).
    fn prompt_tokens(&self) -> Option<u64> {
        None
    }
    /// Where an answer came from.
    fn meta_mut(answer: &mut Self::Answer) -> &mut CallMeta;
    /// One attempt on one deployment. It may change the request while it runs, but leaves it
    /// as it came when it fails (retries and fallbacks reuse it).
    fn attempt<'a>(
        router: &'a Router,
        deployment: &'a Arc<Deployment>,
        request: &'a mut Self,
        params: &'a GatewayParams,
        opts: &'a CallOptions,
    ) -> impl Future<Output = Result<Self::Answer, GatewayError>> + Send + 'a;
    /// Notes a success in the deployment's live numbers; `busy` counts the call in flight
    /// and `traced` is its span, both until the answer is complete.
    fn succeeded(answer: &mut Self::Answer, deployment: &Deployment, busy: Busy, traced: Attempt);
}

impl Routed for Verbatim<ChatCompletionRequest> {
    type Answer = ChatResponse;

    fn model(&self) -> &str {
        &self.model
    }

    fn model_mut(&mut self) -> &mut String {
        Verbatim::model_mut(self)
    }

    fn gateway_params(&mut self) -> Result<GatewayParams, GatewayError> {
        GatewayParams::extract_verbatim(self)
    }

    fn validate(&self) -> Result<(), GatewayError> {
        if self.messages.is_empty() {
            return Err(GatewayError::bad_param(
                "messages",
                "`messages` must contain at least one message",
            ));
        }
        Ok(())
    }

    fn prompt_tokens(&self) -> Option<u64> {
        Some(switchyard_pricing::tokens::count_messages(
            &self.model,
            &self.messages,
            self.tools.as_deref(),
        ))
    }

    fn meta_mut(answer: &mut ChatResponse) -> &mut CallMeta {
        match answer {
            ChatResponse::Complete(c) => &mut c.meta,
            ChatResponse::Stream(s) => &mut s.meta,
        }
    }

    fn attempt<'a>(
        router: &'a Router,
        deployment: &'a Arc<Deployment>,
        request: &'a mut Self,
        params: &'a GatewayParams,
        opts: &'a CallOptions,
    ) -> impl Future<Output = Result<ChatResponse, GatewayError>> + Send + 'a {
        router.attempt_chat(deployment, request, params, opts)
    }

    fn succeeded(answer: &mut ChatResponse, deployment: &Deployment, busy: Busy, traced: Attempt) {
        match answer {
            ChatResponse::Complete(c) => completed(c, deployment, traced),
            ChatResponse::Stream(s) => {
                // Time to first byte; the stream counts as in flight until it ends, and its
                // tokens count in the deployment's minute when it does.
                deployment.stats.latency(s.meta.upstream_latency);
                let ending = StreamEnd {
                    _busy: busy,
                    span: traced.succeeded(None),
                    usage: Arc::clone(&s.usage),
                    stats: Arc::clone(&deployment.stats),
                };
                let events =
                    std::mem::replace(&mut s.events, Box::pin(futures_util::stream::empty()));
                s.events = Box::pin(futures_util::StreamExt::map(events, move |item| {
                    let _end = &ending;
                    item
                }));
            }
        }
    }
}

/// Held by a stream until it ends (completed or dropped): then it is no longer in flight,
/// and its tokens count in the deployment's usage for the minute (`tpm` routing).
struct StreamEnd {
    _busy: Busy,
    span: AttemptSpan,
    usage: crate::UsageSlot,
    stats: Arc<crate::strategy::Stats>,
}

impl Drop for StreamEnd {
    fn drop(&mut self) {
        if let Some(u) = self.usage.lock().ok().and_then(|u| u.clone()) {
            self.stats.tokens(u.prompt_tokens + u.completion_tokens);
            self.span.usage(&u);
        }
    }
}

/// A complete answer's latency and tokens, for the routing strategies; its attempt's span ends.
pub(crate) fn completed(c: &Completion, deployment: &Deployment, traced: Attempt) {
    drop(traced.succeeded(c.usage.as_ref()));
    deployment.stats.latency(c.meta.upstream_latency);
    if let Some(u) = &c.usage {
        deployment
            .stats
            .tokens(u.prompt_tokens + u.completion_tokens);
    }
}

impl Routed for Verbatim<EmbeddingRequest> {
    type Answer = Completion;

    fn model(&self) -> &str {
        &self.model
    }

    fn model_mut(&mut self) -> &mut String {
        Verbatim::model_mut(self)
    }

    fn gateway_params(&mut self) -> Result<GatewayParams, GatewayError> {
        GatewayParams::extract_verbatim(self)
    }

    fn validate(&self) -> Result<(), GatewayError> {
        if self.input.is_empty() {
            return Err(GatewayError::bad_param(
                "input",
                "`input` must not be empty",
            ));
        }
        Ok(())
    }

    fn meta_mut(answer: &mut Completion) -> &mut CallMeta {
        &mut answer.meta
    }

    fn attempt<'a>(
        router: &'a Router,
        deployment: &'a Arc<Deployment>,
        request: &'a mut Self,
        params: &'a GatewayParams,
        opts: &'a CallOptions,
    ) -> impl Future<Output = Result<Completion, GatewayError>> + Send + 'a {
        router.attempt_embedding(deployment, request, params, opts)
    }

    fn succeeded(answer: &mut Completion, deployment: &Deployment, _busy: Busy, traced: Attempt) {
        completed(answer, deployment, traced);
    }
}
