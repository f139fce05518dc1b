//! The OpenAI-compatible family: each provider is a row, not code.
//!
//! A row gives the provider's default base URL, the environment variables its base URL and API
//! key are read from (LiteLLM's names, in the order LiteLLM reads them), and its quirks: the
//! request parameters it refuses and the ones it names differently. All of them speak OpenAI's
//! wire format, so `openai_openai.rs` serves them, applying the row's quirks in one generic
//! step of its request building. Adding a provider is adding a row; the integration test
//! `crates/switchyard/tests/compat.rs` calls every row through the gateway.
//!
//! Quirks are only those the provider's API reference or LiteLLM's transformation for it
//! state; each row says where its facts come from.

use std::borrow::Cow;

use serde_json::Value;

/// One OpenAI-compatible provider.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompatProvider {
    /// The prefix in `provider/model` (LiteLLM's provider name).
    pub name: &'static str,
    /// Default base URL (the part before `/chat/completions`); `None` when it must be configured.
    pub api_base: Option<&'static str>,
    /// Environment variables that set the base URL when the deployment sets none, first found
    /// wins (LiteLLM's names and order).
    pub api_base_env: &'static [&'static str],
    /// Environment variables with the API key, first found wins (LiteLLM's names and order);
    /// empty when the server needs none.
    pub api_key_env: &'static [&'static str],
    /// Parameters the provider refuses or names differently, applied in order.
    pub quirks: &'static [Quirk],
    /// `(prefix, unless)`: a prefix the provider's model ids carry, added to an id that does
    /// not start with `unless` (Fireworks: `accounts/fireworks/models/…` unless `accounts/…`).
    pub model_prefix: Option<(&'static str, &'static str)>,
}

/// What a quirk does to its parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    /// The provider refuses the parameter when `When` holds: the request is a 400
    /// (`TranslateError::UnsupportedParam`) unless `drop_params`, which removes it.
    Reject(When),
    /// The provider takes the parameter under another name: it is moved there (its value
    /// replaces one already set under the new name, as LiteLLM does).
    Rename(&'static str),
}

/// When a refused parameter is refused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum When {
    /// Whenever it is set (not null).
    Set,
    /// When it is a number above this (`n` > 1).
    Above(f64),
    /// When it is anything but one of these strings (`tool_choice` other than `auto`/`none`).
    NotOneOf(&'static [&'static str]),
}

impl When {
    /// Whether a set value is refused.
    pub fn holds(self, value: &Value) -> bool {
        match self {
            When::Set => !value.is_null(),
            When::Above(limit) => value.as_f64().is_some_and(|v| v > limit),
            When::NotOneOf(allowed) => {
                !value.is_null() && !value.as_str().is_some_and(|s| allowed.contains(&s))
            }
        }
    }
}

/// One parameter a provider treats differently from OpenAI.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quirk {
    /// The OpenAI request parameter (top-level body key).
    pub param: &'static str,
    /// What happens to it.
    pub action: Action,
    /// Only for model ids containing one of these; every model when empty.
    pub models: &'static [&'static str],
}

impl Quirk {
    /// Whether the quirk applies to a model id.
    pub fn applies_to(&self, model: &str) -> bool {
        self.models.is_empty() || self.models.iter().any(|m| model.contains(m))
    }

    /// The same quirk, for model ids containing one of `models` only.
    const fn for_models(self, models: &'static [&'static str]) -> Quirk {
        Quirk {
            param: self.param,
            action: self.action,
            models,
        }
    }
}

/// The provider refuses `param`.
const fn reject(param: &'static str) -> Quirk {
    Quirk {
        param,
        action: Action::Reject(When::Set),
        models: &[],
    }
}

/// The provider refuses `param` above `limit`.
const fn reject_above(param: &'static str, limit: f64) -> Quirk {
    Quirk {
        param,
        action: Action::Reject(When::Above(limit)),
        models: &[],
    }
}

/// The provider refuses `param` unless it is one of `allowed`.
const fn reject_unless(param: &'static str, allowed: &'static [&'static str]) -> Quirk {
    Quirk {
        param,
        action: Action::Reject(When::NotOneOf(allowed)),
        models: &[],
    }
}

/// The provider calls `from` `to`.
const fn rename(from: &'static str, to: &'static str) -> Quirk {
    Quirk {
        param: from,
        action: Action::Rename(to),
        models: &[],
    }
}

/// `max_completion_tokens` sent as `max_tokens`, for servers that only know the older name.
const MAX_TOKENS: Quirk = rename("max_completion_tokens", "max_tokens");

const fn row(name: &'static str, api_base: Option<&'static str>) -> CompatProvider {
    CompatProvider {
        name,
        api_base,
        api_base_env: &[],
        api_key_env: &[],
        quirks: &[],
        model_prefix: None,
    }
}

impl CompatProvider {
    const fn base_env(self, api_base_env: &'static [&'static str]) -> Self {
        CompatProvider {
            api_base_env,
            ..self
        }
    }

    const fn key_env(self, api_key_env: &'static [&'static str]) -> Self {
        CompatProvider {
            api_key_env,
            ..self
        }
    }

    const fn quirks(self, quirks: &'static [Quirk]) -> Self {
        CompatProvider { quirks, ..self }
    }

    const fn model_prefix(self, prefix: &'static str, unless: &'static str) -> Self {
        CompatProvider {
            model_prefix: Some((prefix, unless)),
            ..self
        }
    }

    /// The model id sent to the provider for a configured one (its prefix added if needed).
    pub fn model_id<'a>(&self, model: &'a str) -> Cow<'a, str> {
        match self.model_prefix {
            Some((prefix, unless)) if !model.starts_with(unless) => {
                Cow::Owned(format!("{prefix}{model}"))
            }
            _ => Cow::Borrowed(model),
        }
    }
}

/// The table. Base URLs and variables as each provider and LiteLLM document them; quirks with
/// their sources.
pub const PROVIDERS: &[CompatProvider] = &[
    // Any OpenAI-compatible server at a configured api_base.
    row("openai_compatible", None),
    row("custom_openai", None),
    row("text-completion-openai", Some("https://api.openai.com/v1"))
        .base_env(&["OPENAI_BASE_URL", "OPENAI_API_BASE"])
        .key_env(&["OPENAI_API_KEY"]),
    // console.groq.com/docs/openai: logprobs, logit_bias, top_logprobs are a 400; `n` must be 1.
    row("groq", Some("https://api.groq.com/openai/v1"))
        .base_env(&["GROQ_API_BASE"])
        .key_env(&["GROQ_API_KEY"])
        .quirks(&[
            reject("logprobs"),
            reject("logit_bias"),
            reject("top_logprobs"),
            reject_above("n", 1.0),
        ]),
    // Mistral's chat request (docs.mistral.ai/api, its OpenAPI-generated client) has
    // `random_seed` and `max_tokens`, and no logit_bias or logprobs; LiteLLM's MistralConfig
    // maps seed and max_completion_tokens so and refuses the rest.
    row("mistral", Some("https://api.mistral.ai/v1"))
        .key_env(&["MISTRAL_API_KEY"])
        .quirks(&[
            rename("seed", "random_seed"),
            MAX_TOKENS,
            reject("logit_bias"),
            reject("logprobs"),
            reject("top_logprobs"),
        ]),
    row("deepseek", Some("https://api.deepseek.com/v1"))
        .base_env(&["DEEPSEEK_API_BASE"])
        .key_env(&["DEEPSEEK_API_KEY"]),
    // docs.x.ai/docs/guides/reasoning: presencePenalty, frequencyPenalty and stop are an error
    // on reasoning models; LiteLLM's XAIChatConfig treats grok-3-mini, grok-4 and
    // grok-code-fast as those, and sends max_completion_tokens as max_tokens.
    row("xai", Some("https://api.x.ai/v1"))
        .base_env(&["XAI_API_BASE"])
        .key_env(&["XAI_API_KEY"])
        .quirks(&[
            MAX_TOKENS,
            reject("stop").for_models(XAI_REASONING),
            reject("frequency_penalty").for_models(XAI_REASONING),
            reject("presence_penalty").for_models(XAI_REASONING),
        ]),
    row("together_ai", Some("https://api.together.xyz/v1"))
        .base_env(&["TOGETHER_AI_API_BASE"])
        .key_env(&[
            "TOGETHER_API_KEY",
            "TOGETHER_AI_API_KEY",
            "TOGETHERAI_API_KEY",
            "TOGETHER_AI_TOKEN",
        ]),
    // LiteLLM's FireworksAIConfig: model ids live under accounts/fireworks/models/, and
    // max_completion_tokens is sent as max_tokens.
    row(
        "fireworks_ai",
        Some("https://api.fireworks.ai/inference/v1"),
    )
    .base_env(&["FIREWORKS_API_BASE"])
    .key_env(&[
        "FIREWORKS_API_KEY",
        "FIREWORKS_AI_API_KEY",
        "FIREWORKSAI_API_KEY",
        "FIREWORKS_AI_TOKEN",
    ])
    .quirks(&[MAX_TOKENS])
    .model_prefix("accounts/fireworks/models/", "accounts/"),
    row("openrouter", Some("https://openrouter.ai/api/v1"))
        .base_env(&["OPENROUTER_API_BASE"])
        .key_env(&["OPENROUTER_API_KEY", "OR_API_KEY"]),
    // LiteLLM's PerplexityChatConfig (after docs.perplexity.ai's chat completions reference):
    // no tools or functions, one choice, no logit_bias or logprobs.
    row("perplexity", Some("https://api.perplexity.ai"))
        .base_env(&["PERPLEXITY_API_BASE"])
        .key_env(&["PERPLEXITYAI_API_KEY", "PERPLEXITY_API_KEY"])
        .quirks(&[
            reject("tools"),
            reject("tool_choice"),
            reject("functions"),
            reject("function_call"),
            reject_above("n", 1.0),
            reject("logit_bias"),
            reject("logprobs"),
            reject("top_logprobs"),
        ]),
    // inference-docs.cerebras.ai/resources/openai: these fields are a 400; LiteLLM's
    // CerebrasConfig sends max_completion_tokens as max_tokens.
    row("cerebras", Some("https://api.cerebras.ai/v1"))
        .base_env(&["CEREBRAS_API_BASE"])
        .key_env(&["CEREBRAS_API_KEY"])
        .quirks(&[
            MAX_TOKENS,
            reject("frequency_penalty"),
            reject("presence_penalty"),
            reject("logit_bias"),
            reject("parallel_tool_calls"),
            reject("service_tier"),
        ]),
    // LiteLLM's DeepInfraConfig (deepinfra.com/docs/advanced/function_calling): tool_choice
    // only `auto` or `none`; max_completion_tokens sent as max_tokens.
    row("deepinfra", Some("https://api.deepinfra.com/v1/openai"))
        .base_env(&["DEEPINFRA_API_BASE"])
        .key_env(&["DEEPINFRA_API_KEY"])
        .quirks(&[MAX_TOKENS, reject_unless("tool_choice", &["auto", "none"])]),
    // LiteLLM's NvidiaNimConfig: max_completion_tokens sent as max_tokens.
    row("nvidia_nim", Some("https://integrate.api.nvidia.com/v1"))
        .base_env(&["NVIDIA_NIM_API_BASE"])
        .key_env(&["NVIDIA_NIM_API_KEY"])
        .quirks(&[MAX_TOKENS]),
    // LiteLLM's SambanovaConfig: max_completion_tokens sent as max_tokens.
    row("sambanova", Some("https://api.sambanova.ai/v1"))
        .base_env(&["SAMBANOVA_API_BASE"])
        .key_env(&["SAMBANOVA_API_KEY"])
        .quirks(&[MAX_TOKENS]),
    // GitHub Models.
    row("github", Some("https://models.inference.ai.azure.com"))
        .base_env(&["GITHUB_API_BASE"])
        .key_env(&["GITHUB_API_KEY"]),
    row("hosted_vllm", None)
        .base_env(&["HOSTED_VLLM_API_BASE"])
        .key_env(&["HOSTED_VLLM_API_KEY"]),
    row("vllm", None),
    row("lm_studio", Some("http://localhost:1234/v1"))
        .base_env(&["LM_STUDIO_API_BASE"])
        .key_env(&["LM_STUDIO_API_KEY"]),
    // The workspace's serving endpoints, `https://<workspace>/serving-endpoints`: no default.
    // LiteLLM's DatabricksConfig sends max_completion_tokens as max_tokens.
    row("databricks", None)
        .base_env(&["DATABRICKS_API_BASE"])
        .key_env(&["DATABRICKS_API_KEY"])
        .quirks(&[MAX_TOKENS]),
    row("jina_ai", Some("https://api.jina.ai/v1"))
        .base_env(&["JINA_AI_API_BASE"])
        .key_env(&["JINA_AI_API_KEY"]),
    row("voyage", Some("https://api.voyageai.com/v1"))
        .base_env(&["VOYAGE_API_BASE"])
        .key_env(&["VOYAGE_API_KEY"]),
];

/// xAI's reasoning models, as LiteLLM recognises them.
const XAI_REASONING: &[&str] = &["grok-3-mini", "grok-4", "grok-code-fast"];

/// The row for a provider name.
pub fn lookup(name: &str) -> Option<&'static CompatProvider> {
    PROVIDERS.iter().find(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn names_are_unique_and_rows_are_well_formed() {
        for (i, p) in PROVIDERS.iter().enumerate() {
            assert!(
                PROVIDERS[i + 1..].iter().all(|q| q.name != p.name),
                "{} twice",
                p.name
            );
            if let Some(base) = p.api_base {
                assert!(base.starts_with("http"), "{}: {base}", p.name);
                assert!(!base.ends_with('/'), "{}: {base}", p.name);
            }
            for v in p.api_base_env.iter().chain(p.api_key_env) {
                assert!(
                    v.chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
                    "{}: {v}",
                    p.name
                );
            }
            for q in p.quirks {
                if let Action::Rename(to) = q.action {
                    assert_ne!(q.param, to, "{}", p.name);
                }
            }
        }
    }

    #[test]
    fn conditions() {
        assert!(When::Set.holds(&json!(false)));
        assert!(!When::Set.holds(&Value::Null));
        assert!(When::Above(1.0).holds(&json!(2)));
        assert!(!When::Above(1.0).holds(&json!(1)));
        let auto_none = When::NotOneOf(&["auto", "none"]);
        assert!(!auto_none.holds(&json!("auto")));
        assert!(auto_none.holds(&json!("required")));
        assert!(auto_none.holds(&json!({"type": "function", "function": {"name": "f"}})));
    }

    #[test]
    fn model_filters_and_prefixes() {
        let xai = lookup("xai").unwrap();
        let stop = xai.quirks.iter().find(|q| q.param == "stop").unwrap();
        assert!(stop.applies_to("grok-4-0709"));
        assert!(stop.applies_to("grok-3-mini-fast"));
        assert!(!stop.applies_to("grok-3"));
        let fw = lookup("fireworks_ai").unwrap();
        assert_eq!(
            fw.model_id("llama-v3p1-8b-instruct"),
            "accounts/fireworks/models/llama-v3p1-8b-instruct"
        );
        assert_eq!(
            fw.model_id("accounts/me/models/tuned"),
            "accounts/me/models/tuned"
        );
        assert_eq!(lookup("groq").unwrap().model_id("llama3"), "llama3");
    }

    #[test]
    fn the_documented_rows_are_there() {
        for name in [
            "groq",
            "mistral",
            "deepseek",
            "xai",
            "together_ai",
            "fireworks_ai",
            "openrouter",
            "perplexity",
            "cerebras",
            "deepinfra",
            "nvidia_nim",
            "hosted_vllm",
            "lm_studio",
            "sambanova",
            "databricks",
            "github",
            "jina_ai",
            "voyage",
        ] {
            assert!(lookup(name).is_some(), "{name}");
        }
        let db = lookup("databricks").unwrap();
        assert_eq!(db.api_base, None);
        assert_eq!(db.api_base_env, ["DATABRICKS_API_BASE"]);
        let gh = lookup("github").unwrap();
        assert_eq!(gh.api_base, Some("https://models.inference.ai.azure.com"));
        assert_eq!(gh.api_key_env, ["GITHUB_API_KEY"]);
    }
}
