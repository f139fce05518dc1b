//! Model prices and the exact cost of a response.
//!
//! Prices are held as integer **pico-dollars per token** (1 pUSD = 10⁻¹² USD), so a cost is
//! an exact integer sum: $2.50 per million tokens is 2,500,000 pUSD a token, and 1,234 tokens
//! cost exactly 3,085,000,000 pUSD. Only the final conversion to dollars is floating point.
//!
//! The shipped table (`data/prices.json`, our own format: USD per million tokens, a source
//! and date per provider) is parsed once at start-up. A file in LiteLLM's
//! `model_prices_and_context_window.json` format can extend or override it, and a
//! deployment's `model_info` / `litellm_params` prices override both (the router applies
//! those).

pub mod tokens;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use switchyard_types::Usage;

/// Pico-dollars in one dollar.
pub const PICO_PER_USD: f64 = 1e12;

/// What a model is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Chat completions.
    #[default]
    Chat,
    /// Embeddings.
    Embedding,
    /// Legacy text completions.
    Completion,
    /// Anything else (images, audio, rerank, ...).
    #[serde(other)]
    Other,
}

/// The price and limits of one model. Prices are pico-dollars per token.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Price {
    /// What the model is for.
    pub mode: Mode,
    /// Uncached input tokens.
    pub input: u64,
    /// Output tokens.
    pub output: u64,
    /// Cached input tokens read, when the provider prices them apart.
    pub cache_read: Option<u64>,
    /// Input tokens written to the provider's cache, when priced apart.
    pub cache_write: Option<u64>,
    /// Reasoning tokens, when priced apart from output.
    pub reasoning: Option<u64>,
    /// Context window.
    pub max_input_tokens: Option<u64>,
    /// Output limit.
    pub max_output_tokens: Option<u64>,
    /// Takes tools.
    pub tools: bool,
    /// Takes images.
    pub vision: bool,
    /// Follows a JSON schema.
    pub json_schema: bool,
    /// Reasons before answering.
    pub reasoning_model: bool,
    /// A price per unit other than tokens (image, second of audio, character, query),
    /// charged on `Usage.extra["billable_units"]`.
    pub per_unit: Option<UnitPrice>,
}

/// What a non-token price counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// An image generated.
    Image,
    /// A second of audio.
    Second,
    /// A character of text (speech).
    Character,
    /// A search query (rerank).
    Query,
}

/// A price per [`Unit`], in pico-dollars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnitPrice {
    /// What is counted.
    pub unit: Unit,
    /// Pico-dollars per unit.
    pub pico: u64,
}

impl UnitPrice {
    /// A price of `usd` dollars per `unit`.
    pub fn new(unit: Unit, usd: f64) -> UnitPrice {
        UnitPrice {
            unit,
            pico: pico_per_token(usd),
        }
    }
}

/// The usage key that carries how many units (images, seconds, characters, queries) a call
/// consumed.
pub const BILLABLE_UNITS: &str = "billable_units";

/// A per-token price in dollars as pico-dollars, rounded to the nearest.
pub fn pico_per_token(usd_per_token: f64) -> u64 {
    if usd_per_token.is_finite() && usd_per_token > 0.0 {
        (usd_per_token * PICO_PER_USD).round() as u64
    } else {
        0
    }
}

/// A price per million tokens in dollars as pico-dollars per token.
pub fn pico_per_mtok(usd_per_mtok: f64) -> u64 {
    if usd_per_mtok.is_finite() && usd_per_mtok > 0.0 {
        (usd_per_mtok * 1e6).round() as u64
    } else {
        0
    }
}

/// The cost of one response, by part, in pico-dollars.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    /// Uncached input tokens.
    pub input: u64,
    /// Cached input tokens read.
    pub cache_read: u64,
    /// Input tokens written to the cache.
    pub cache_write: u64,
    /// Output tokens (reasoning excluded when priced apart).
    pub output: u64,
    /// Reasoning tokens priced apart.
    pub reasoning: u64,
    /// Images, seconds, characters or queries.
    pub units: u64,
}

impl Cost {
    /// Total, pico-dollars.
    pub fn total_pico(&self) -> u64 {
        self.input
            .saturating_add(self.cache_read)
            .saturating_add(self.cache_write)
            .saturating_add(self.output)
            .saturating_add(self.reasoning)
            .saturating_add(self.units)
    }

    /// Total, dollars.
    pub fn usd(&self) -> f64 {
        self.total_pico() as f64 / PICO_PER_USD
    }
}

fn extra_u64(usage: &Usage, key: &str) -> Option<u64> {
    usage.extra.get(key).and_then(Value::as_u64)
}

impl Price {
    /// The cost of `usage` at this price.
    ///
    /// `prompt_tokens` counts every input token (OpenAI's convention, which translators
    /// normalise to): cached reads (`prompt_tokens_details.cached_tokens`, or
    /// `cache_read_input_tokens`) and cache writes (`cache_creation_input_tokens`) are taken
    /// out of it and priced at their own rates. Reasoning tokens are part of
    /// `completion_tokens`; they are priced apart only when the model has a reasoning price.
    pub fn cost(&self, usage: &Usage) -> Cost {
        let cached = usage
            .prompt_tokens_details
            .as_ref()
            .and_then(|d| d.cached_tokens)
            .or_else(|| extra_u64(usage, "cache_read_input_tokens"))
            .unwrap_or(0);
        let written = extra_u64(usage, "cache_creation_input_tokens").unwrap_or(0);
        let uncached = usage
            .prompt_tokens
            .saturating_sub(cached)
            .saturating_sub(written);
        let reasoning_tokens = usage
            .completion_tokens_details
            .as_ref()
            .and_then(|d| d.reasoning_tokens)
            .unwrap_or(0)
            .min(usage.completion_tokens);
        let (output_tokens, reasoning) = match self.reasoning {
            Some(rate) => (
                usage.completion_tokens - reasoning_tokens,
                reasoning_tokens.saturating_mul(rate),
            ),
            None => (usage.completion_tokens, 0),
        };
        Cost {
            input: uncached.saturating_mul(self.input),
            cache_read: cached.saturating_mul(self.cache_read.unwrap_or(self.input)),
            cache_write: written.saturating_mul(self.cache_write.unwrap_or(self.input)),
            output: output_tokens.saturating_mul(self.output),
            reasoning,
            units: self.per_unit.map_or(0, |u| {
                let n = usage
                    .extra
                    .get(BILLABLE_UNITS)
                    .and_then(Value::as_f64)
                    .filter(|n| n.is_finite() && *n > 0.0)
                    .unwrap_or(0.0);
                (n * u.pico as f64).round() as u64
            }),
        }
    }
}

/// A price file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PriceError {
    /// The file could not be read.
    #[error("{file}: cannot read price file: {source}")]
    Io {
        /// The file.
        file: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid JSON of the expected shape.
    #[error("{file}: invalid price file: {message}")]
    Format {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
}

/// Prices by model, looked up as `provider/model` or a bare model id.
#[derive(Debug, Clone, Default)]
pub struct PriceTable {
    by_key: HashMap<String, Arc<Price>>,
}

// ---- our format ---------------------------------------------------------------------------

#[derive(Deserialize)]
struct OwnFile {
    providers: HashMap<String, OwnProvider>,
}

#[derive(Deserialize)]
struct OwnProvider {
    #[allow(dead_code)]
    source: String,
    #[allow(dead_code)]
    checked: String,
    models: HashMap<String, OwnModel>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OwnModel {
    #[serde(default)]
    mode: Mode,
    #[serde(default)]
    input: f64,
    #[serde(default)]
    output: f64,
    cache_read: Option<f64>,
    cache_write: Option<f64>,
    reasoning: Option<f64>,
    max_input_tokens: Option<u64>,
    max_output_tokens: Option<u64>,
    #[serde(default)]
    supports: Vec<String>,
    /// Dollars per image, second, character or query.
    per_image: Option<f64>,
    per_second: Option<f64>,
    per_character: Option<f64>,
    per_query: Option<f64>,
}

fn unit_price(
    image: Option<f64>,
    second: Option<f64>,
    character: Option<f64>,
    query: Option<f64>,
) -> Option<UnitPrice> {
    [
        (Unit::Image, image),
        (Unit::Second, second),
        (Unit::Character, character),
        (Unit::Query, query),
    ]
    .into_iter()
    .find_map(|(u, v)| v.filter(|v| *v > 0.0).map(|v| UnitPrice::new(u, v)))
}

/// The shipped table, in our format.
const BUILTIN: &str = include_str!("../data/prices.json");

// ---- LiteLLM's format ---------------------------------------------------------------------

#[derive(Deserialize)]
struct LitellmEntry {
    litellm_provider: Option<String>,
    #[serde(default)]
    mode: Option<Mode>,
    input_cost_per_token: Option<f64>,
    output_cost_per_token: Option<f64>,
    cache_read_input_token_cost: Option<f64>,
    cache_creation_input_token_cost: Option<f64>,
    output_cost_per_reasoning_token: Option<f64>,
    max_input_tokens: Option<u64>,
    max_output_tokens: Option<u64>,
    max_tokens: Option<u64>,
    #[serde(default)]
    supports_function_calling: bool,
    #[serde(default)]
    supports_vision: bool,
    #[serde(default)]
    supports_response_schema: bool,
    #[serde(default)]
    supports_reasoning: bool,
    output_cost_per_image: Option<f64>,
    input_cost_per_image: Option<f64>,
    input_cost_per_second: Option<f64>,
    output_cost_per_second: Option<f64>,
    input_cost_per_character: Option<f64>,
    input_cost_per_query: Option<f64>,
}

impl PriceTable {
    /// The table shipped with Switchyard.
    pub fn builtin() -> Result<PriceTable, PriceError> {
        let mut t = PriceTable::default();
        t.merge_own(BUILTIN, "builtin prices.json")?;
        Ok(t)
    }

    /// How many keys the table holds.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Sets the price of `key` (`provider/model` or a bare model id).
    pub fn insert(&mut self, key: impl Into<String>, price: Price) {
        self.by_key.insert(key.into(), Arc::new(price));
    }

    fn merge_own(&mut self, text: &str, file: &str) -> Result<(), PriceError> {
        let parsed: OwnFile = serde_json::from_str(text).map_err(|e| PriceError::Format {
            file: file.to_owned(),
            message: e.to_string(),
        })?;
        for (provider, p) in parsed.providers {
            for (model, m) in p.models {
                let has = |f: &str| m.supports.iter().any(|s| s == f);
                let price = Price {
                    mode: m.mode,
                    input: pico_per_mtok(m.input),
                    output: pico_per_mtok(m.output),
                    cache_read: m.cache_read.map(pico_per_mtok),
                    cache_write: m.cache_write.map(pico_per_mtok),
                    reasoning: m.reasoning.map(pico_per_mtok),
                    max_input_tokens: m.max_input_tokens,
                    max_output_tokens: m.max_output_tokens,
                    tools: has("tools"),
                    vision: has("vision"),
                    json_schema: has("json_schema"),
                    reasoning_model: has("reasoning"),
                    per_unit: unit_price(m.per_image, m.per_second, m.per_character, m.per_query),
                };
                self.insert(format!("{provider}/{model}"), price);
            }
        }
        Ok(())
    }

    /// Reads a LiteLLM `model_prices_and_context_window.json` file; its entries override or
    /// extend this table. Returns how many entries it took.
    pub fn merge_litellm_file(&mut self, path: &Path) -> Result<usize, PriceError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| PriceError::Io {
            file: file.clone(),
            source,
        })?;
        self.merge_litellm(&text, &file)
    }

    /// Like [`Self::merge_litellm_file`], from text.
    pub fn merge_litellm(&mut self, text: &str, file: &str) -> Result<usize, PriceError> {
        let entries: HashMap<String, Value> =
            serde_json::from_str(text).map_err(|e| PriceError::Format {
                file: file.to_owned(),
                message: e.to_string(),
            })?;
        let mut taken = 0;
        for (key, v) in entries {
            if key == "sample_spec" {
                continue;
            }
            let e: LitellmEntry = serde_json::from_value(v).map_err(|e| PriceError::Format {
                file: file.to_owned(),
                message: format!("entry `{key}`: {e}"),
            })?;
            let per_unit = unit_price(
                e.output_cost_per_image.or(e.input_cost_per_image),
                e.input_cost_per_second.or(e.output_cost_per_second),
                e.input_cost_per_character,
                e.input_cost_per_query,
            );
            if e.input_cost_per_token.is_none()
                && e.output_cost_per_token.is_none()
                && per_unit.is_none()
            {
                continue; // no price Switchyard can apply
            }
            let price = Price {
                mode: e.mode.unwrap_or_default(),
                input: e.input_cost_per_token.map_or(0, pico_per_token),
                output: e.output_cost_per_token.map_or(0, pico_per_token),
                cache_read: e.cache_read_input_token_cost.map(pico_per_token),
                cache_write: e.cache_creation_input_token_cost.map(pico_per_token),
                reasoning: e.output_cost_per_reasoning_token.map(pico_per_token),
                max_input_tokens: e.max_input_tokens,
                max_output_tokens: e.max_output_tokens.or(e.max_tokens),
                tools: e.supports_function_calling,
                vision: e.supports_vision,
                json_schema: e.supports_response_schema,
                reasoning_model: e.supports_reasoning,
                per_unit,
            };
            // LiteLLM keys are `provider/model` or a bare id with `litellm_provider`.
            match (key.contains('/'), &e.litellm_provider) {
                (false, Some(provider)) => {
                    self.insert(format!("{provider}/{key}"), price.clone());
                    self.insert(key, price);
                }
                _ => self.insert(key, price),
            }
            taken += 1;
        }
        Ok(taken)
    }

    /// The price of `model` at `provider`: `provider/model`, then the bare id, then the id
    /// after its last `/` (e.g. `openrouter/openai/gpt-4o` → `openai/gpt-4o`).
    pub fn lookup(&self, provider: &str, model: &str) -> Option<Arc<Price>> {
        let key = format!("{provider}/{model}");
        if let Some(p) = self.by_key.get(&key) {
            return Some(Arc::clone(p));
        }
        if let Some(p) = self.by_key.get(model) {
            return Some(Arc::clone(p));
        }
        // OpenAI-compatible hosts of OpenAI models, and nested ids.
        if let Some(p) = self
            .by_key
            .get(&format!("openai/{model}"))
            .filter(|_| provider == "openai_compatible" || provider == "custom_openai")
        {
            return Some(Arc::clone(p));
        }
        model
            .split_once('/')
            .and_then(|(p, m)| self.by_key.get(&format!("{p}/{m}")))
            .map(Arc::clone)
    }
}

#[cfg(test)]
mod tests;
