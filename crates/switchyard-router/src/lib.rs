//! The routing core: model groups, choosing a deployment, and calling it.
//!
//! [`Router::chat`] takes an OpenAI-format request and runs the stages after ingress:
//! **route** (model name → model group → one deployment) and **attempt** (translate, one
//! upstream call, translate back). Admission (limits, budgets) and settlement (cost, spend)
//! wrap it in the server; retries, cooldowns and fallbacks grow here.
//!
//! All outbound HTTP of the gateway happens in this crate ([`upstream`]), through one pooled
//! client.

pub mod cooldown;
pub mod deployment;
mod embedding;
mod endpoint;
pub mod error;
pub mod google;
mod health;
mod native;
pub mod params;
mod passthrough;
pub mod pool;
pub mod protocols;
mod routed;
pub mod sdk;
pub mod strategy;
pub mod tls;
pub mod trace;
mod transcription;
pub mod upstream;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::stream::BoxStream;
use http::{HeaderName, HeaderValue};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use switchyard_config::{Config, ConfigError};
use switchyard_pricing::{Cost, Price, PriceTable};
use switchyard_providers::mock;
use switchyard_types::{ChatCompletionRequest, StreamOptions, Usage, Verbatim};

pub use deployment::{Backend, Deployment};
pub use endpoint::EndpointRequest;
pub use error::{GatewayError, Origin};
pub use params::GatewayParams;
use routed::Routed;
pub use sdk::ChunkStream;
pub use trace::Trace;
pub use transcription::TranscriptionRequest;
pub use upstream::Upload;

/// Per-call options from the ingress (headers, request id).
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// The request id (`x-litellm-call-id`); mock answers use `chatcmpl-<call_id>` as their id.
    pub call_id: String,
    /// Whole-request timeout override (`x-litellm-timeout`).
    pub timeout: Option<Duration>,
    /// Time-to-first-chunk override (`x-litellm-stream-timeout`).
    pub stream_timeout: Option<Duration>,
    /// The request as the client sent it in a provider's own format, for deployments of that
    /// provider (which then receive it as it is and answer in that format).
    pub native: Option<Arc<Native>>,
    /// How the call is traced (a span per attempt, the trace context sent upstream).
    pub trace: Trace,
    /// When the whole call must be over, retries and fallbacks included: the router sets it
    /// from the request's own timeout (`timeout` or `x-litellm-timeout`).
    pub deadline: Option<Instant>,
}

/// A request in a provider's own format.
#[derive(Debug, Clone)]
pub enum Native {
    /// An Anthropic Messages body (`/v1/messages`), with the client's `anthropic-beta`.
    Anthropic {
        /// The body as received.
        body: serde_json::Map<String, serde_json::Value>,
        /// The `anthropic-beta` header.
        beta: Option<String>,
    },
    /// An OpenAI Responses body (`/v1/responses`), earlier turns not expanded.
    Responses {
        /// The body as received (with `previous_response_id` replaced by the earlier turns
        /// when those are the gateway's).
        body: serde_json::Map<String, serde_json::Value>,
        /// Why it cannot go as a chat request to a non-OpenAI deployment, when it cannot.
        chat_refusal: Option<String>,
    },
    /// An OpenAI legacy completions body (`/v1/completions`).
    Completions {
        /// The body as received.
        body: serde_json::Map<String, serde_json::Value>,
        /// Why it cannot go as a chat request to a non-OpenAI deployment, when it cannot.
        chat_refusal: Option<String>,
    },
}

/// The format of an answer's body or stream events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Format {
    /// OpenAI chat completion (chunks).
    #[default]
    OpenAi,
    /// Anthropic message (events): a native request answered by an Anthropic deployment.
    Anthropic,
    /// OpenAI `text_completion` (chunks): a completions request answered by an OpenAI-format
    /// deployment.
    OpenAiText,
    /// OpenAI `response` (Responses events): a Responses request answered by OpenAI.
    OpenAiResponses,
    /// A provider's own format, untouched (pass-through routes).
    PassThrough,
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
    /// The deployment has no price: the call is recorded at cost 0.
    pub unpriced: bool,
    /// Failed attempts before this answer (`x-litellm-attempted-retries`).
    pub attempted_retries: u32,
    /// Fallback groups tried before this answer (`x-litellm-attempted-fallbacks`).
    pub attempted_fallbacks: u32,
    /// Why each earlier group failed (`x-litellm-fallback-errors`), in order.
    pub fallback_errors: Vec<FallbackError>,
    /// The answer's content type when it is neither JSON nor SSE (audio).
    pub content_type: Option<HeaderValue>,
}

/// One failed hop before a fallback answered.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FallbackError {
    /// What failed, as the client would have seen it.
    pub message: String,
    /// The gateway's reason.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The model group that failed.
    pub param: String,
    /// The HTTP status.
    pub code: String,
}

/// A complete (non-streamed) answer.
#[derive(Debug, Clone)]
pub struct Completion {
    /// OpenAI-format JSON body.
    pub body: Bytes,
    /// Token usage, when known.
    pub usage: Option<Usage>,
    /// Its cost; `None` when the model has no price (it then costs 0).
    pub cost: Option<Cost>,
    /// Where it came from.
    pub meta: CallMeta,
    /// The body's format.
    pub format: Format,
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
    /// The deployment's price, to cost the stream from its final usage.
    pub price: Option<Arc<Price>>,
    /// The events' format.
    pub format: Format,
}

impl ChatStream {
    /// The stream's cost so far: from the usage it carried, at the deployment's price.
    pub fn cost(&self) -> Option<Cost> {
        let price = self.price.as_ref()?;
        let usage = self.usage.lock().ok()?.clone()?;
        Some(price.cost(&usage))
    }
}

impl std::fmt::Debug for ChatStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatStream")
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

/// The answer to a chat request.
// Returned once per request and moved a couple of times: boxing the larger variant would
// cost an allocation on every non-streamed answer to save a few hundred bytes of memcpy.
#[allow(clippy::large_enum_variant)]
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
    /// Hashed with foldhash, not SipHash: looked up a few times per request, by names from
    /// the config.
    groups: hashbrown::HashMap<String, Vec<Arc<Deployment>>>,
    aliases: hashbrown::HashMap<String, String>,
    model_names: Vec<String>,
    allow_direct: bool,
    client: upstream::Client,
    prices: Arc<PriceTable>,
    cooldowns: cooldown::Cooldowns,
    strategy: strategy::Strategy,
    unpriced_warned: Mutex<HashSet<String>>,
    unpriced_requests: AtomicU64,
    on_failure: std::sync::OnceLock<FailureHook>,
    shared_usage: std::sync::OnceLock<Arc<dyn SharedUsage>>,
}

/// Deployment usage counted across instances (Redis), so that a deployment's `rpm` and `tpm`
/// hold for all of them together.
pub trait SharedUsage: Send + Sync + 'static {
    /// Counts a request to `d` in this minute, unless that would pass its `rpm` or its tokens
    /// have reached its `tpm`: then `Ok(false)`. `Err` when the shared count cannot be had
    /// now (the instance's own count then decides).
    fn reserve<'a>(
        &'a self,
        d: &'a Deployment,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<bool, String>> + Send + 'a>>;
    /// Counts tokens `deployment` used this minute (may be sent later, in batches).
    fn tokens(&self, deployment: &str, n: u64);
}

/// What is told of each failed attempt: the deployment, the failure, and how long the
/// deployment now cools down when this failure started a cooldown.
pub type FailureHook = Box<dyn Fn(&Deployment, &GatewayError, Option<Duration>) + Send + Sync>;

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("model_names", &self.model_names)
            .field("allow_direct", &self.allow_direct)
            .finish_non_exhaustive()
    }
}

fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
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
        let prices = load_prices(&config)?;
        let deployments = deployment::build(&config, &prices, &mut warnings)?;
        let mut groups: hashbrown::HashMap<String, Vec<Arc<Deployment>>> =
            hashbrown::HashMap::new();
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
        let mut aliases = hashbrown::HashMap::new();
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
        let cooldowns = cooldown::Cooldowns::new(&config, groups.values().flatten().map(|d| &**d));
        let rs = &config.file.router_settings;
        let strategy = strategy::Strategy::parse(
            rs.routing_strategy.as_deref(),
            rs.routing_strategy_args.as_ref(),
        )
        .map_err(|message| ConfigError::Invalid {
            file: config.source.clone(),
            key: "router_settings.routing_strategy".into(),
            line: None,
            message,
        })?;
        let client = upstream::Client::new(&config).map_err(|e| ConfigError::Invalid {
            file: config.source.clone(),
            key: "litellm_settings.ssl_verify".into(),
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
                prices: Arc::new(prices),
                cooldowns,
                strategy,
                unpriced_warned: Mutex::new(HashSet::new()),
                unpriced_requests: AtomicU64::new(0),
                on_failure: std::sync::OnceLock::new(),
                shared_usage: std::sync::OnceLock::new(),
            },
            warnings,
        ))
    }

    /// The price table in force (shipped table plus any price file).
    pub fn prices(&self) -> &PriceTable {
        &self.prices
    }

    /// Every deployment, in config order within each model name.
    pub fn all_deployments(&self) -> impl Iterator<Item = &Arc<Deployment>> {
        self.model_names
            .iter()
            .filter_map(|n| self.groups.get(n))
            .flatten()
    }

    /// Requests answered by a model with no price (they cost 0).
    pub fn unpriced_requests(&self) -> u64 {
        self.unpriced_requests.load(Ordering::Relaxed)
    }

    /// Notes a request to an unpriced model: counted, and warned about once per model.
    fn note_unpriced(&self, d: &Deployment) {
        self.unpriced_requests.fetch_add(1, Ordering::Relaxed);
        let key = format!("{}/{}", d.target.provider, d.target.model);
        if let Ok(mut warned) = self.unpriced_warned.lock() {
            if warned.insert(key.clone()) {
                tracing::warn!(model = %key, "no price for {key}: its requests are recorded at cost 0");
            }
        }
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

    /// The outbound HTTP client (for webhooks and alerts: all outbound HTTP goes through it).
    pub fn http_client(&self) -> upstream::Client {
        self.client.clone()
    }

    /// Model names to list in `/v1/models`, in config order, visible aliases last.
    pub fn model_names(&self) -> &[String] {
        &self.model_names
    }

    /// Cools a deployment down for `for_` (another instance saw it fail); no hook is told.
    pub fn apply_cooldown(&self, deployment_id: &str, for_: Duration) {
        self.cooldowns.apply(deployment_id, for_);
    }

    /// Whether a deployment is cooling down now.
    pub fn cooling_down(&self, deployment_id: &str) -> bool {
        self.cooldowns.remaining(deployment_id).is_some()
    }

    /// The deployments of a model group (after aliases).
    pub fn deployments(&self, model: &str) -> Option<&[Arc<Deployment>]> {
        let name = self.aliases.get(model).map_or(model, String::as_str);
        self.groups.get(name).map(Vec::as_slice)
    }

    /// Routes a model name to one deployment: lowest `order` first, then weighted random.
    fn pick(&self, model: &str) -> Result<Arc<Deployment>, GatewayError> {
        if let Some(group) = self.deployments(model) {
            return self.pick_available(model, group, &[]);
        }
        if let Some(group) = self.wildcard(model) {
            return self.pick_available(model, &group, &[]);
        }
        if self.allow_direct {
            if let Some((provider, id)) = switchyard_config::split_provider(model, None) {
                if let Some(d) =
                    deployment::direct(&self.config, &self.prices, &provider, &id, model)
                {
                    return Ok(Arc::new(d));
                }
            }
        }
        Err(GatewayError::unknown_model(model))
    }

    /// The deployments of the most specific wildcard group (`openai/*`, `claude-*`, `*`) that
    /// matches `model`, made concrete: the `*` of each deployment's model becomes the part
    /// of the name the wildcard matched. The concrete deployments share the wildcard's
    /// id (cooldowns) and live numbers.
    fn wildcard(&self, model: &str) -> Option<Vec<Arc<Deployment>>> {
        let (pattern, matched) = self
            .groups
            .keys()
            .filter_map(|p| {
                let (pre, post) = p.split_once('*')?;
                let rest = model.strip_prefix(pre)?.strip_suffix(post)?;
                Some((p, rest))
            })
            .max_by_key(|(p, _)| p.len())?;
        let group = self.groups.get(pattern)?;
        Some(
            group
                .iter()
                .map(|d| {
                    let mut c = (**d).clone();
                    if c.target.model.contains('*') {
                        c.target.model = c.target.model.replace('*', matched);
                        if c.price.is_none() {
                            c.price = self.prices.lookup(&c.target.provider, &c.target.model);
                        }
                    }
                    Arc::new(c)
                })
                .collect(),
        )
    }

    /// Runs a chat completion: route, attempts, retries and fallbacks.
    ///
    /// A request parsed with [`Verbatim::parse`] keeps the client's bytes, and goes to an
    /// OpenAI-format deployment as they were sent (the model id set, the gateway's own fields
    /// left out) rather than serialised again.
    pub async fn chat(
        &self,
        request: impl Into<Verbatim<ChatCompletionRequest>>,
        opts: &CallOptions,
    ) -> Result<ChatResponse, GatewayError> {
        self.route(request.into(), opts).await
    }

    /// Runs an embeddings request: route, attempts, retries and fallbacks.
    ///
    /// As [`Router::chat`], a request parsed with [`Verbatim::parse`] goes to an
    /// OpenAI-format deployment as the client sent it.
    pub async fn embedding(
        &self,
        request: impl Into<Verbatim<switchyard_types::EmbeddingRequest>>,
        opts: &CallOptions,
    ) -> Result<Completion, GatewayError> {
        self.route(request.into(), opts).await
    }

    /// Runs one of the smaller endpoints (images, speech, moderations, rerank): route,
    /// attempts, retries and fallbacks. Speech answers stream.
    pub async fn endpoint(
        &self,
        request: EndpointRequest,
        opts: &CallOptions,
    ) -> Result<ChatResponse, GatewayError> {
        self.route(request, opts).await
    }

    /// Routes any kind of call: its group's deployments, then its fallbacks.
    async fn route<R: Routed>(
        &self,
        mut request: R,
        opts: &CallOptions,
    ) -> Result<R::Answer, GatewayError> {
        let params = request.gateway_params()?;
        if request.model().is_empty() {
            return Err(GatewayError::bad_param(
                "model",
                "`model` must not be empty",
            ));
        }
        request.validate()?;
        // A timeout the request gives bounds the whole call, not each attempt.
        let scoped;
        let opts = match params.timeout.or(opts.timeout) {
            Some(t) if opts.deadline.is_none() => {
                scoped = CallOptions {
                    deadline: Some(Instant::now() + t),
                    ..opts.clone()
                };
                &scoped
            }
            _ => opts,
        };
        let retries = params
            .num_retries
            .or(self.config.file.router_settings.num_retries.map(|n| n.0))
            .or(self.config.file.litellm_settings.num_retries.map(|n| n.0))
            .unwrap_or(0)
            .min(MAX_RETRIES);
        let source = request.model().to_owned();
        let may_fall_back = !params.disable_fallbacks && self.has_fallbacks(&source, &params);
        // Pre-call checks: deployments whose context window the prompt overflows are skipped.
        let prompt = if self
            .config
            .file
            .router_settings
            .enable_pre_call_checks
            .is_some_and(|v| v.0)
        {
            request.prompt_tokens()
        } else {
            None
        };
        // Attempts borrow the request, and a failed one leaves it as it came: retries and
        // fallbacks reuse it, where each used to copy every message first.
        let mut err = match self
            .try_group(&mut request, retries, prompt, &params, opts)
            .await
        {
            Ok(r) => return Ok(r),
            Err(e) => e,
        };
        if !may_fall_back {
            return Err(err);
        }
        let mut failed = vec![FallbackError {
            message: err.message.chars().take(300).collect(),
            kind: err.reason,
            param: source.clone(),
            code: err.status.to_string(),
        }];
        for (hop, target) in self
            .fallbacks_for(&source, &params, &err)
            .into_iter()
            .enumerate()
        {
            if opts.deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            tracing::debug!(from = %source, to = %target, reason = err.reason, "falling back");
            request.model_mut().clone_from(&target);
            match self
                .try_group(&mut request, retries, prompt, &params, opts)
                .await
            {
                Ok(mut r) => {
                    let hops = u32::try_from(hop + 1).unwrap_or(u32::MAX);
                    let meta = R::meta_mut(&mut r);
                    meta.attempted_fallbacks = hops;
                    meta.fallback_errors = failed;
                    return Ok(r);
                }
                Err(e) => {
                    failed.push(FallbackError {
                        message: e.message.chars().take(300).collect(),
                        kind: e.reason,
                        param: target,
                        code: e.status.to_string(),
                    });
                    err = e;
                }
            }
        }
        Err(err)
    }

    /// Whether a request to `model` has any fallback configured or asked for.
    fn has_fallbacks(&self, model: &str, params: &GatewayParams) -> bool {
        let (r, l) = (
            &self.config.file.router_settings,
            &self.config.file.litellm_settings,
        );
        let names = |list: &Option<switchyard_config::raw::FallbackList>| {
            list.iter().flatten().any(|m| m.contains_key(model))
        };
        params.fallbacks.as_ref().is_some_and(|f| !f.is_empty())
            || names(&r.fallbacks)
            || names(&l.fallbacks)
            || names(&r.context_window_fallbacks)
            || names(&l.context_window_fallbacks)
            || names(&r.content_policy_fallbacks)
            || names(&l.content_policy_fallbacks)
            || r.default_fallbacks
                .as_ref()
                .or(l.default_fallbacks.as_ref())
                .is_some_and(|d| !d.is_empty())
    }

    /// The groups to try after `model` failed with `err`, in order (LiteLLM's rules):
    /// context-window and content-policy errors use their own lists; other client errors
    /// have none; anything else uses the request's `fallbacks`, else the configured ones
    /// for the group, else `default_fallbacks`. At most `max_fallbacks` (default 5).
    fn fallbacks_for(
        &self,
        model: &str,
        params: &GatewayParams,
        err: &GatewayError,
    ) -> Vec<String> {
        let (r, l) = (
            &self.config.file.router_settings,
            &self.config.file.litellm_settings,
        );
        let lookup = |router: &Option<switchyard_config::raw::FallbackList>,
                      litellm: &Option<switchyard_config::raw::FallbackList>| {
            router
                .as_ref()
                .or(litellm.as_ref())
                .into_iter()
                .flatten()
                .find_map(|m| m.get(model).cloned())
        };
        let list = match error_class(err) {
            ErrorClass::ContextWindow => {
                lookup(&r.context_window_fallbacks, &l.context_window_fallbacks)
            }
            ErrorClass::ContentPolicy => {
                lookup(&r.content_policy_fallbacks, &l.content_policy_fallbacks)
            }
            ErrorClass::ClientError => None,
            ErrorClass::Other => params
                .fallbacks
                .clone()
                .filter(|f| !f.is_empty())
                .or_else(|| lookup(&r.fallbacks, &l.fallbacks))
                .or_else(|| {
                    r.default_fallbacks
                        .clone()
                        .or_else(|| l.default_fallbacks.clone())
                }),
        };
        let max = r.max_fallbacks.map_or(DEFAULT_MAX_FALLBACKS, |m| m.0) as usize;
        list.unwrap_or_default()
            .into_iter()
            .filter(|m| m != model)
            .take(max)
            .collect()
    }

    /// One model group: a deployment, and up to `retries` more attempts.
    async fn try_group<R: Routed>(
        &self,
        request: &mut R,
        retries: u32,
        prompt: Option<u64>,
        params: &GatewayParams,
        opts: &CallOptions,
    ) -> Result<R::Answer, GatewayError> {
        let rs = &self.config.file.router_settings;
        let policy = rs
            .model_group_retry_policy
            .as_ref()
            .and_then(|m| m.get(request.model()))
            .or(rs.retry_policy.as_ref());
        // Retries allowed for any error class: the most attempts the group may get.
        let own = self
            .deployments(request.model())
            .and_then(|g| g.iter().filter_map(|d| d.max_retries).max())
            .unwrap_or(0);
        let cap = policy
            .map_or(retries, |p| retry_policy_max(p).max(retries))
            .max(own)
            .min(MAX_RETRIES);
        let model = request.model().to_owned();
        let mut tried: Vec<String> = Vec::new();
        let mut attempt = 0u32;
        loop {
            let (deployment, busy) = self.pick_and_start(&model, &tried, prompt).await?;
            let last = attempt >= cap;
            let traced = opts.trace.attempt(&deployment, attempt);
            // Boxed: an attempt's future is kilobytes (the upstream call and its answer), and
            // every future holding it inline is moved whole when it starts.
            let result = traced
                .run(Box::pin(R::attempt(
                    self,
                    &deployment,
                    request,
                    params,
                    opts,
                )))
                .await;
            match result {
                Ok(mut r) => {
                    R::meta_mut(&mut r).attempted_retries = attempt;
                    R::succeeded(&mut r, &deployment, busy, traced);
                    return Ok(r);
                }
                // A deployment's own `max_retries` bounds retries after its failures.
                Err(e)
                    if e.retryable
                        && !last
                        && attempt
                            < deployment.max_retries.map_or_else(
                                || policy.map_or(retries, |p| retry_limit(p, &e, retries)),
                                |m| m.min(MAX_RETRIES),
                            ) =>
                {
                    traced.failed(&e);
                    self.note_failure(&model, &deployment, &e);
                    tried.push(deployment.id.clone());
                    let elsewhere = self
                        .deployments(&model)
                        .is_some_and(|g| g.iter().any(|d| !tried.contains(&d.id)));
                    tracing::debug!(
                        deployment = %deployment.id, attempt, reason = e.reason,
                        elsewhere, "retrying: {}", e.message
                    );
                    // Another deployment: go at once. The same one: back off first.
                    let wait = if elsewhere {
                        Duration::ZERO
                    } else {
                        backoff(attempt, e.retry_after)
                    };
                    // No time left in the request's own timeout: this failure is the answer.
                    if opts.deadline.is_some_and(|d| Instant::now() + wait >= d) {
                        return Err(e);
                    }
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                    }
                    attempt += 1;
                }
                Err(e) => {
                    traced.failed(&e);
                    self.note_failure(&model, &deployment, &e);
                    return Err(e);
                }
            }
        }
    }

    fn note_failure(&self, model: &str, d: &Deployment, e: &GatewayError) {
        let size = self.deployments(model).map_or(1, <[_]>::len);
        let cooldown = self.cooldowns.record_failure(d, e, size);
        if let Some(hook) = self.on_failure.get() {
            hook(d, e, cooldown);
        }
    }

    /// Whether deployments failing background health checks are routed around
    /// (`enable_health_check_routing` in `router_settings` or `general_settings`).
    fn health_routing(&self) -> bool {
        let f = &self.config.file;
        f.router_settings
            .enable_health_check_routing
            .or(f.general_settings.enable_health_check_routing)
            .is_some_and(|v| v.0)
    }

    /// Records a background health check's verdict on `d`.
    pub fn note_health(&self, d: &Deployment, healthy: bool) {
        let since = if healthy { 0 } else { unix_now_ms().max(1) };
        d.unhealthy_since_ms
            .store(since, std::sync::atomic::Ordering::Relaxed);
    }

    /// `d` failed a health check recently enough to count
    /// (`health_check_staleness_threshold`, default twice `health_check_interval`).
    fn unhealthy(&self, d: &Deployment) -> bool {
        let since = d
            .unhealthy_since_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        if since == 0 {
            return false;
        }
        let f = &self.config.file;
        let stale_after = f
            .router_settings
            .health_check_staleness_threshold
            .map(|s| s.0)
            .unwrap_or_else(|| {
                2.0 * f
                    .general_settings
                    .health_check_interval
                    .map_or(300.0, |i| i.0)
            });
        (unix_now_ms().saturating_sub(since) as f64) < stale_after * 1000.0
    }

    /// Whether any deployment has an `rpm` or `tpm` (which instances should then share).
    pub fn has_deployment_limits(&self) -> bool {
        self.all_deployments()
            .any(|d| d.rpm.is_some() || d.tpm.is_some())
    }

    /// Counts the usage of deployments with an `rpm` or `tpm` across instances. Set once.
    pub fn share_usage(&self, shared: Arc<dyn SharedUsage>) {
        for d in self.all_deployments() {
            if d.rpm.is_some() || d.tpm.is_some() {
                let s = Arc::clone(&shared);
                let id = d.id.clone();
                d.stats
                    .share_tokens(strategy::TokenHook(Box::new(move |n| s.tokens(&id, n))));
            }
        }
        let _ = self.shared_usage.set(shared);
    }

    /// Picks a deployment and counts the request on it. A deployment that filled up since it
    /// was picked (another request took its last slot, here or on another instance) is
    /// passed over for the next best, and so is one whose context window is smaller than
    /// `prompt` tokens (pre-call checks).
    async fn pick_and_start(
        &self,
        model: &str,
        tried: &[String],
        prompt: Option<u64>,
    ) -> Result<(Arc<Deployment>, strategy::Busy), GatewayError> {
        let mut full: Vec<String> = Vec::new();
        let mut small: Vec<(String, u64)> = Vec::new();
        loop {
            let d = if full.is_empty() && small.is_empty() {
                self.pick_avoiding(model, tried)?
            } else {
                let group = self
                    .deployments(model)
                    .ok_or_else(|| GatewayError::unknown_model(model))?;
                let avoid: Vec<String> = tried
                    .iter()
                    .chain(&full)
                    .chain(small.iter().map(|(id, _)| id))
                    .cloned()
                    .collect();
                self.pick_available(model, group, &avoid).map_err(|_| {
                    match (full.is_empty(), small.iter().map(|(_, w)| *w).max()) {
                        (true, Some(window)) => {
                            context_exceeded(model, prompt.unwrap_or(0), window)
                        }
                        _ => at_capacity(model),
                    }
                })?
            };
            if let (Some(p), Some(w)) = (prompt, d.max_input_tokens) {
                if p > w {
                    small.push((d.id.clone(), w));
                    continue;
                }
            }
            let Some(busy) = d.stats.try_start(d.rpm, d.tpm) else {
                full.push(d.id.clone());
                continue;
            };
            if d.rpm.is_some() || d.tpm.is_some() {
                if let Some(shared) = self.shared_usage.get() {
                    match shared.reserve(&d).await {
                        Ok(true) => {}
                        Ok(false) => {
                            d.stats.unstart();
                            full.push(d.id.clone());
                            continue;
                        }
                        Err(e) => {
                            tracing::debug!(deployment = %d.id, "shared usage unavailable, counting locally: {e}");
                        }
                    }
                }
            }
            return Ok((d, busy));
        }
    }

    /// Calls `hook` on each failed attempt (for alerts and cooldowns shared across
    /// instances). Set once.
    pub fn on_failure(&self, hook: FailureHook) {
        let _ = self.on_failure.set(hook);
    }

    /// What every attempt starts from: its meta, the backend (a request's `mock_response`
    /// wins), and its timeouts (whole call, and first stream bytes).
    fn attempt_basics(
        deployment: &Deployment,
        params: &GatewayParams,
        opts: &CallOptions,
    ) -> (CallMeta, Backend, Duration, Duration) {
        let meta = CallMeta {
            model_group: deployment.model_name.clone(),
            deployment_id: deployment.id.clone(),
            provider: deployment.target.provider.clone(),
            model: deployment.target.model.clone(),
            api_base: deployment.target.api_base.clone(),
            unpriced: deployment.price.is_none() && matches!(deployment.backend, Backend::Http(_)),
            ..CallMeta::default()
        };
        let backend = match &params.mock_response {
            Some(m) => Backend::Mock(m.clone()),
            None => deployment.backend.clone(),
        };
        let mut timeout = params
            .timeout
            .or(opts.timeout)
            .unwrap_or(deployment.timeout);
        // What is left of the whole call's time, when the request set one.
        if let Some(d) = opts.deadline {
            let left = d.saturating_duration_since(Instant::now());
            timeout = timeout.min(left.max(Duration::from_millis(1)));
        }
        let stream_timeout = params
            .stream_timeout
            .or(opts.stream_timeout)
            .or(deployment.stream_timeout)
            .unwrap_or(timeout)
            .min(timeout);
        (meta, backend, timeout, stream_timeout)
    }

    /// The deployment's target, with a fresh access token for service-account deployments
    /// (Vertex AI); borrowed, not copied, for every other deployment (the request path).
    async fn authed_target<'d>(
        &self,
        deployment: &'d Deployment,
    ) -> Result<std::borrow::Cow<'d, switchyard_providers::Target>, GatewayError> {
        let Some(auth) = &deployment.google else {
            return Ok(std::borrow::Cow::Borrowed(&deployment.target));
        };
        let mut target = deployment.target.clone();
        target.api_key = Some(auth.token(&self.client).await?);
        Ok(std::borrow::Cow::Owned(target))
    }

    /// One chat attempt on one deployment: translate, call, translate back. The request is
    /// pointed at the deployment for the call and left as it came afterwards (a stream that
    /// answered takes it, to count its prompt if the provider reports no usage).
    async fn attempt_chat(
        &self,
        deployment: &Arc<Deployment>,
        request: &mut Verbatim<ChatCompletionRequest>,
        params: &GatewayParams,
        opts: &CallOptions,
    ) -> Result<ChatResponse, GatewayError> {
        let (meta, backend, timeout, stream_timeout) =
            Self::attempt_basics(deployment, params, opts);
        let id = if opts.call_id.is_empty() {
            format!("chatcmpl-{}", uuid::Uuid::new_v4())
        } else {
            format!("chatcmpl-{}", opts.call_id)
        };
        match backend {
            Backend::Mock(m) => {
                let created = unix_now();
                if request.is_stream() {
                    let (events, usage) = mock::stream_events(&m, request, &id, created)
                        .map_err(|e| GatewayError::from_provider(e, "mock"))?;
                    Ok(ChatResponse::Stream(ChatStream {
                        meta,
                        events: Box::pin(futures_util::stream::iter(events.into_iter().map(Ok))),
                        usage: Arc::new(Mutex::new(Some(usage))),
                        price: deployment.price.clone(),
                        format: Format::OpenAi,
                    }))
                } else {
                    let out = mock::respond(&m, request, &id, created)
                        .map_err(|e| GatewayError::from_provider(e, "mock"))?;
                    let cost = self.cost(deployment, out.usage.as_ref());
                    Ok(ChatResponse::Complete(Completion {
                        body: out.body,
                        usage: out.usage,
                        cost,
                        meta,
                        format: Format::OpenAi,
                    }))
                }
            }
            Backend::Http(translator) => {
                // Only the model id and `stream_options` change, through the accessors that
                // keep the client's bytes: the body can still be forwarded as sent.
                let group = std::mem::replace(request.model_mut(), deployment.target.model.clone());
                // Streams are priced from their final usage: ask for it, and keep the usage
                // chunk from a client that did not ask.
                let strip_usage = request.is_stream() && !request.wants_stream_usage();
                let asked = strip_usage.then(|| request.stream_options.clone());
                if strip_usage {
                    request
                        .stream_options_mut()
                        .get_or_insert_with(StreamOptions::default)
                        .include_usage = Some(true);
                }
                let basics = (meta, timeout, stream_timeout);
                let result = self
                    .attempt_http(deployment, translator, request, strip_usage, basics, opts)
                    .await;
                *request.model_mut() = group;
                if let Some(asked) = asked {
                    *request.stream_options_mut() = asked;
                }
                result
            }
        }
    }

    /// [`Router::attempt_chat`] to an HTTP deployment, the request pointed at it.
    async fn attempt_http(
        &self,
        deployment: &Arc<Deployment>,
        translator: &'static dyn switchyard_providers::ChatProvider,
        request: &mut Verbatim<ChatCompletionRequest>,
        strip_usage: bool,
        (mut meta, timeout, stream_timeout): (CallMeta, Duration, Duration),
        opts: &CallOptions,
    ) -> Result<ChatResponse, GatewayError> {
        if deployment.price.is_none() {
            self.note_unpriced(deployment);
        }
        let target = &*self.authed_target(deployment).await?;
        // A request in the deployment's own format goes as it is, and its answer
        // comes back in that format.
        let (translator, up, format, strip_usage) =
            match native::call(opts.native.as_deref(), target, translator, strip_usage)? {
                Some(call) => call,
                None => {
                    let up = translator
                        .chat_request(target, request)
                        .map_err(GatewayError::from_translate)?;
                    (translator, up, Format::OpenAi, strip_usage)
                }
            };
        let started = Instant::now();
        if request.is_stream() {
            let (headers, events, usage) = self
                .client
                .stream(
                    &deployment.target,
                    translator,
                    up,
                    upstream::StreamCall {
                        timeout,
                        stream_timeout,
                        strip_usage,
                        request,
                    },
                )
                .await?;
            meta.upstream_headers = headers;
            meta.upstream_latency = started.elapsed();
            Ok(ChatResponse::Stream(ChatStream {
                meta,
                events,
                usage,
                price: deployment.price.clone(),
                format,
            }))
        } else {
            let (headers, out) = self
                .client
                .complete(&deployment.target, translator, up, timeout)
                .await?;
            meta.upstream_headers = headers;
            meta.upstream_latency = started.elapsed();
            // No usage from the provider: count it, so the call is still priced.
            let usage = out
                .usage
                .or_else(|| counted_usage(&deployment.target.model, request, &out.body));
            let cost = self.cost(deployment, usage.as_ref());
            Ok(ChatResponse::Complete(Completion {
                body: out.body,
                usage,
                cost,
                meta,
                format,
            }))
        }
    }
}

impl Router {
    fn cost(&self, d: &Deployment, usage: Option<&Usage>) -> Option<Cost> {
        Some(d.price.as_ref()?.cost(usage?))
    }
}

/// Usage counted locally for a response that carried none: the prompt as the model sees it,
/// and the text and tool calls of every choice.
fn counted_usage(model: &str, request: &ChatCompletionRequest, body: &[u8]) -> Option<Usage> {
    use switchyard_pricing::tokens;
    let resp: switchyard_types::ChatCompletionResponse = serde_json::from_slice(body).ok()?;
    let enc = tokens::encoding_for(model);
    let prompt = tokens::count_messages(model, &request.messages, request.tools.as_deref());
    let completion: u64 = resp
        .choices
        .iter()
        .map(|c| {
            c.message
                .content
                .as_deref()
                .map_or(0, |t| tokens::count_text(enc, t))
                + c.message
                    .tool_calls
                    .iter()
                    .flatten()
                    .map(|t| {
                        tokens::count_text(enc, &t.function.name)
                            + tokens::count_text(enc, &t.function.arguments)
                    })
                    .sum::<u64>()
        })
        .sum();
    Some(Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        ..Usage::default()
    })
}

/// The shipped price table, extended by `litellm_settings.model_cost_map` or the
/// `SWITCHYARD_MODEL_COST_MAP` variable (a LiteLLM-format price file).
fn load_prices(config: &Config) -> Result<PriceTable, ConfigError> {
    let invalid = |key: &str, message: String| ConfigError::Invalid {
        file: config.source.clone(),
        key: key.to_owned(),
        line: None,
        message,
    };
    let mut prices =
        PriceTable::builtin().map_err(|e| invalid("(shipped price table)", e.to_string()))?;
    let file = config
        .file
        .litellm_settings
        .model_cost_map
        .clone()
        .map(|f| (f, "litellm_settings.model_cost_map"))
        .or_else(|| {
            config
                .env_var("SWITCHYARD_MODEL_COST_MAP")
                .map(|f| (f, "SWITCHYARD_MODEL_COST_MAP"))
        });
    if let Some((path, key)) = file {
        let n = prices
            .merge_litellm_file(std::path::Path::new(&path))
            .map_err(|e| invalid(key, e.to_string()))?;
        tracing::info!(file = %path, models = n, "price file loaded");
    }
    Ok(prices)
}

/// The most retries one request may ask for.
const MAX_RETRIES: u32 = 10;

/// LiteLLM's default `max_fallbacks`.
const DEFAULT_MAX_FALLBACKS: u32 = 5;

/// Which fallback list an error calls for.
#[derive(Debug, PartialEq, Eq)]
enum ErrorClass {
    /// The prompt is longer than the model takes.
    ContextWindow,
    /// The provider refused the content.
    ContentPolicy,
    /// Any other client error: another model would fail the same way.
    ClientError,
    /// Provider, transport or capacity trouble.
    Other,
}

fn policy_value(v: &Option<switchyard_config::Scalar<u32>>) -> Option<u32> {
    v.as_ref().map(|n| n.0)
}

/// The most retries any error class of a policy allows.
fn retry_policy_max(p: &switchyard_config::raw::RetryPolicy) -> u32 {
    [
        &p.BadRequestErrorRetries,
        &p.AuthenticationErrorRetries,
        &p.TimeoutErrorRetries,
        &p.RateLimitErrorRetries,
        &p.ContentPolicyViolationErrorRetries,
        &p.InternalServerErrorRetries,
        &p.ServiceUnavailableErrorRetries,
        &p.NotFoundErrorRetries,
        &p.DefaultRetries,
    ]
    .into_iter()
    .filter_map(policy_value)
    .max()
    .unwrap_or(0)
}

/// Retries a policy allows for this error (`retry_policy`), else `default`.
fn retry_limit(p: &switchyard_config::raw::RetryPolicy, e: &GatewayError, default: u32) -> u32 {
    let by_class = if matches!(error_class(e), ErrorClass::ContentPolicy) {
        &p.ContentPolicyViolationErrorRetries
    } else {
        match e.status {
            400 | 422 => &p.BadRequestErrorRetries,
            401 | 403 => &p.AuthenticationErrorRetries,
            404 => &p.NotFoundErrorRetries,
            408 | 504 => &p.TimeoutErrorRetries,
            429 => &p.RateLimitErrorRetries,
            503 => &p.ServiceUnavailableErrorRetries,
            500..=599 => &p.InternalServerErrorRetries,
            _ => &p.DefaultRetries,
        }
    };
    policy_value(by_class)
        .or_else(|| policy_value(&p.DefaultRetries))
        .unwrap_or(default)
        .min(MAX_RETRIES)
}

fn error_class(e: &GatewayError) -> ErrorClass {
    let code = e.code.as_deref().unwrap_or("");
    let msg = e.message.to_ascii_lowercase();
    if code == "context_length_exceeded"
        || msg.contains("maximum context length")
        || msg.contains("context window")
        || msg.contains("context_length_exceeded")
    {
        return ErrorClass::ContextWindow;
    }
    if code == "content_policy_violation"
        || code == "content_filter"
        || msg.contains("content management policy")
        || msg.contains("content policy")
    {
        return ErrorClass::ContentPolicy;
    }
    // Auth, permission and not-found errors are about the deployment, not the request.
    if e.origin == Origin::Client || matches!(e.status, 400 | 413 | 422) {
        ErrorClass::ClientError
    } else {
        ErrorClass::Other
    }
}

/// Wait before retrying the same deployment: the provider's `Retry-After` when it sent one
/// (at most 60 s), else exponential from 0.5 s up to 8 s (LiteLLM's INITIAL_RETRY_DELAY and
/// MAX_RETRY_DELAY), with jitter so that clients retrying together spread out.
fn backoff(attempt: u32, retry_after: Option<Duration>) -> Duration {
    if let Some(after) = retry_after {
        return after.min(Duration::from_secs(60));
    }
    let base = (0.5 * 2f64.powi(attempt.min(5) as i32)).min(8.0);
    Duration::from_secs_f64(base * (0.5 + 0.5 * fastrand::f64()))
}

impl Router {
    /// Like [`Router::pick`], preferring deployments not yet tried by this request.
    fn pick_avoiding(
        &self,
        model: &str,
        tried: &[String],
    ) -> Result<Arc<Deployment>, GatewayError> {
        if !tried.is_empty() {
            if let Some(group) = self.deployments(model) {
                if let Ok(d) = self.pick_available(model, group, tried) {
                    return Ok(d);
                }
            }
        }
        self.pick(model)
    }

    /// A deployment of `group` that is not cooling down, not in `avoid` and under its
    /// rpm/tpm, picked by the routing strategy within the best `order` tier.
    fn pick_available(
        &self,
        model: &str,
        group: &[Arc<Deployment>],
        avoid: &[String],
    ) -> Result<Arc<Deployment>, GatewayError> {
        let cooling: Vec<(String, Duration)> = group
            .iter()
            .filter_map(|d| self.cooldowns.remaining(&d.id).map(|r| (d.id.clone(), r)))
            .collect();
        let mut usable: Vec<&Arc<Deployment>> = group
            .iter()
            .filter(|d| !avoid.contains(&d.id) && !cooling.iter().any(|(id, _)| *id == d.id))
            .collect();
        // Health-check routing: leave out what failed the latest check, unless that is all.
        if self.health_routing() && usable.iter().any(|d| !self.unhealthy(d)) {
            usable.retain(|d| !self.unhealthy(d));
        }
        if usable.is_empty() {
            return Err(if group.is_empty() {
                GatewayError::unknown_model(model)
            } else {
                cooldown::no_deployments(model, &cooling)
            });
        }
        let open: Vec<&Arc<Deployment>> = usable
            .iter()
            .copied()
            .filter(|d| strategy::has_capacity(d))
            .collect();
        if open.is_empty() {
            return Err(at_capacity(model));
        }
        let best = open.iter().map(|d| d.order).min().unwrap_or(u32::MAX);
        let tier: Vec<&Arc<Deployment>> = open.into_iter().filter(|d| d.order == best).collect();
        strategy::choose(self.strategy, &tier).ok_or_else(|| GatewayError::unknown_model(model))
    }
}

/// No deployment of `model` takes a prompt of `prompt` tokens (pre-call checks); as
/// LiteLLM's ContextWindowExceededError, so `context_window_fallbacks` apply.
fn context_exceeded(model: &str, prompt: u64, window: u64) -> GatewayError {
    let mut e = GatewayError::bad_request(format!(
        "This model's maximum context length is {window} tokens. However, your messages resulted in {prompt} tokens (pre-call checks: no deployment of `{model}` takes them)."
    ));
    e.reason = "context_window_exceeded";
    e.code = Some("context_length_exceeded".into());
    e.param = Some("messages".into());
    e
}

/// Every deployment of `model` is at its rpm/tpm for this minute.
fn at_capacity(model: &str) -> GatewayError {
    let mut e = GatewayError::unavailable(format!(
        "No deployments available for selected model, Try again in 60 seconds. Passed model={model}. Every deployment is at its rpm/tpm limit for this minute."
    ));
    e.status = 429;
    e.reason = "deployments_at_capacity";
    e.retry_after = Some(Duration::from_secs(60 - unix_now() % 60));
    e
}

#[cfg(test)]
mod tests;
