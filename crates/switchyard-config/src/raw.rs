//! The `config.yaml` file as LiteLLM defines it, parsed into typed structs.
//!
//! Every key LiteLLM documents for `model_list`, `litellm_settings`, `router_settings` and
//! `general_settings` has a typed field here, also those a later part of the gateway implements.
//! Unknown keys are reported as warnings by [`crate::load`]; `litellm_params` and `model_info`
//! keep unknown keys (they are default request parameters and model metadata).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::value::{EnvString, Scalar};

/// An empty YAML section (`general_settings:` with only comments under it) is null; read it as
/// the section's default, as LiteLLM does.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A JSON object (free-form settings kept as written).
pub type Object = serde_json::Map<String, Value>;

/// The whole file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConfigFile {
    /// Deployments; entries sharing a `model_name` form one model group.
    #[serde(default, deserialize_with = "null_as_default")]
    pub model_list: Vec<ModelEntry>,
    /// Module-level settings (`litellm.*` in LiteLLM).
    #[serde(default, deserialize_with = "null_as_default")]
    pub litellm_settings: LitellmSettings,
    /// Router behaviour: strategy, retries, cooldowns, fallbacks.
    #[serde(default, deserialize_with = "null_as_default")]
    pub router_settings: RouterSettings,
    /// Proxy settings: auth, database, limits, spend logs, alerting.
    #[serde(default, deserialize_with = "null_as_default")]
    pub general_settings: GeneralSettings,
    /// Variables made visible to `os.environ/` references and to providers.
    #[serde(default, deserialize_with = "null_as_default")]
    pub environment_variables: BTreeMap<String, EnvString>,
    /// Named credentials, referenced by `litellm_params.litellm_credential_name`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub credential_list: Vec<CredentialEntry>,
    /// Per-callback settings (e.g. `otel.message_logging`).
    #[serde(default)]
    pub callback_settings: Option<Object>,
    /// Guardrail definitions.
    #[serde(default)]
    pub guardrails: Option<Vec<Value>>,
    /// MCP servers.
    #[serde(default)]
    pub mcp_servers: Option<Object>,
    /// Search tools.
    #[serde(default)]
    pub search_tools: Option<Vec<Value>>,
}

/// One `model_list` entry: a deployment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelEntry {
    /// Public model name (model group). `*` or `provider/*` are wildcards.
    pub model_name: String,
    /// How to call the deployment.
    pub litellm_params: LitellmParams,
    /// Metadata: id, prices, limits, access groups.
    #[serde(default, deserialize_with = "null_as_default")]
    pub model_info: ModelInfo,
}

/// `litellm_params` of a deployment.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LitellmParams {
    /// `provider/model-id`, e.g. `openai/gpt-4o`.
    pub model: String,
    /// Provider API key.
    #[serde(default)]
    pub api_key: Option<EnvString>,
    /// Provider base URL.
    #[serde(default)]
    pub api_base: Option<EnvString>,
    /// API version (Azure).
    #[serde(default)]
    pub api_version: Option<EnvString>,
    /// OpenAI organization.
    #[serde(default)]
    pub organization: Option<EnvString>,
    /// Explicit provider, overriding the model prefix.
    #[serde(default)]
    pub custom_llm_provider: Option<String>,
    /// Requests per minute this deployment takes.
    #[serde(default)]
    pub rpm: Option<Scalar<u64>>,
    /// Tokens per minute this deployment takes.
    #[serde(default)]
    pub tpm: Option<Scalar<u64>>,
    /// Concurrent requests this deployment takes.
    #[serde(default)]
    pub max_parallel_requests: Option<Scalar<u64>>,
    /// Weight for `simple-shuffle`.
    #[serde(default)]
    pub weight: Option<Scalar<f64>>,
    /// Priority tier; 1 is tried first.
    #[serde(default)]
    pub order: Option<Scalar<u32>>,
    /// Whole-request timeout, seconds.
    #[serde(default)]
    pub timeout: Option<Scalar<f64>>,
    /// Time-to-first-chunk timeout for streams, seconds.
    #[serde(default)]
    pub stream_timeout: Option<Scalar<f64>>,
    /// Retries of this deployment.
    #[serde(default)]
    pub max_retries: Option<Scalar<u32>>,
    /// Retries (LiteLLM accepts both names).
    #[serde(default)]
    pub num_retries: Option<Scalar<u32>>,
    /// Cooldown override for this deployment, seconds (0 disables).
    #[serde(default)]
    pub cooldown_time: Option<Scalar<f64>>,
    /// Tags for tag-based routing.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// A canned answer: the deployment answers without calling anything.
    #[serde(default)]
    pub mock_response: Option<Value>,
    /// Drop parameters the provider does not take instead of failing.
    #[serde(default)]
    pub drop_params: Option<Scalar<bool>>,
    /// Custom input price, USD per token.
    #[serde(default)]
    pub input_cost_per_token: Option<Scalar<f64>>,
    /// Custom output price, USD per token.
    #[serde(default)]
    pub output_cost_per_token: Option<Scalar<f64>>,
    /// Named credential from `credential_list`.
    #[serde(default)]
    pub litellm_credential_name: Option<String>,
    /// Region (Azure and others).
    #[serde(default)]
    pub region_name: Option<EnvString>,
    /// AWS access key id.
    #[serde(default)]
    pub aws_access_key_id: Option<EnvString>,
    /// AWS secret access key.
    #[serde(default)]
    pub aws_secret_access_key: Option<EnvString>,
    /// AWS session token.
    #[serde(default)]
    pub aws_session_token: Option<EnvString>,
    /// AWS region.
    #[serde(default)]
    pub aws_region_name: Option<EnvString>,
    /// AWS profile.
    #[serde(default)]
    pub aws_profile_name: Option<EnvString>,
    /// AWS role to assume.
    #[serde(default)]
    pub aws_role_name: Option<EnvString>,
    /// AWS session name.
    #[serde(default)]
    pub aws_session_name: Option<EnvString>,
    /// Bedrock runtime endpoint override.
    #[serde(default)]
    pub aws_bedrock_runtime_endpoint: Option<EnvString>,
    /// Vertex AI project.
    #[serde(default)]
    pub vertex_project: Option<EnvString>,
    /// Vertex AI location.
    #[serde(default)]
    pub vertex_location: Option<EnvString>,
    /// Vertex AI service-account JSON (string, object, or file path).
    #[serde(default)]
    pub vertex_credentials: Option<Value>,
    /// Azure AD token.
    #[serde(default)]
    pub azure_ad_token: Option<EnvString>,
    /// Azure tenant id.
    #[serde(default)]
    pub tenant_id: Option<EnvString>,
    /// Azure client id.
    #[serde(default)]
    pub client_id: Option<EnvString>,
    /// Azure client secret.
    #[serde(default)]
    pub client_secret: Option<EnvString>,
    /// Deployment budget, USD.
    #[serde(default)]
    pub max_budget: Option<Scalar<f64>>,
    /// Deployment budget period.
    #[serde(default)]
    pub budget_duration: Option<String>,
    /// Headers added to every upstream call.
    #[serde(default)]
    pub extra_headers: Option<BTreeMap<String, EnvString>>,
    /// Fields merged into every upstream body.
    #[serde(default)]
    pub extra_body: Option<Object>,
    /// Every other key: default request parameters (`temperature`, `max_tokens`, ...).
    #[serde(flatten)]
    pub defaults: Object,
}

/// `model_info` of a deployment.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Deployment id (shown in `x-litellm-model-id`); derived from the params when absent.
    #[serde(default)]
    pub id: Option<String>,
    /// The model to look prices and limits up by (e.g. for Azure deployments).
    #[serde(default)]
    pub base_model: Option<String>,
    /// `chat`, `embedding`, `completion`, `image_generation`, ...
    #[serde(default)]
    pub mode: Option<String>,
    /// Legacy output-token limit.
    #[serde(default)]
    pub max_tokens: Option<Scalar<u64>>,
    /// Context window.
    #[serde(default)]
    pub max_input_tokens: Option<Scalar<u64>>,
    /// Output-token limit.
    #[serde(default)]
    pub max_output_tokens: Option<Scalar<u64>>,
    /// Input price, USD per token.
    #[serde(default)]
    pub input_cost_per_token: Option<Scalar<f64>>,
    /// Output price, USD per token.
    #[serde(default)]
    pub output_cost_per_token: Option<Scalar<f64>>,
    /// Cached-input price, USD per token.
    #[serde(default)]
    pub cache_read_input_token_cost: Option<Scalar<f64>>,
    /// Cache-write price, USD per token.
    #[serde(default)]
    pub cache_creation_input_token_cost: Option<Scalar<f64>>,
    /// Access groups usable in a key's `models`.
    #[serde(default)]
    pub access_groups: Option<Vec<String>>,
    /// Environments the deployment is offered in.
    #[serde(default)]
    pub supported_environments: Option<Vec<String>>,
    /// `free` or `paid`.
    #[serde(default)]
    pub tier: Option<String>,
    /// Team that owns the deployment.
    #[serde(default)]
    pub team_id: Option<String>,
    /// Name the owning team uses for it.
    #[serde(default)]
    pub team_public_model_name: Option<String>,
    /// Leave it out of background health checks.
    #[serde(default)]
    pub disable_background_health_check: Option<Scalar<bool>>,
    /// Other metadata (`supports_*` flags, custom tokenizer, ...).
    #[serde(flatten)]
    pub extra: Object,
}

/// One `credential_list` entry.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CredentialEntry {
    /// Name referenced by `litellm_credential_name`.
    pub credential_name: String,
    /// Values merged into `litellm_params` (api_key, api_base, ...).
    #[serde(default, deserialize_with = "null_as_default")]
    pub credential_values: BTreeMap<String, EnvString>,
    /// Free-form description.
    #[serde(default)]
    pub credential_info: Option<Object>,
}

/// `[{"gpt-4o": ["gpt-4o-mini", "claude"]}]`: model group -> groups tried after it.
pub type FallbackList = Vec<BTreeMap<String, Vec<String>>>;

/// `litellm_settings`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LitellmSettings {
    /// Drop provider-unsupported parameters instead of failing.
    #[serde(default)]
    pub drop_params: Option<Scalar<bool>>,
    /// Allow rewriting requests to satisfy a provider.
    #[serde(default)]
    pub modify_params: Option<Scalar<bool>>,
    /// Retries per request.
    #[serde(default)]
    pub num_retries: Option<Scalar<u32>>,
    /// Whole-request timeout, seconds (LiteLLM default 6000).
    #[serde(default)]
    pub request_timeout: Option<Scalar<f64>>,
    /// Resolve provider hosts to IPv4 only.
    #[serde(default)]
    pub force_ipv4: Option<Scalar<bool>>,
    /// Fallbacks on any error.
    #[serde(default)]
    pub fallbacks: Option<FallbackList>,
    /// Fallbacks on context-window errors.
    #[serde(default)]
    pub context_window_fallbacks: Option<FallbackList>,
    /// Fallbacks on content-policy errors.
    #[serde(default)]
    pub content_policy_fallbacks: Option<FallbackList>,
    /// Fallbacks for any group without its own.
    #[serde(default)]
    pub default_fallbacks: Option<Vec<String>>,
    /// Failures per minute before a deployment cools down.
    #[serde(default)]
    pub allowed_fails: Option<Scalar<u32>>,
    /// Cooldown, seconds.
    #[serde(default)]
    pub cooldown_time: Option<Scalar<f64>>,
    /// Turn the response cache on.
    #[serde(default)]
    pub cache: Option<Scalar<bool>>,
    /// Response cache settings.
    #[serde(default)]
    pub cache_params: Option<CacheParams>,
    /// Callbacks on success.
    #[serde(default)]
    pub success_callback: Option<Vec<String>>,
    /// Callbacks on failure.
    #[serde(default)]
    pub failure_callback: Option<Vec<String>>,
    /// Callbacks on both.
    #[serde(default)]
    pub callbacks: Option<Vec<String>>,
    /// The `s3` callback's bucket, region, endpoint, path and credentials.
    #[serde(default)]
    pub s3_callback_params: Option<Object>,
    /// Service-health callbacks.
    #[serde(default)]
    pub service_callbacks: Option<Vec<String>>,
    /// Callbacks before the call.
    #[serde(default)]
    pub input_callback: Option<Vec<String>>,
    /// Keep prompts and responses out of logs and sinks.
    #[serde(default)]
    pub turn_off_message_logging: Option<Scalar<bool>>,
    /// Upstream certificate checks: `false` turns them off; a path names a PEM CA bundle
    /// that replaces the built-in roots (`SSL_VERIFY` and `SSL_CERT_FILE` win over it).
    #[serde(default)]
    pub ssl_verify: Option<EnvString>,
    /// Keep key, user and team info out of logs.
    #[serde(default)]
    pub redact_user_api_key_info: Option<Scalar<bool>>,
    /// Log as JSON lines.
    #[serde(default)]
    pub json_logs: Option<Scalar<bool>>,
    /// Verbose logging (deprecated in LiteLLM).
    #[serde(default)]
    pub set_verbose: Option<Scalar<bool>>,
    /// Tags added to every Langfuse trace.
    #[serde(default)]
    pub langfuse_default_tags: Option<Vec<String>>,
    /// Global proxy budget, USD.
    #[serde(default)]
    pub max_budget: Option<Scalar<f64>>,
    /// Global budget period.
    #[serde(default)]
    pub budget_duration: Option<String>,
    /// IANA time zone for budget resets.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Default budget of internal users.
    #[serde(default)]
    pub max_internal_user_budget: Option<Scalar<f64>>,
    /// Budget period of internal users.
    #[serde(default)]
    pub internal_user_budget_duration: Option<String>,
    /// Default budget of end users.
    #[serde(default)]
    pub max_end_user_budget: Option<Scalar<f64>>,
    /// Budget tier of end users.
    #[serde(default)]
    pub max_end_user_budget_id: Option<String>,
    /// Defaults for new teams.
    #[serde(default)]
    pub default_team_params: Option<Object>,
    /// Defaults for generated keys.
    #[serde(default)]
    pub default_key_generate_params: Option<Object>,
    /// Upper bounds for generated keys.
    #[serde(default)]
    pub upperbound_key_generate_params: Option<Object>,
    /// Who may generate keys.
    #[serde(default)]
    pub key_generation_settings: Option<Object>,
    /// Discounts per provider.
    #[serde(default)]
    pub cost_discount_config: Option<Object>,
    /// Margins per provider.
    #[serde(default)]
    pub cost_margin_config: Option<Object>,
    /// Require auth on `/metrics`.
    #[serde(default)]
    pub require_auth_for_metrics_endpoint: Option<Scalar<bool>>,
    /// Leave end users out of cost tracking.
    #[serde(default)]
    pub disable_end_user_cost_tracking: Option<Scalar<bool>>,
    /// Leave end users out of Prometheus labels only.
    #[serde(default)]
    pub disable_end_user_cost_tracking_prometheus_only: Option<Scalar<bool>>,
    /// Validate JSON-schema responses.
    #[serde(default)]
    pub enable_json_schema_validation: Option<Scalar<bool>>,
    /// Cache key records in Redis.
    #[serde(default)]
    pub enable_redis_auth_cache: Option<Scalar<bool>>,
    /// A price file in LiteLLM's `model_prices_and_context_window.json` format.
    #[serde(default)]
    pub model_cost_map: Option<String>,
}

/// `litellm_settings.cache_params`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CacheParams {
    /// `local`, `redis`, `redis-semantic`, `s3`, ...
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// Redis host.
    #[serde(default)]
    pub host: Option<EnvString>,
    /// Redis port.
    #[serde(default)]
    pub port: Option<Scalar<u16>>,
    /// Redis password.
    #[serde(default)]
    pub password: Option<EnvString>,
    /// Key namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Default time to live, seconds.
    #[serde(default)]
    pub ttl: Option<Scalar<f64>>,
    /// Call types to cache.
    #[serde(default)]
    pub supported_call_types: Option<Vec<String>>,
    /// `default_on` or `default_off`.
    #[serde(default)]
    pub mode: Option<String>,
    /// Other settings.
    #[serde(flatten)]
    pub extra: Object,
}

/// A model group alias target: a name, or `{model, hidden}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AliasTarget {
    /// `gpt-4: gpt-4o`.
    Name(String),
    /// `gpt-4: {model: gpt-4o, hidden: true}`.
    Detailed {
        /// The target group.
        model: String,
        /// Leave the alias out of `/v1/models`.
        #[serde(default)]
        hidden: bool,
    },
}

impl AliasTarget {
    /// The group the alias points at.
    pub fn target(&self) -> &str {
        match self {
            AliasTarget::Name(m) | AliasTarget::Detailed { model: m, .. } => m,
        }
    }

    /// Whether the alias is hidden from `/v1/models`.
    pub fn hidden(&self) -> bool {
        matches!(self, AliasTarget::Detailed { hidden: true, .. })
    }
}

/// `router_settings.retry_policy`: retries per error class.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[allow(non_snake_case)]
pub struct RetryPolicy {
    /// 400s.
    #[serde(default)]
    pub BadRequestErrorRetries: Option<Scalar<u32>>,
    /// 401s.
    #[serde(default)]
    pub AuthenticationErrorRetries: Option<Scalar<u32>>,
    /// Timeouts.
    #[serde(default)]
    pub TimeoutErrorRetries: Option<Scalar<u32>>,
    /// 429s.
    #[serde(default)]
    pub RateLimitErrorRetries: Option<Scalar<u32>>,
    /// Content-policy refusals.
    #[serde(default)]
    pub ContentPolicyViolationErrorRetries: Option<Scalar<u32>>,
    /// 500s.
    #[serde(default)]
    pub InternalServerErrorRetries: Option<Scalar<u32>>,
    /// 503s.
    #[serde(default)]
    pub ServiceUnavailableErrorRetries: Option<Scalar<u32>>,
    /// 404s.
    #[serde(default)]
    pub NotFoundErrorRetries: Option<Scalar<u32>>,
    /// Anything else.
    #[serde(default)]
    pub DefaultRetries: Option<Scalar<u32>>,
}

/// `router_settings.allowed_fails_policy`: failures per minute per error class.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[allow(non_snake_case)]
pub struct AllowedFailsPolicy {
    /// 400s.
    #[serde(default)]
    pub BadRequestErrorAllowedFails: Option<Scalar<u32>>,
    /// 401s.
    #[serde(default)]
    pub AuthenticationErrorAllowedFails: Option<Scalar<u32>>,
    /// Timeouts.
    #[serde(default)]
    pub TimeoutErrorAllowedFails: Option<Scalar<u32>>,
    /// 429s.
    #[serde(default)]
    pub RateLimitErrorAllowedFails: Option<Scalar<u32>>,
    /// Content-policy refusals.
    #[serde(default)]
    pub ContentPolicyViolationErrorAllowedFails: Option<Scalar<u32>>,
    /// 500s.
    #[serde(default)]
    pub InternalServerErrorAllowedFails: Option<Scalar<u32>>,
    /// 503s.
    #[serde(default)]
    pub ServiceUnavailableErrorAllowedFails: Option<Scalar<u32>>,
    /// 502s.
    #[serde(default)]
    pub BadGatewayErrorAllowedFails: Option<Scalar<u32>>,
    /// 404s.
    #[serde(default)]
    pub NotFoundErrorAllowedFails: Option<Scalar<u32>>,
}

/// `router_settings`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RouterSettings {
    /// `simple-shuffle`, `least-busy`, `latency-based-routing`, `usage-based-routing[-v2]`,
    /// `cost-based-routing`.
    #[serde(default)]
    pub routing_strategy: Option<String>,
    /// Strategy arguments (`ttl`, `lowest_latency_buffer`, ...).
    #[serde(default)]
    pub routing_strategy_args: Option<Object>,
    /// Redis host for shared router state.
    #[serde(default)]
    pub redis_host: Option<EnvString>,
    /// Redis port.
    #[serde(default)]
    pub redis_port: Option<Scalar<u16>>,
    /// Redis password.
    #[serde(default)]
    pub redis_password: Option<EnvString>,
    /// Redis database.
    #[serde(default)]
    pub redis_db: Option<Scalar<u32>>,
    /// Redis URL (instead of host/port).
    #[serde(default)]
    pub redis_url: Option<EnvString>,
    /// Cache responses.
    #[serde(default)]
    pub cache_responses: Option<Scalar<bool>>,
    /// Cache settings.
    #[serde(default)]
    pub cache_kwargs: Option<Object>,
    /// Groups sharing one cache.
    #[serde(default)]
    pub caching_groups: Option<Vec<Vec<String>>>,
    /// Client cache time to live, seconds.
    #[serde(default)]
    pub client_ttl: Option<Scalar<f64>>,
    /// Retries per request.
    #[serde(default)]
    pub num_retries: Option<Scalar<u32>>,
    /// Retries (alias).
    #[serde(default)]
    pub max_retries: Option<Scalar<u32>>,
    /// Minimum wait before a retry, seconds.
    #[serde(default)]
    pub retry_after: Option<Scalar<f64>>,
    /// Retries per error class.
    #[serde(default)]
    pub retry_policy: Option<RetryPolicy>,
    /// Retry policies per model group.
    #[serde(default)]
    pub model_group_retry_policy: Option<BTreeMap<String, RetryPolicy>>,
    /// Failures per minute before cooldown.
    #[serde(default)]
    pub allowed_fails: Option<Scalar<u32>>,
    /// Failures per minute per error class.
    #[serde(default)]
    pub allowed_fails_policy: Option<AllowedFailsPolicy>,
    /// Cooldown, seconds.
    #[serde(default)]
    pub cooldown_time: Option<Scalar<f64>>,
    /// Never cool deployments down.
    #[serde(default)]
    pub disable_cooldowns: Option<Scalar<bool>>,
    /// Whole-request timeout, seconds.
    #[serde(default)]
    pub timeout: Option<Scalar<f64>>,
    /// Time to first chunk, seconds.
    #[serde(default)]
    pub stream_timeout: Option<Scalar<f64>>,
    /// Fallbacks on any error.
    #[serde(default)]
    pub fallbacks: Option<FallbackList>,
    /// Fallbacks on context-window errors.
    #[serde(default)]
    pub context_window_fallbacks: Option<FallbackList>,
    /// Fallbacks on content-policy errors.
    #[serde(default)]
    pub content_policy_fallbacks: Option<FallbackList>,
    /// Fallbacks for any group without its own.
    #[serde(default)]
    pub default_fallbacks: Option<Vec<String>>,
    /// Most fallback hops per request (default 5).
    #[serde(default)]
    pub max_fallbacks: Option<Scalar<u32>>,
    /// Alias -> model group.
    #[serde(default)]
    pub model_group_alias: Option<BTreeMap<String, AliasTarget>>,
    /// Filter deployments by context window and limits before routing.
    #[serde(default)]
    pub enable_pre_call_checks: Option<Scalar<bool>>,
    /// Named extra pre-call checks.
    #[serde(default)]
    pub optional_pre_call_checks: Option<Vec<String>>,
    /// Route by request tags.
    #[serde(default)]
    pub enable_tag_filtering: Option<Scalar<bool>>,
    /// Match any tag instead of all.
    #[serde(default)]
    pub tag_filtering_match_any: Option<Scalar<bool>>,
    /// Concurrent requests per deployment when it sets none.
    #[serde(default)]
    pub default_max_parallel_requests: Option<Scalar<u64>>,
    /// Params applied to every deployment.
    #[serde(default)]
    pub default_litellm_params: Option<Object>,
    /// Budgets per provider.
    #[serde(default)]
    pub provider_budget_config: Option<Object>,
    /// Route away from deployments failing health checks.
    #[serde(default)]
    pub enable_health_check_routing: Option<Scalar<bool>>,
    /// Seconds a failed health check keeps counting for health-check routing.
    #[serde(default)]
    pub health_check_staleness_threshold: Option<Scalar<f64>>,
    /// Rate limits (429) and timeouts (408) do not make a deployment unhealthy.
    #[serde(default)]
    pub health_check_ignore_transient_errors: Option<Scalar<bool>>,
    /// Skip deployments whose config is invalid instead of failing.
    #[serde(default)]
    pub ignore_invalid_deployments: Option<Scalar<bool>>,
}

/// `general_settings`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GeneralSettings {
    /// The admin key; when set, every route but health needs a key.
    #[serde(default)]
    pub master_key: Option<EnvString>,
    /// PostgreSQL URL for keys, spend and models.
    #[serde(default)]
    pub database_url: Option<EnvString>,
    /// Connections per instance.
    #[serde(default)]
    pub database_connection_pool_limit: Option<Scalar<u32>>,
    /// Connection timeout, seconds.
    #[serde(default)]
    pub database_connection_timeout: Option<Scalar<f64>>,
    /// Header carrying the key, besides `Authorization`.
    #[serde(default)]
    pub litellm_key_header_name: Option<String>,
    /// Routes keys may call.
    #[serde(default)]
    pub allowed_routes: Option<Vec<String>>,
    /// Routes only the admin may call.
    #[serde(default)]
    pub admin_only_routes: Option<Vec<String>>,
    /// Routes that need no key.
    #[serde(default)]
    pub public_routes: Option<Vec<String>>,
    /// Client IPs allowed in.
    #[serde(default)]
    pub allowed_ips: Option<Vec<String>>,
    /// Take the client IP from `X-Forwarded-For`.
    #[serde(default)]
    pub use_x_forwarded_for: Option<Scalar<bool>>,
    /// Require `user` on every request.
    #[serde(default)]
    pub enforce_user_param: Option<Scalar<bool>>,
    /// Params every request must carry.
    #[serde(default)]
    pub enforced_params: Option<Vec<String>>,
    /// Let clients pass their own provider credentials.
    #[serde(default)]
    pub allow_client_side_credentials: Option<Scalar<bool>>,
    /// Custom auth hook (module path in LiteLLM).
    #[serde(default)]
    pub custom_auth: Option<String>,
    /// JWT auth.
    #[serde(default)]
    pub enable_jwt_auth: Option<Scalar<bool>>,
    /// JWT settings.
    #[serde(default)]
    pub litellm_jwtauth: Option<Object>,
    /// Write no spend logs.
    #[serde(default)]
    pub disable_spend_logs: Option<Scalar<bool>>,
    /// Update no spend counters.
    #[serde(default)]
    pub disable_spend_updates: Option<Scalar<bool>>,
    /// Write no error logs.
    #[serde(default)]
    pub disable_error_logs: Option<Scalar<bool>>,
    /// Keep prompts and responses in spend logs.
    #[serde(default)]
    pub store_prompts_in_spend_logs: Option<Scalar<bool>>,
    /// Spend write interval, seconds (LiteLLM default 10).
    #[serde(default)]
    pub proxy_batch_write_at: Option<Scalar<f64>>,
    /// Delete spend logs older than this (`7d`, `30d`).
    #[serde(default)]
    pub maximum_spend_logs_retention_period: Option<String>,
    /// How often to run the retention sweep.
    #[serde(default)]
    pub maximum_spend_logs_retention_interval: Option<String>,
    /// Do not reset budgets.
    #[serde(default)]
    pub disable_reset_budget: Option<Scalar<bool>>,
    /// Do not reserve budget at admission.
    #[serde(default)]
    pub disable_budget_reservation: Option<Scalar<bool>>,
    /// Apply a user's budget to their team keys too.
    #[serde(default)]
    pub apply_user_budget_to_team_keys: Option<Scalar<bool>>,
    /// Count `total`, `input` or `output` tokens for TPM.
    #[serde(default)]
    pub token_rate_limit_type: Option<String>,
    /// Concurrent requests per key.
    #[serde(default)]
    pub max_parallel_requests: Option<Scalar<u64>>,
    /// Concurrent requests per instance.
    #[serde(default)]
    pub global_max_parallel_requests: Option<Scalar<u64>>,
    /// Largest request body, MiB (Switchyard default 32).
    #[serde(default)]
    pub max_request_size_mb: Option<Scalar<f64>>,
    /// Largest response body, MiB.
    #[serde(default)]
    pub max_response_size_mb: Option<Scalar<f64>>,
    /// Check deployments in the background.
    #[serde(default)]
    pub background_health_checks: Option<Scalar<bool>>,
    /// Route away from deployments failing background health checks.
    #[serde(default)]
    pub enable_health_check_routing: Option<Scalar<bool>>,
    /// Background check interval, seconds.
    #[serde(default)]
    pub health_check_interval: Option<Scalar<f64>>,
    /// Show details in `/health`.
    #[serde(default)]
    pub health_check_details: Option<Scalar<bool>>,
    /// Alert channels (`slack`, `webhook`, `email`, ...).
    #[serde(default)]
    pub alerting: Option<Vec<String>>,
    /// Hanging-request alert threshold, seconds.
    #[serde(default)]
    pub alerting_threshold: Option<Scalar<f64>>,
    /// Alert types to send.
    #[serde(default)]
    pub alert_types: Option<Vec<String>>,
    /// Webhook URL per alert type.
    #[serde(default)]
    pub alert_to_webhook_url: Option<Object>,
    /// Alerting arguments.
    #[serde(default)]
    pub alerting_args: Option<Object>,
    /// Operator-defined pass-through routes.
    #[serde(default)]
    pub pass_through_endpoints: Option<Vec<Object>>,
    /// Pass-through timeout, seconds.
    #[serde(default)]
    pub pass_through_request_timeout: Option<Scalar<f64>>,
    /// Forward the client's `x-*` headers to providers.
    #[serde(default)]
    pub forward_client_headers_to_llm_api: Option<Scalar<bool>>,
    /// Forward `openai-organization`.
    #[serde(default)]
    pub forward_openai_org_id: Option<Scalar<bool>>,
    /// Keep models added through the API in the database.
    #[serde(default)]
    pub store_model_in_db: Option<Scalar<bool>>,
    /// Always ask providers for stream usage.
    #[serde(default)]
    pub always_include_stream_usage: Option<Scalar<bool>>,
    /// Answer requests while the database is down.
    #[serde(default)]
    pub allow_requests_on_db_unavailable: Option<Scalar<bool>>,
    /// Use Redis to buffer spend writes across instances.
    #[serde(default)]
    pub use_redis_transaction_buffer: Option<Scalar<bool>>,
    /// Treat a key in the request as the provider key.
    #[serde(default)]
    pub infer_model_from_keys: Option<Scalar<bool>>,
    /// Only list healthy models.
    #[serde(default)]
    pub model_list_healthy_only: Option<Scalar<bool>>,
    /// Cancel upstream calls when the client goes away.
    #[serde(default)]
    pub cancel_on_disconnect: Option<Scalar<bool>>,
    /// Admin UI access mode.
    #[serde(default)]
    pub ui_access_mode: Option<String>,
    /// Force a model for every completion.
    #[serde(default)]
    pub completion_model: Option<String>,
    /// Force a model for every embedding.
    #[serde(default)]
    pub embedding_model: Option<String>,
}
