//! Deployments: config entries resolved into callable targets.

use std::time::Duration;

use std::sync::Arc;

use switchyard_config::{Config, ConfigError, EnvString, LitellmParams, ModelInfo};
use switchyard_pricing::{pico_per_token, Price, PriceTable, Unit, UnitPrice};
use switchyard_providers::mock::Mock;
use switchyard_providers::{self as providers, ChatProvider, Target};
use switchyard_types::JsonObject;

/// LiteLLM's router default for the whole-request timeout, seconds.
pub const DEFAULT_TIMEOUT_SECS: f64 = 600.0;

/// OpenAI request parameters a deployment may set as defaults in `litellm_params`. Other
/// unknown keys there are LiteLLM settings this gateway does not forward.
const DEFAULT_PARAM_KEYS: &[&str] = &[
    "temperature",
    "top_p",
    "n",
    "stop",
    "max_tokens",
    "max_completion_tokens",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "user",
    "response_format",
    "seed",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "reasoning_effort",
    "service_tier",
    "modalities",
    "audio",
    "prediction",
    "store",
    "metadata",
    "verbosity",
    "web_search_options",
    "safety_identifier",
    "prompt_cache_key",
];

/// How a deployment answers.
#[derive(Clone)]
pub enum Backend {
    /// Calls a provider over HTTP.
    Http(&'static dyn ChatProvider),
    /// Answers locally (`mock_response`).
    Mock(Mock),
}

/// One callable deployment.
#[derive(Clone)]
pub struct Deployment {
    /// Deployment id (`x-litellm-model-id`).
    pub id: String,
    /// The model group it serves.
    pub model_name: String,
    /// Where and how to call it.
    pub target: Target,
    /// The translation, or the mock answer.
    pub backend: Backend,
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Time-to-first-chunk timeout for streams.
    pub stream_timeout: Option<Duration>,
    /// Weight for simple-shuffle.
    pub weight: f64,
    /// Priority tier (1 first).
    pub order: u32,
    /// Price and limits, resolved once at start-up; `None` when unpriced (cost 0).
    pub price: Option<Arc<Price>>,
    /// Cooldown override (`litellm_params.cooldown_time`; zero turns cooldowns off).
    pub cooldown: Option<Duration>,
    /// Service-account auth (Vertex AI): an access token replaces the key on each call.
    pub google: Option<Arc<crate::google::GoogleAuth>>,
    /// Requests per minute it may take (`litellm_params.rpm`).
    pub rpm: Option<u64>,
    /// Tokens per minute it may take (`litellm_params.tpm`).
    pub tpm: Option<u64>,
    /// Retries after a failure of this deployment (`litellm_params.max_retries`), in place of
    /// the group's `num_retries`.
    pub max_retries: Option<u32>,
    /// The longest prompt it takes, tokens (`model_info.max_input_tokens`, else the price
    /// table's), for pre-call checks.
    pub max_input_tokens: Option<u64>,
    /// Background health checks call it (`model_info.disable_background_health_check` unset).
    pub background_health_check: bool,
    /// When the latest background health check found it failing (Unix ms; 0: it passed, or
    /// none ran). Health-check routing avoids it while that verdict is fresh.
    pub unhealthy_since_ms: Arc<std::sync::atomic::AtomicU64>,
    /// Live numbers: in flight, latency, this minute's usage.
    pub stats: Arc<crate::strategy::Stats>,
}

impl std::fmt::Debug for Deployment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deployment")
            .field("id", &self.id)
            .field("model_name", &self.model_name)
            .field("target", &self.target)
            .field("mock", &matches!(self.backend, Backend::Mock(_)))
            .finish_non_exhaustive()
    }
}

fn secs(v: f64) -> Duration {
    Duration::from_secs_f64(v.clamp(0.001, 1.0e7))
}

fn value(v: &Option<EnvString>) -> Option<String> {
    v.as_ref().and_then(|s| s.get()).map(str::to_owned)
}

/// Vertex AI: the publisher base URL (`api_base`, if set, replaces the regional host) and the
/// service account (`vertex_credentials`: a path, a JSON string or an object; else
/// `GOOGLE_APPLICATION_CREDENTIALS`), project (`vertex_project`, `VERTEXAI_PROJECT`,
/// `GOOGLE_CLOUD_PROJECT`, or the key file's) and location (`vertex_location`,
/// `VERTEXAI_LOCATION`, default `us-central1`).
fn vertex(
    config: &Config,
    d: &switchyard_config::Deployment,
) -> Result<(String, Arc<crate::google::GoogleAuth>), ConfigError> {
    let p = &d.params;
    let text = match &p.vertex_credentials {
        Some(serde_json::Value::Object(o)) => serde_json::Value::Object(o.clone()).to_string(),
        Some(serde_json::Value::String(s)) if s.trim_start().starts_with('{') => s.clone(),
        Some(serde_json::Value::String(s)) => {
            let path = s
                .strip_prefix("os.environ/")
                .and_then(|v| config.env_var(v))
                .unwrap_or_else(|| s.clone());
            std::fs::read_to_string(&path).map_err(|e| {
                d.origin
                    .error(format!("vertex_credentials: cannot read `{path}`: {e}"))
            })?
        }
        Some(_) => {
            return Err(d
                .origin
                .error("vertex_credentials must be a path, a JSON string or an object"))
        }
        None => {
            let path = config.env_var("GOOGLE_APPLICATION_CREDENTIALS").ok_or_else(|| {
                d.origin.error("vertex_ai needs vertex_credentials or GOOGLE_APPLICATION_CREDENTIALS (a service-account key file)")
            })?;
            std::fs::read_to_string(&path).map_err(|e| {
                d.origin.error(format!(
                    "GOOGLE_APPLICATION_CREDENTIALS: cannot read `{path}`: {e}"
                ))
            })?
        }
    };
    let account: crate::google::ServiceAccount = serde_json::from_str(&text).map_err(|e| {
        d.origin.error(format!(
            "vertex_credentials is not a service-account key: {e}"
        ))
    })?;
    let auth = crate::google::GoogleAuth::new(account).map_err(|e| d.origin.error(e))?;
    let project = value(&p.vertex_project)
        .or_else(|| config.env_var("VERTEXAI_PROJECT"))
        .or_else(|| config.env_var("GOOGLE_CLOUD_PROJECT"))
        .or_else(|| auth.project().map(str::to_owned))
        .ok_or_else(|| {
            d.origin
                .error("vertex_ai needs vertex_project (or VERTEXAI_PROJECT)")
        })?;
    let location = value(&p.vertex_location)
        .or_else(|| config.env_var("VERTEXAI_LOCATION"))
        .unwrap_or_else(|| "us-central1".into());
    let base = match value(&p.api_base) {
        Some(host) => format!(
            "{}/v1/projects/{project}/locations/{location}/publishers/google",
            host.trim_end_matches('/')
        ),
        None => providers::openai_vertex::api_base(&project, &location),
    };
    Ok((base, Arc::new(auth)))
}

/// Where a Bedrock deployment is called and how it authenticates.
struct BedrockSetup {
    api_base: String,
    /// A Bedrock API key, sent as a bearer token instead of signing.
    api_key: Option<String>,
    /// SigV4 credentials.
    aws: Option<providers::AwsCredentials>,
}

/// Bedrock (`bedrock/<modelId>`): the region (`aws_region_name`, `region_name`, the model
/// ARN's, `AWS_REGION`, `AWS_DEFAULT_REGION`, else LiteLLM's us-west-2), the endpoint
/// (`aws_bedrock_runtime_endpoint`, `api_base`, `AWS_BEDROCK_RUNTIME_ENDPOINT`, else the
/// region's), and the credentials, first found wins: a Bedrock API key in `api_key`; keys in
/// `aws_access_key_id` / `aws_secret_access_key` (+ `aws_session_token`); a key in
/// `AWS_BEARER_TOKEN_BEDROCK`; keys in `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`
/// (+ `AWS_SESSION_TOKEN`). Profiles, role assumption and instance credentials are not read.
fn bedrock(config: &Config, p: &LitellmParams, model: &str) -> Result<BedrockSetup, String> {
    use providers::openai_bedrock as b;
    let set = |v: &Option<EnvString>| value(v).filter(|s| !s.is_empty());
    let env = |name: &str| config.env_var(name).filter(|s| !s.is_empty());
    for (key, v) in [
        ("aws_role_name", &p.aws_role_name),
        ("aws_profile_name", &p.aws_profile_name),
    ] {
        if set(v).is_some() {
            return Err(format!(
                "bedrock: {key} is not supported yet (no STS role assumption or shared \
                 profiles); give aws_access_key_id and aws_secret_access_key, or a Bedrock API key"
            ));
        }
    }
    let region = set(&p.aws_region_name)
        .or_else(|| set(&p.region_name))
        .or_else(|| b::arn_region(model).map(str::to_owned))
        .or_else(|| env("AWS_REGION"))
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|| b::DEFAULT_REGION.to_owned());
    let api_base = set(&p.aws_bedrock_runtime_endpoint)
        .or_else(|| set(&p.api_base))
        .or_else(|| env("AWS_BEDROCK_RUNTIME_ENDPOINT"))
        .unwrap_or_else(|| b::default_endpoint(&region));
    let keys = |id: String, secret: String, token: Option<String>| {
        Some(providers::AwsCredentials {
            access_key_id: id,
            secret_access_key: secret,
            session_token: token,
            region: region.clone(),
        })
    };
    let (api_key, aws) = match (
        set(&p.api_key),
        set(&p.aws_access_key_id),
        set(&p.aws_secret_access_key),
    ) {
        (Some(key), _, _) => (Some(key), None),
        (None, Some(id), Some(secret)) => (None, keys(id, secret, set(&p.aws_session_token))),
        (None, Some(_), None) | (None, None, Some(_)) => {
            return Err("bedrock needs both aws_access_key_id and aws_secret_access_key".to_owned())
        }
        (None, None, None) => match (
            env("AWS_BEARER_TOKEN_BEDROCK"),
            env("AWS_ACCESS_KEY_ID"),
            env("AWS_SECRET_ACCESS_KEY"),
        ) {
            (Some(key), _, _) => (Some(key), None),
            (None, Some(id), Some(secret)) => (None, keys(id, secret, env("AWS_SESSION_TOKEN"))),
            _ => {
                return Err(
                    "bedrock needs credentials: aws_access_key_id and aws_secret_access_key \
                 (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or a Bedrock API key \
                 (api_key or AWS_BEARER_TOKEN_BEDROCK)"
                        .to_owned(),
                )
            }
        },
    };
    Ok(BedrockSetup {
        api_base,
        api_key,
        aws,
    })
}

/// The first of `names` set (and not empty) in the config's environment.
fn first_env(config: &Config, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| config.env_var(n).filter(|v| !v.is_empty()))
}

/// The base URL for a provider when the deployment sets none: its environment variables
/// (`OPENAI_BASE_URL`, `GROQ_API_BASE`, … from the provider's row), else its default.
fn env_api_base(config: &Config, provider: &str) -> Option<String> {
    first_env(config, providers::api_base_envs(provider))
        .or_else(|| providers::default_api_base(provider).map(str::to_owned))
}

/// The API key for a provider from its environment variables (`GROQ_API_KEY`, …).
fn env_api_key(config: &Config, provider: &str) -> Option<String> {
    first_env(config, providers::api_key_envs(provider))
}

/// The price of a deployment: the table's entry for its `base_model` or its model, with
/// `model_info` and `litellm_params` prices and limits on top. `None` when nothing prices it.
pub fn resolve_price(
    prices: &PriceTable,
    provider: &str,
    model: &str,
    info: &ModelInfo,
    params: &LitellmParams,
) -> Option<Price> {
    let base = info
        .base_model
        .as_deref()
        .and_then(|b| match switchyard_config::split_provider(b, None) {
            Some((p, m)) => prices.lookup(&p, &m).or_else(|| prices.lookup(provider, b)),
            None => prices.lookup(provider, b),
        })
        .or_else(|| prices.lookup(provider, model));
    let extra_f64 = |k: &str| info.extra.get(k).and_then(serde_json::Value::as_f64);
    let input = info
        .input_cost_per_token
        .or(params.input_cost_per_token)
        .map(|v| v.0);
    let output = info
        .output_cost_per_token
        .or(params.output_cost_per_token)
        .map(|v| v.0);
    let cache_read = info.cache_read_input_token_cost.map(|v| v.0);
    let cache_write = info.cache_creation_input_token_cost.map(|v| v.0);
    let reasoning = extra_f64("output_cost_per_reasoning_token");
    // Per image, second, character or query, from model_info or litellm_params.
    let unit = |k: &str| {
        extra_f64(k).or_else(|| params.defaults.get(k).and_then(serde_json::Value::as_f64))
    };
    let per_unit = [
        (
            Unit::Image,
            unit("output_cost_per_image").or_else(|| unit("input_cost_per_image")),
        ),
        (
            Unit::Second,
            unit("input_cost_per_second").or_else(|| unit("output_cost_per_second")),
        ),
        (Unit::Character, unit("input_cost_per_character")),
        (Unit::Query, unit("input_cost_per_query")),
    ]
    .into_iter()
    .find_map(|(u, v)| v.filter(|v| *v > 0.0).map(|v| UnitPrice::new(u, v)));
    let overridden = [input, output, cache_read, cache_write, reasoning]
        .iter()
        .any(Option::is_some)
        || per_unit.is_some();
    if base.is_none() && !overridden {
        return None;
    }
    let mut p = base.map(|b| (*b).clone()).unwrap_or_default();
    if let Some(v) = input {
        p.input = pico_per_token(v);
    }
    if let Some(v) = output {
        p.output = pico_per_token(v);
    }
    if let Some(v) = cache_read {
        p.cache_read = Some(pico_per_token(v));
    }
    if let Some(v) = cache_write {
        p.cache_write = Some(pico_per_token(v));
    }
    if let Some(v) = reasoning {
        p.reasoning = Some(pico_per_token(v));
    }
    if per_unit.is_some() {
        p.per_unit = per_unit;
    }
    if let Some(v) = info.max_input_tokens {
        p.max_input_tokens = Some(v.0);
    }
    if let Some(v) = info.max_output_tokens.or(info.max_tokens) {
        p.max_output_tokens = Some(v.0);
    }
    Some(p)
}

/// Builds the deployments of a config. `warnings` receives findings that do not stop start-up.
pub fn build(
    config: &Config,
    prices: &PriceTable,
    warnings: &mut Vec<String>,
) -> Result<Vec<Deployment>, ConfigError> {
    let router = &config.file.router_settings;
    let litellm = &config.file.litellm_settings;
    let default_timeout = router
        .timeout
        .or(litellm.request_timeout)
        .map_or(DEFAULT_TIMEOUT_SECS, |t| t.0);
    let default_stream_timeout = router.stream_timeout.map(|t| t.0);
    let global_drop = litellm.drop_params.is_some_and(|d| d.0);

    let mut out = Vec::with_capacity(config.deployments.len());
    for d in &config.deployments {
        let p = &d.params;
        let backend = match &p.mock_response {
            Some(v) => Backend::Mock(Mock::from_value(v).ok_or_else(|| {
                d.origin.error("mock_response must be a string or a response object with `choices`")
            })?),
            None => Backend::Http(providers::chat_provider(&d.provider).ok_or_else(|| {
                d.origin.error(format!(
                    "unknown provider `{}` in `{}`; supported: openai, anthropic, azure, bedrock, gemini, vertex_ai, cohere, ollama, ollama_chat and the OpenAI-compatible family ({})",
                    d.provider,
                    p.model,
                    providers::compat::PROVIDERS
                        .iter()
                        .map(|c| c.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?),
        };
        let google = match (&backend, d.provider.as_str()) {
            (Backend::Http(_), "vertex_ai") => Some(vertex(config, d)?),
            _ => None,
        };
        // Bedrock: `converse/` is a route prefix, not part of the model id.
        let model = if d.provider == "bedrock" {
            providers::openai_bedrock::model_id(&d.model).to_owned()
        } else {
            d.model.clone()
        };
        let bedrock = match (&backend, d.provider.as_str()) {
            (Backend::Http(_), "bedrock") => {
                Some(bedrock(config, p, &model).map_err(|e| d.origin.error(e))?)
            }
            _ => None,
        };
        let api_base = match backend {
            // A mock calls nothing: it has a base URL only when one was written.
            Backend::Mock(_) => value(&p.api_base),
            Backend::Http(_) => bedrock
                .as_ref()
                .map(|b| b.api_base.clone())
                .or_else(|| value(&p.api_base))
                .or_else(|| env_api_base(config, &d.provider)),
        };
        let api_base = match (api_base, &backend) {
            (Some(b), _) => b.trim_end_matches('/').to_owned(),
            (None, Backend::Mock(_)) => String::new(),
            (None, Backend::Http(_)) => {
                let envs = providers::api_base_envs(&d.provider);
                return Err(d.origin.error(if envs.is_empty() {
                    format!(
                        "provider `{}` has no default api_base: set litellm_params.api_base",
                        d.provider
                    )
                } else {
                    format!(
                        "provider `{}` has no default api_base: set litellm_params.api_base or {}",
                        d.provider,
                        envs.join(" or ")
                    )
                }));
            }
        };
        let scheme_ok = api_base.starts_with("http://") || api_base.starts_with("https://");
        if !(api_base.is_empty() || scheme_ok) {
            return Err(d.origin.error(format!(
                "api_base `{api_base}` must start with http:// or https://"
            )));
        }
        let api_base = match &google {
            Some((base, _)) => base.clone(),
            None => api_base,
        };
        let google = google.map(|(_, auth)| auth);
        // An Entra ID token (Azure) travels as a bearer token in place of the key.
        let ad_token = value(&p.azure_ad_token).map(|t| format!("Bearer {t}"));
        let api_key = match &bedrock {
            Some(b) => b.api_key.clone(),
            None => ad_token
                .or_else(|| value(&p.api_key))
                .or_else(|| env_api_key(config, &d.provider)),
        };
        if api_key.is_none() && matches!(backend, Backend::Http(_)) && d.provider == "openai" {
            warnings.push(format!(
                "{}: deployment `{}` has no api_key and OPENAI_API_KEY is not set",
                d.origin.file, d.model_name
            ));
        }
        let mut defaults = JsonObject::new();
        for (k, v) in &p.defaults {
            if DEFAULT_PARAM_KEYS.contains(&k.as_str()) {
                defaults.insert(k.clone(), v.clone());
            } else {
                warnings.push(format!(
                    "{}: {} -> litellm_params.{k} is not used by Switchyard yet",
                    d.origin.file, d.model_name
                ));
            }
        }
        let price = resolve_price(prices, &d.provider, &model, &d.info, p)
            .or_else(|| {
                // A cross-region inference profile (`us.anthropic…`) costs what its model does.
                let base = providers::openai_bedrock::base_model_id(&model);
                (d.provider == "bedrock" && base != model)
                    .then(|| resolve_price(prices, &d.provider, base, &d.info, p))
                    .flatten()
            })
            .map(Arc::new);
        // Anthropic requires max_tokens: default to the model's output limit, as LiteLLM does.
        if d.provider == "anthropic" && !defaults.contains_key("max_tokens") {
            if let Some(n) = price.as_ref().and_then(|p| p.max_output_tokens) {
                defaults.insert("max_tokens".into(), serde_json::json!(n));
            }
        }
        if price.is_none() && matches!(backend, Backend::Http(_)) {
            warnings.push(format!(
                "{}: no price for {}/{} (model_name `{}`): its requests cost 0; set model_info.base_model, \
                 input_cost_per_token/output_cost_per_token, or litellm_settings.model_cost_map",
                d.origin.file, d.provider, model, d.model_name
            ));
        }
        let extra_headers = p
            .extra_headers
            .iter()
            .flatten()
            .filter_map(|(k, v)| v.get().map(|v| (k.clone(), v.to_owned())))
            .collect();
        let max_input_tokens = d
            .info
            .max_input_tokens
            .map(|v| v.0)
            .or_else(|| price.as_ref().and_then(|p| p.max_input_tokens));
        out.push(Deployment {
            id: d.id.clone(),
            model_name: d.model_name.clone(),
            target: Target {
                provider: d.provider.clone(),
                model,
                api_base,
                api_key,
                api_version: value(&p.api_version).or_else(|| {
                    (d.provider == "azure")
                        .then(|| config.env_var("AZURE_API_VERSION"))
                        .flatten()
                }),
                organization: value(&p.organization),
                extra_headers,
                defaults,
                extra_body: p.extra_body.clone().unwrap_or_default(),
                drop_params: p.drop_params.map_or(global_drop, |v| v.0),
                aws: bedrock.and_then(|b| b.aws),
            },
            backend,
            timeout: secs(p.timeout.map_or(default_timeout, |t| t.0)),
            stream_timeout: p
                .stream_timeout
                .map(|t| t.0)
                .or(default_stream_timeout)
                .map(secs),
            weight: p
                .weight
                .map(|w| w.0)
                .or(p.rpm.map(|r| r.0 as f64))
                .or(p.tpm.map(|t| t.0 as f64))
                .unwrap_or(1.0)
                .max(0.0),
            order: p.order.map_or(u32::MAX, |o| o.0),
            price,
            cooldown: p
                .cooldown_time
                .map(|c| Duration::from_secs_f64(c.0.clamp(0.0, 86_400.0))),
            google,
            rpm: p.rpm.map(|r| r.0),
            tpm: p.tpm.map(|t| t.0),
            max_retries: p.max_retries.map(|r| r.0),
            max_input_tokens,
            background_health_check: !d.info.disable_background_health_check.is_some_and(|v| v.0),
            unhealthy_since_ms: Arc::default(),
            stats: Arc::default(),
        });
    }
    Ok(out)
}

/// A deployment for `provider/model` addressed directly (SDK use, no config entry).
pub fn direct(
    config: &Config,
    prices: &PriceTable,
    provider: &str,
    model: &str,
    name: &str,
) -> Option<Deployment> {
    let translator = providers::chat_provider(provider)?;
    let (model, api_base, api_key, aws) = if provider == "bedrock" {
        let model = providers::openai_bedrock::model_id(model);
        let b = bedrock(config, &LitellmParams::default(), model).ok()?;
        (model, b.api_base, b.api_key, b.aws)
    } else {
        let api_base = env_api_base(config, provider)?;
        let api_key = env_api_key(config, provider);
        (model, api_base, api_key, None)
    };
    Some(Deployment {
        id: format!("direct:{name}"),
        model_name: name.to_owned(),
        target: Target {
            provider: provider.to_owned(),
            model: model.to_owned(),
            api_base: api_base.trim_end_matches('/').to_owned(),
            api_key,
            aws,
            ..Target::default()
        },
        backend: Backend::Http(translator),
        timeout: secs(DEFAULT_TIMEOUT_SECS),
        stream_timeout: None,
        weight: 1.0,
        order: u32::MAX,
        price: prices.lookup(provider, model),
        cooldown: None,
        google: None,
        rpm: None,
        tpm: None,
        max_retries: None,
        max_input_tokens: None,
        background_health_check: true,
        unhealthy_since_ms: Arc::default(),
        stats: Arc::default(),
    })
}
