//! LiteLLM-compatible `config.yaml`, parsed once into a validated model.
//!
//! [`load`] reads the file in three passes: `environment_variables` first (so `os.environ/`
//! references can use them), then the whole file into the typed structs of [`raw`] (wrong types
//! fail with file, key path and line; unknown keys become [`Loaded::warnings`]), then the
//! validation that turns each `model_list` entry into a [`Deployment`].

pub mod raw;
pub mod value;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::Deserialize;

pub use raw::{
    ConfigFile, GeneralSettings, LitellmParams, LitellmSettings, ModelInfo, RouterSettings,
};
pub use value::{EnvString, Scalar};

/// A config that could not be used. Every variant names the file; parse and validation errors
/// name the key path and, where known, the line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read config: {source}")]
    Io {
        /// The file.
        file: String,
        /// Why.
        source: std::io::Error,
    },
    /// The YAML is malformed or a value has the wrong type.
    #[error("{file}:{line}:{column}: {key}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// Dotted key path, e.g. `model_list[1].litellm_params.rpm`.
        key: String,
        /// 1-based line (0 when unknown).
        line: u64,
        /// 1-based column (0 when unknown).
        column: u64,
        /// What is wrong.
        message: String,
    },
    /// The values parse but do not make a usable config.
    #[error("{file}{}: {key}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        /// The file.
        file: String,
        /// Dotted key path.
        key: String,
        /// 1-based line, where known.
        line: Option<u64>,
        /// What is wrong.
        message: String,
    },
}

/// Where a deployment was defined, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The file.
    pub file: String,
    /// Key path of the deployment's `litellm_params.model`.
    pub key: String,
    /// Line of `litellm_params.model`, where known.
    pub line: Option<u64>,
}

impl Origin {
    /// An [`ConfigError::Invalid`] at this place.
    pub fn error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.clone(),
            key: self.key.clone(),
            line: self.line,
            message: message.into(),
        }
    }
}

/// One deployment: a `model_list` entry, validated.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// Deployment id: `model_info.id`, else a stable hash of the params.
    pub id: String,
    /// The model group it serves.
    pub model_name: String,
    /// Provider prefix, e.g. `openai` (from `custom_llm_provider` or the model string).
    pub provider: String,
    /// Provider's model id, prefix removed, e.g. `gpt-4o`.
    pub model: String,
    /// The params as written, credentials from `litellm_credential_name` merged in.
    pub params: LitellmParams,
    /// The metadata as written.
    pub info: ModelInfo,
    /// Where it was defined.
    pub origin: Origin,
}

/// A loaded config.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from (or a label for configs built in code).
    pub source: String,
    /// The file's typed contents.
    pub file: ConfigFile,
    /// Deployments, in file order.
    pub deployments: Vec<Deployment>,
    /// `environment_variables`, resolved. Providers read credentials here before the process
    /// environment.
    pub env: EnvVars,
}

/// `environment_variables` of a config. Its `Debug` shows names only: values may be secrets.
#[derive(Clone, Default)]
pub struct EnvVars(pub BTreeMap<String, String>);

impl std::fmt::Debug for EnvVars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// A config plus what was noticed while reading it.
#[derive(Debug)]
pub struct Loaded {
    /// The config.
    pub config: Config,
    /// Unknown keys and similar findings that do not stop start-up.
    pub warnings: Vec<String>,
}

impl Config {
    /// A config with the given model list and default settings (for the SDK and tests).
    pub fn from_model_list(model_list: Vec<raw::ModelEntry>) -> Result<Config, ConfigError> {
        let file = ConfigFile {
            model_list,
            ..ConfigFile::default()
        };
        validate("<code>", file, BTreeMap::new(), &[])
    }

    /// Looks a variable up in `environment_variables`, then in the process environment.
    pub fn env_var(&self, name: &str) -> Option<String> {
        self.env
            .0
            .get(name)
            .cloned()
            .or_else(|| std::env::var(name).ok())
    }

    /// The master key, when one is configured (config, else `LITELLM_MASTER_KEY`).
    pub fn master_key(&self) -> Option<String> {
        self.file
            .general_settings
            .master_key
            .as_ref()
            .and_then(|k| k.get().map(str::to_owned))
            .or_else(|| self.env_var("LITELLM_MASTER_KEY"))
            .filter(|k| !k.is_empty())
    }
}

/// Reads and validates a config file.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        file: file.clone(),
        source,
    })?;
    parse(&text, &file)
}

/// Parses and validates config text; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Loaded, ConfigError> {
    // Pass 1: environment_variables, so later os.environ/ references can see them.
    #[derive(Deserialize)]
    struct EnvOnly {
        #[serde(default)]
        environment_variables: BTreeMap<String, EnvString>,
    }
    let env_only: EnvOnly = deserialize(text, file, &mut |_| {})?;
    let env: BTreeMap<String, String> = env_only
        .environment_variables
        .into_iter()
        .filter_map(|(k, v)| v.get().map(|v| (k, v.to_owned())))
        .collect();

    // Pass 2: the whole file, unknown keys collected.
    let mut warnings = Vec::new();
    let parsed: ConfigFile = value::with_overlay(&env, || {
        deserialize(text, file, &mut |path| {
            // serde_ignored marks steps through Option with `?`; users wrote plain keys.
            let path = path.replace(".?", "").replace("?.", ".");
            warnings.push(format!("{file}: unknown key `{path}` ignored"));
        })
    })?;

    // Pass 3: the line of each deployment's `litellm_params.model`, for later errors.
    let lines = model_lines(text);
    let config = validate(file, parsed, env, &lines)?;
    Ok(Loaded { config, warnings })
}

fn deserialize<T: serde::de::DeserializeOwned>(
    text: &str,
    file: &str,
    on_unknown: &mut dyn FnMut(String),
) -> Result<T, ConfigError> {
    let mut key = String::new();
    let mut cb = |p: serde_ignored::Path<'_>| on_unknown(p.to_string());
    let result = serde_saphyr::with_deserializer_from_str(text, |de| {
        let de = serde_ignored::Deserializer::new(de, &mut cb);
        serde_path_to_error::deserialize(de).map_err(|e| {
            key = e.path().to_string();
            e.into_inner()
        })
    });
    result.map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        let message = e.without_snippet().to_string();
        // saphyr prefixes "error: line L column C: "; keep only the reason.
        let message = match message.find(": ") {
            Some(i) if message.starts_with("error: line") => message[i + 2..].to_owned(),
            _ => message,
        };
        ConfigError::Parse {
            file: file.to_owned(),
            key: if key.is_empty() || key == "." {
                "(document)".to_owned()
            } else {
                key
            },
            line,
            column,
            message,
        }
    })
}

fn model_lines(text: &str) -> Vec<u64> {
    #[derive(Deserialize)]
    struct Top {
        #[serde(default)]
        model_list: Vec<Entry>,
    }
    #[derive(Deserialize)]
    struct Entry {
        litellm_params: Params,
    }
    #[derive(Deserialize)]
    struct Params {
        model: serde_saphyr::Spanned<serde::de::IgnoredAny>,
    }
    serde_saphyr::from_str::<Top>(text)
        .map(|t| {
            t.model_list
                .iter()
                .map(|e| e.litellm_params.model.referenced.line())
                .collect()
        })
        .unwrap_or_default()
}

/// Model-name prefixes that LiteLLM maps to OpenAI when a model has no `provider/` prefix.
const OPENAI_BARE_PREFIXES: &[&str] = &[
    "gpt-",
    "chatgpt-",
    "o1",
    "o3",
    "o4",
    "text-embedding-",
    "davinci",
    "babbage",
    "dall-e",
    "whisper",
    "tts-",
    "omni-moderation",
    "text-moderation",
];

/// Splits `provider/model` (or uses `custom_llm_provider`). `None` when the provider cannot be
/// told.
pub fn split_provider(model: &str, custom_llm_provider: Option<&str>) -> Option<(String, String)> {
    if let Some(p) = custom_llm_provider.filter(|p| !p.is_empty()) {
        let rest = model
            .strip_prefix(p)
            .and_then(|r| r.strip_prefix('/'))
            .unwrap_or(model);
        return Some((p.to_owned(), rest.to_owned()));
    }
    match model.split_once('/') {
        Some((p, m)) if !p.is_empty() && !m.is_empty() => Some((p.to_owned(), m.to_owned())),
        Some(_) => None,
        None if OPENAI_BARE_PREFIXES
            .iter()
            .any(|pre| model.starts_with(pre)) =>
        {
            Some(("openai".to_owned(), model.to_owned()))
        }
        None => None,
    }
}

fn validate(
    file: &str,
    parsed: ConfigFile,
    env: BTreeMap<String, String>,
    lines: &[u64],
) -> Result<Config, ConfigError> {
    let credentials: BTreeMap<&str, &raw::CredentialEntry> = parsed
        .credential_list
        .iter()
        .map(|c| (c.credential_name.as_str(), c))
        .collect();
    let mut deployments = Vec::with_capacity(parsed.model_list.len());
    let mut ids = HashSet::new();
    for (i, entry) in parsed.model_list.iter().enumerate() {
        let origin = Origin {
            file: file.to_owned(),
            key: format!("model_list[{i}].litellm_params.model"),
            line: lines.get(i).copied(),
        };
        if entry.model_name.trim().is_empty() {
            return Err(ConfigError::Invalid {
                file: file.to_owned(),
                key: format!("model_list[{i}].model_name"),
                line: origin.line,
                message: "model_name must not be empty".into(),
            });
        }
        let mut params = entry.litellm_params.clone();
        if let Some(name) = &params.litellm_credential_name {
            let cred = credentials.get(name.as_str()).ok_or_else(|| {
                origin.error(format!(
                    "litellm_credential_name `{name}` is not in credential_list"
                ))
            })?;
            merge_credential(&mut params, cred);
        }
        let (provider, model) =
            split_provider(&params.model, params.custom_llm_provider.as_deref()).ok_or_else(
                || {
                    origin.error(format!(
                "cannot tell the provider of `{}`: write it as provider/model, e.g. openai/gpt-4o",
                params.model
            ))
                },
            )?;
        for (key, v) in [
            ("timeout", params.timeout),
            ("stream_timeout", params.stream_timeout),
        ] {
            if let Some(t) = v {
                if !(t.0.is_finite() && t.0 > 0.0) {
                    return Err(ConfigError::Invalid {
                        file: file.to_owned(),
                        key: format!("model_list[{i}].litellm_params.{key}"),
                        line: origin.line,
                        message: format!("must be a positive number of seconds, not {}", t.0),
                    });
                }
            }
        }
        let id = match &entry.model_info.id {
            Some(id) => id.clone(),
            None => derived_id(&entry.model_name, &params),
        };
        if !ids.insert(id.clone()) {
            return Err(ConfigError::Invalid {
                file: file.to_owned(),
                key: format!("model_list[{i}].model_info.id"),
                line: origin.line,
                message: format!("deployment id `{id}` is used twice"),
            });
        }
        deployments.push(Deployment {
            id,
            model_name: entry.model_name.clone(),
            provider,
            model,
            params,
            info: entry.model_info.clone(),
            origin,
        });
    }
    Ok(Config {
        source: file.to_owned(),
        file: parsed,
        deployments,
        env: EnvVars(env),
    })
}

fn merge_credential(params: &mut LitellmParams, cred: &raw::CredentialEntry) {
    for (k, v) in &cred.credential_values {
        let slot = match k.as_str() {
            "api_key" => &mut params.api_key,
            "api_base" => &mut params.api_base,
            "api_version" => &mut params.api_version,
            "organization" => &mut params.organization,
            "aws_access_key_id" => &mut params.aws_access_key_id,
            "aws_secret_access_key" => &mut params.aws_secret_access_key,
            "aws_session_token" => &mut params.aws_session_token,
            "aws_region_name" => &mut params.aws_region_name,
            "vertex_project" => &mut params.vertex_project,
            "vertex_location" => &mut params.vertex_location,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(v.clone());
        }
    }
}

/// A stable id from what makes a deployment distinct, so ids survive restarts and reorders.
fn derived_id(model_name: &str, p: &LitellmParams) -> String {
    let parts = [
        model_name,
        &p.model,
        p.api_base.as_ref().and_then(EnvString::get).unwrap_or(""),
        p.api_version
            .as_ref()
            .and_then(EnvString::get)
            .unwrap_or(""),
        p.organization
            .as_ref()
            .and_then(EnvString::get)
            .unwrap_or(""),
        p.api_key.as_ref().and_then(EnvString::get).unwrap_or(""),
        p.aws_region_name
            .as_ref()
            .and_then(EnvString::get)
            .unwrap_or(""),
    ];
    let mut name = parts.join("\u{1f}");
    if let Some(m) = &p.mock_response {
        name.push_str(&m.to_string());
    }
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()).to_string()
}

#[cfg(test)]
mod tests;
