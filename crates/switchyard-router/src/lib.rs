//! The routing core: model groups, choosing a deployment, and calling it.
//!
//! [`Router::chat`] takes an OpenAI-format request and runs the stages after ingress:
//! **route** (model name → model group → one deployment) and **attempt** (translate, one
//! upstream call, translate back). Admission (limits, budgets) and settlement (cost, spend)
//! wrap it in the server; retries, cooldowns and fallbacks grow here.
//!
//! All outbound HTTP of the gateway happens in this crate ([`upstream`]), through one pooled
//! client.

pub mod deployment;
pub mod error;
pub mod params;
pub mod sdk;
pub mod upstream;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::stream::BoxStream;
use http::{HeaderName, HeaderValue};
use switchyard_config::{Config, ConfigError};
use switchyard_providers::mock;
use switchyard_types::{ChatCompletionRequest, Usage};

pub use deployment::{Backend, Deployment};
pub use error::{GatewayError, Origin};
pub use params::GatewayParams;
pub use sdk::ChunkStream;

/// Per-call options from the ingress (headers, request id).
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// The request id (`x-litellm-call-id`); mock answers use `chatcmpl-<call_id>` as their id.
    pub call_id: String,
    /// Whole-request timeout override (`x-litellm-timeout`).
    pub timeout: Option<Duration>,
    /// Time-to-first-chunk override (`x-litellm-stream-timeout`).
    pub stream_timeout: Option<Duration>,
}

/// What a call went to, for headers and logs.
#[derive(Debug, Clone, Default)]
pub struct CallMeta {
    /// The model group that served the request.
    pub model_group: String,
    /// The deployment id (`x-litellm-model-id`).
    pub deployment_id: String,
    /// The provider name.
    pub provider: String,
    /// The provider's model id.
    pub model: String,
    /// The deployment's base URL (no credentials).
    pub api_base: String,
    /// The provider's response headers worth echoing (`llm_provider-*`).
    pub upstream_headers: Vec<(HeaderName, HeaderValue)>,
    /// Time from sending upstream to the response head (non-stream: to the whole body).
    pub upstream_latency: Duration,
}

/// A complete (non-streamed) answer.
#[derive(Debug, Clone)]
pub struct Completion {
    /// OpenAI-format JSON body.
    pub body: Bytes,
    /// Token usage, when known.
    pub usage: Option<Usage>,
    /// Where it came from.
    pub meta: CallMeta,
}

/// Usage seen on a stream, filled in as the stream goes.
pub type UsageSlot = Arc<Mutex<Option<Usage>>>;

/// A streamed answer: OpenAI-format SSE events, each a complete `data: ...\n\n` frame.
pub struct ChatStream {
    /// Where it came from.
    pub meta: CallMeta,
    /// The events. An `Err` ends the stream: the provider failed after the first byte.
    pub events: BoxStream<'static, Result<Bytes, GatewayError>>,
    /// Usage, once the stream has carried it.
    pub usage: UsageSlot,
}

impl std::fmt::Debug for ChatStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatStream")
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

/// The answer to a chat request.
#[derive(Debug)]
pub enum ChatResponse {
    /// Non-streamed.
    Complete(Completion),
    /// Streamed.
    Stream(ChatStream),
}

/// Model groups and the means to call them.
pub struct Router {
    config: Arc<Config>,
    groups: HashMap<String, Vec<Arc<Deployment>>>,
    aliases: HashMap<String, String>,
    model_names: Vec<String>,
    allow_direct: bool,
    client: upstream::Client,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("model_names", &self.model_names)
            .field("allow_direct", &self.allow_direct)
            .finish_non_exhaustive()
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Router {
    /// Builds a router from a loaded config. Returns it with start-up warnings.
    pub fn from_config(config: Config) -> Result<(Router, Vec<String>), ConfigError> {
        let mut warnings = Vec::new();
        let deployments = deployment::build(&config, &mut warnings)?;
        let mut groups: HashMap<String, Vec<Arc<Deployment>>> = HashMap::new();
        let mut model_names = Vec::new();
        for d in deployments {
            if !groups.contains_key(&d.model_name) {
                model_names.push(d.model_name.clone());
            }
            groups
                .entry(d.model_name.clone())
                .or_default()
                .push(Arc::new(d));
        }
        let mut aliases = HashMap::new();
        for (alias, target) in config
            .file
            .router_settings
            .model_group_alias
            .iter()
            .flatten()
        {
            if !groups.contains_key(target.target()) {
                warnings.push(format!(
                    "{}: router_settings.model_group_alias.{alias} points at `{}`, which is not a model_name",
                    config.source,
                    target.target()
                ));
            }
            aliases.insert(alias.clone(), target.target().to_owned());
            if !target.hidden() && !groups.contains_key(alias) {
                model_names.push(alias.clone());
            }
        }
        let client = upstream::Client::new(&config).map_err(|e| ConfigError::Invalid {
            file: config.source.clone(),
            key: "(http client)".into(),
            line: None,
            message: e,
        })?;
        Ok((
            Router {
                config: Arc::new(config),
                groups,
                aliases,
                model_names,
                allow_direct: false,
                client,
            },
            warnings,
        ))
    }

    /// Lets requests name `provider/model` directly when no model group matches (SDK use).
    pub fn with_direct_addressing(mut self, on: bool) -> Self {
        self.allow_direct = on;
        self
    }

    /// The config the router was built from.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Model names to list in `/v1/models`, in config order, visible aliases last.
    pub fn model_names(&self) -> &[String] {
        &self.model_names
    }

    /// The deployments of a model group (after aliases).
    pub fn deployments(&self, model: &str) -> Option<&[Arc<Deployment>]> {
        let name = self.aliases.get(model).map_or(model, String::as_str);
        self.groups.get(name).map(Vec::as_slice)
    }

    /// Routes a model name to one deployment: lowest `order` first, then weighted random.
    fn pick(&self, model: &str) -> Result<Arc<Deployment>, GatewayError> {
        if let Some(group) = self.deployments(model) {
            return pick_weighted(group).ok_or_else(|| GatewayError::unknown_model(model));
        }
        if self.allow_direct {
            if let Some((provider, id)) = switchyard_config::split_provider(model, None) {
                if let Some(d) = deployment::direct(&self.config, &provider, &id, model) {
                    return Ok(Arc::new(d));
                }
            }
        }
        Err(GatewayError::unknown_model(model))
    }

    /// Runs a chat completion: route, then one attempt.
    pub async fn chat(
        &self,
        mut request: ChatCompletionRequest,
        opts: &CallOptions,
    ) -> Result<ChatResponse, GatewayError> {
        let params = GatewayParams::extract(&mut request)?;
        if request.model.is_empty() {
            return Err(GatewayError::bad_param(
                "model",
                "`model` must not be empty",
            ));
        }
        if request.messages.is_empty() {
            return Err(GatewayError::bad_param(
                "messages",
                "`messages` must contain at least one message",
            ));
        }
        let deployment = self.pick(&request.model)?;
        let mut meta = CallMeta {
            model_group: deployment.model_name.clone(),
            deployment_id: deployment.id.clone(),
            provider: deployment.target.provider.clone(),
            model: deployment.target.model.clone(),
            api_base: deployment.target.api_base.clone(),
            ..CallMeta::default()
        };
        let backend = match &params.mock_response {
            Some(m) => Backend::Mock(m.clone()),
            None => deployment.backend.clone(),
        };
        let timeout = params
            .timeout
            .or(opts.timeout)
            .unwrap_or(deployment.timeout);
        let stream_timeout = params
            .stream_timeout
            .or(opts.stream_timeout)
            .or(deployment.stream_timeout)
            .unwrap_or(timeout)
            .min(timeout);
        let id = if opts.call_id.is_empty() {
            format!("chatcmpl-{}", uuid::Uuid::new_v4())
        } else {
            format!("chatcmpl-{}", opts.call_id)
        };
        match backend {
            Backend::Mock(m) => {
                let created = unix_now();
                if request.is_stream() {
                    let (events, usage) = mock::stream_events(&m, &request, &id, created)
                        .map_err(|e| GatewayError::from_provider(e, "mock"))?;
                    Ok(ChatResponse::Stream(ChatStream {
                        meta,
                        events: Box::pin(futures_util::stream::iter(events.into_iter().map(Ok))),
                        usage: Arc::new(Mutex::new(Some(usage))),
                    }))
                } else {
                    let out = mock::respond(&m, &request, &id, created)
                        .map_err(|e| GatewayError::from_provider(e, "mock"))?;
                    Ok(ChatResponse::Complete(Completion {
                        body: out.body,
                        usage: out.usage,
                        meta,
                    }))
                }
            }
            Backend::Http(translator) => {
                request.model.clone_from(&deployment.target.model);
                let up = translator
                    .chat_request(&deployment.target, &request)
                    .map_err(GatewayError::from_translate)?;
                let started = Instant::now();
                if request.is_stream() {
                    let (headers, events, usage) = self
                        .client
                        .stream(&deployment.target, translator, up, timeout, stream_timeout)
                        .await?;
                    meta.upstream_headers = headers;
                    meta.upstream_latency = started.elapsed();
                    Ok(ChatResponse::Stream(ChatStream {
                        meta,
                        events,
                        usage,
                    }))
                } else {
                    let (headers, out) = self
                        .client
                        .complete(&deployment.target, translator, up, timeout)
                        .await?;
                    meta.upstream_headers = headers;
                    meta.upstream_latency = started.elapsed();
                    Ok(ChatResponse::Complete(Completion {
                        body: out.body,
                        usage: out.usage,
                        meta,
                    }))
                }
            }
        }
    }
}

fn pick_weighted(group: &[Arc<Deployment>]) -> Option<Arc<Deployment>> {
    let best = group.iter().map(|d| d.order).min()?;
    let tier: Vec<&Arc<Deployment>> = group.iter().filter(|d| d.order == best).collect();
    if tier.len() == 1 {
        return tier.first().map(|d| Arc::clone(d));
    }
    let total: f64 = tier.iter().map(|d| d.weight).sum();
    if total <= 0.0 {
        return tier
            .get(fastrand::usize(..tier.len()))
            .map(|d| Arc::clone(d));
    }
    let mut x = fastrand::f64() * total;
    for d in &tier {
        if x < d.weight {
            return Some(Arc::clone(d));
        }
        x -= d.weight;
    }
    tier.last().map(|d| Arc::clone(d))
}

#[cfg(test)]
mod tests;
