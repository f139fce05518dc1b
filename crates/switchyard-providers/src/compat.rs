//! The OpenAI-compatible family: each provider is a row, not code.
//!
//! A row gives the provider's default base URL and the environment variable its API key is
//! read from. All of them speak OpenAI's wire format, so `openai_openai.rs` serves them.

/// One OpenAI-compatible provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompatProvider {
    /// The prefix in `provider/model`.
    pub name: &'static str,
    /// Default base URL (the part before `/chat/completions`); `None` when it must be configured.
    pub api_base: Option<&'static str>,
    /// Environment variable with the API key; `None` when the server needs none.
    pub api_key_env: Option<&'static str>,
}

const fn row(
    name: &'static str,
    api_base: Option<&'static str>,
    api_key_env: Option<&'static str>,
) -> CompatProvider {
    CompatProvider {
        name,
        api_base,
        api_key_env,
    }
}

/// The table. Base URLs and key variables as each provider documents them.
pub const PROVIDERS: &[CompatProvider] = &[
    // Any OpenAI-compatible server at a configured api_base.
    row("openai_compatible", None, None),
    row("custom_openai", None, None),
    row(
        "text-completion-openai",
        Some("https://api.openai.com/v1"),
        Some("OPENAI_API_KEY"),
    ),
    row(
        "groq",
        Some("https://api.groq.com/openai/v1"),
        Some("GROQ_API_KEY"),
    ),
    row(
        "mistral",
        Some("https://api.mistral.ai/v1"),
        Some("MISTRAL_API_KEY"),
    ),
    row(
        "deepseek",
        Some("https://api.deepseek.com/v1"),
        Some("DEEPSEEK_API_KEY"),
    ),
    row("xai", Some("https://api.x.ai/v1"), Some("XAI_API_KEY")),
    row(
        "together_ai",
        Some("https://api.together.xyz/v1"),
        Some("TOGETHERAI_API_KEY"),
    ),
    row(
        "fireworks_ai",
        Some("https://api.fireworks.ai/inference/v1"),
        Some("FIREWORKS_AI_API_KEY"),
    ),
    row(
        "openrouter",
        Some("https://openrouter.ai/api/v1"),
        Some("OPENROUTER_API_KEY"),
    ),
    row(
        "perplexity",
        Some("https://api.perplexity.ai"),
        Some("PERPLEXITYAI_API_KEY"),
    ),
    row(
        "cerebras",
        Some("https://api.cerebras.ai/v1"),
        Some("CEREBRAS_API_KEY"),
    ),
    row(
        "deepinfra",
        Some("https://api.deepinfra.com/v1/openai"),
        Some("DEEPINFRA_API_KEY"),
    ),
    row(
        "nvidia_nim",
        Some("https://integrate.api.nvidia.com/v1"),
        Some("NVIDIA_NIM_API_KEY"),
    ),
    row(
        "sambanova",
        Some("https://api.sambanova.ai/v1"),
        Some("SAMBANOVA_API_KEY"),
    ),
    row(
        "github",
        Some("https://models.inference.ai.azure.com"),
        Some("GITHUB_API_KEY"),
    ),
    row("hosted_vllm", None, Some("HOSTED_VLLM_API_KEY")),
    row("vllm", None, None),
    row(
        "lm_studio",
        Some("http://localhost:1234/v1"),
        Some("LM_STUDIO_API_KEY"),
    ),
    row("databricks", None, Some("DATABRICKS_API_KEY")),
    row(
        "jina_ai",
        Some("https://api.jina.ai/v1"),
        Some("JINA_AI_API_KEY"),
    ),
    row(
        "voyage",
        Some("https://api.voyageai.com/v1"),
        Some("VOYAGE_API_KEY"),
    ),
];

/// The row for a provider name.
pub fn lookup(name: &str) -> Option<&'static CompatProvider> {
    PROVIDERS.iter().find(|p| p.name == name)
}
