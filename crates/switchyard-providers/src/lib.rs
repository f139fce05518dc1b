//! Provider translation: pure functions, no network.
//!
//! For each provider, this crate turns the unified (OpenAI-format) request into the provider's
//! HTTP request ([`UpstreamRequest`]), and the provider's response, stream bytes and errors back
//! into OpenAI format. It never opens a socket: the router crate sends what this crate builds,
//! so every transform here is testable with plain values.
//!
//! Files are named `<ingress>_<egress>.rs`: `openai_openai.rs` is OpenAI-format in, OpenAI
//! (or any OpenAI-compatible server) out; `openai_anthropic.rs` is OpenAI in, Anthropic's
//! Messages API out; `anthropic_openai.rs` is the Anthropic Messages format a client sends to
//! `/v1/messages`, translated to the gateway's OpenAI format and back, and
//! `anthropic_anthropic.rs` the same requests passed through to Anthropic. OpenAI-compatible
//! providers are rows of
//! [`compat::PROVIDERS`], not code. `mock.rs` answers `mock_response` deployments locally.
//! Framings have files of their own: `sse.rs` (server-sent events) and `eventstream.rs`
//! (AWS's binary event stream, for Bedrock); `sigv4.rs` signs AWS requests for a given time.

pub mod anthropic_anthropic;
pub mod anthropic_openai;
pub mod compat;
pub mod completions_openai;
pub mod embeddings;
pub mod endpoints;
pub mod error;
pub mod eventstream;
pub mod mock;
pub mod openai_anthropic;
pub mod openai_azure;
pub mod openai_bedrock;
pub mod openai_cohere;
pub mod openai_gemini;
pub mod openai_ollama;
pub mod openai_openai;
pub mod openai_vertex;
pub mod passthrough;
pub mod responses_openai;
pub mod sigv4;
pub mod sse;
pub mod transcription;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};
use switchyard_types::{ChatCompletionRequest, EmbeddingRequest, JsonObject, Usage};

pub use error::{ProviderError, TranslateError};
pub use sigv4::AwsCredentials;

/// Everything needed to address one deployment, resolved from config and environment.
#[derive(Clone, Default)]
pub struct Target {
    /// Provider name as written in config (`openai`, `groq`, ...).
    pub provider: String,
    /// Provider's model id, e.g. `gpt-4o`.
    pub model: String,
    /// Base URL, provider default applied, no trailing slash.
    pub api_base: String,
    /// API key, when the provider needs one.
    pub api_key: Option<String>,
    /// API version (Azure).
    pub api_version: Option<String>,
    /// OpenAI organization.
    pub organization: Option<String>,
    /// Headers added to every call.
    pub extra_headers: Vec<(String, String)>,
    /// Request parameters applied when the client does not set them (`temperature`, ...).
    pub defaults: JsonObject,
    /// Fields merged into every body.
    pub extra_body: JsonObject,
    /// Drop parameters the provider does not take instead of failing.
    pub drop_params: bool,
    /// AWS credentials (Bedrock): the router signs each call with SigV4 when it sends it.
    pub aws: Option<AwsCredentials>,
}

impl std::fmt::Debug for Target {
    // The api key is a provider credential: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("provider", &self.provider)
            .field("model", &self.model)
            .field("api_base", &self.api_base)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("aws", &self.aws)
            .finish_non_exhaustive()
    }
}

/// An HTTP request for the router to send.
#[derive(Debug, Clone)]
pub struct UpstreamRequest {
    /// Method.
    pub method: Method,
    /// Full URL.
    pub url: String,
    /// Headers, `content-type` included.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Body.
    pub body: Bytes,
}

/// A provider's non-streamed answer, already in OpenAI format.
#[derive(Debug, Clone)]
pub struct ChatOutput {
    /// The OpenAI-format JSON body, ready to send to a client.
    pub body: Bytes,
    /// Token usage, when the provider reported it.
    pub usage: Option<Usage>,
}

/// What one piece of an upstream stream turned into.
#[derive(Debug, Default)]
pub struct StreamOutput {
    /// Complete SSE events (`data: ...\n\n`), in OpenAI chunk format, to send on.
    pub events: Vec<Bytes>,
    /// Usage, when this piece carried it.
    pub usage: Option<Usage>,
    /// The provider signalled the end of the stream.
    pub done: bool,
    /// The provider reported an error inside the stream (its event is in `events`, last);
    /// the stream ends here.
    pub error: Option<ProviderError>,
}

impl StreamOutput {
    /// Ends the stream with `err`: its OpenAI-shaped error event goes last.
    pub fn fail(&mut self, err: ProviderError) {
        let body = serde_json::json!({"error": {
            "message": err.message,
            "type": err.kind.as_deref().unwrap_or("api_error"),
            "param": err.param,
            "code": err.status.to_string(),
        }});
        self.events
            .push(sse::data_event(body.to_string().as_bytes()));
        self.error = Some(err);
    }
}

/// Turns a provider's stream bytes into OpenAI-format SSE events, incrementally.
pub trait StreamTranslator: Send {
    /// Feeds the next bytes of the upstream body.
    fn push(&mut self, bytes: &[u8]) -> StreamOutput;
    /// The upstream body ended; flush what is left.
    fn finish(&mut self) -> StreamOutput;
    /// The answer's text so far (content and tool-call arguments), for counting tokens when
    /// the provider reports no usage.
    fn completion_text(&self) -> &str {
        ""
    }
}

/// One provider's translation of chat completions.
pub trait ChatProvider: Send + Sync {
    /// Builds the upstream call for an OpenAI-format request. The caller has removed the
    /// gateway's own params and set `request.model` to `target.model`.
    fn chat_request(
        &self,
        target: &Target,
        request: &switchyard_types::Verbatim<ChatCompletionRequest>,
    ) -> Result<UpstreamRequest, TranslateError>;

    /// Turns a successful (2xx) upstream body into an OpenAI-format response.
    fn chat_response(&self, target: &Target, body: Bytes) -> Result<ChatOutput, ProviderError>;

    /// A translator for a successful upstream stream. With `strip_usage`, the usage-only
    /// chunk the gateway asked for (the client did not) is read but not forwarded.
    fn chat_stream(&self, target: &Target, strip_usage: bool) -> Box<dyn StreamTranslator>;

    /// Reads a failed (non-2xx) upstream answer.
    fn error_response(&self, status: u16, body: &[u8]) -> ProviderError;

    /// Reads a failed answer with its headers, for providers that name the error there (AWS:
    /// `x-amzn-errortype`). By default the headers are not needed.
    fn error_response_with_headers(
        &self,
        status: u16,
        _headers: &http::HeaderMap,
        body: &[u8],
    ) -> ProviderError {
        self.error_response(status, body)
    }

    /// Builds the upstream call for an embeddings request (`request.model` is the target's).
    fn embedding_request(
        &self,
        target: &Target,
        _request: &switchyard_types::Verbatim<switchyard_types::EmbeddingRequest>,
    ) -> Result<UpstreamRequest, TranslateError> {
        Err(TranslateError::Invalid(format!(
            "{} has no embeddings API; route embeddings to an embedding model",
            target.provider
        )))
    }

    /// Builds the upstream call for one of the smaller endpoints (images, speech,
    /// moderations, rerank); `request` is the client's body.
    fn endpoint_request(
        &self,
        target: &Target,
        endpoint: endpoints::Endpoint,
        _request: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<UpstreamRequest, TranslateError> {
        Err(TranslateError::Invalid(format!(
            "{} does not serve /v1/{}",
            target.provider,
            endpoint.path()
        )))
    }

    /// The address and auth for an audio transcription (or, with `translate`, translation):
    /// the multipart body is the router's. The request's body is empty; its headers hold no
    /// content type.
    fn transcription_request(
        &self,
        target: &Target,
        _translate: bool,
    ) -> Result<UpstreamRequest, TranslateError> {
        Err(TranslateError::Invalid(format!(
            "{} does not serve /v1/audio/transcriptions",
            target.provider
        )))
    }

    /// Reads a successful answer of one of the smaller endpoints: the body to send on (in
    /// the endpoint's OpenAI or Cohere shape) and what it counts for pricing.
    fn endpoint_response(
        &self,
        _target: &Target,
        endpoint: endpoints::Endpoint,
        request: &serde_json::Map<String, serde_json::Value>,
        body: Bytes,
    ) -> Result<ChatOutput, ProviderError> {
        let usage = endpoints::usage(endpoint, request, &body);
        Ok(ChatOutput { body, usage })
    }

    /// Turns a successful embeddings answer into OpenAI's format; usage when the provider
    /// counted it.
    fn embedding_response(
        &self,
        _target: &Target,
        _request: &EmbeddingRequest,
        _body: Bytes,
    ) -> Result<ChatOutput, ProviderError> {
        Err(ProviderError::malformed(
            "this provider has no embeddings API",
        ))
    }
}

/// A tool call's arguments as JSON (an empty string is `{}`); not JSON is the client's error.
pub(crate) fn tool_call_args(
    call: &switchyard_types::ToolCall,
) -> Result<serde_json::Value, TranslateError> {
    if call.function.arguments.trim().is_empty() {
        return Ok(serde_json::json!({}));
    }
    serde_json::from_str(&call.function.arguments).map_err(|e| {
        TranslateError::Invalid(format!(
            "tool call {} has arguments that are not JSON: {e}",
            call.id
        ))
    })
}

/// A base64 data URL as (media type, data); `None` for any other URL.
pub(crate) fn data_url(url: &str) -> Result<Option<(&str, &str)>, TranslateError> {
    let Some(rest) = url.strip_prefix("data:") else {
        return Ok(None);
    };
    let (meta, data) = rest.split_once(',').ok_or_else(|| {
        TranslateError::Invalid("an image data URL needs a comma before the data".into())
    })?;
    let mime = meta.strip_suffix(";base64").ok_or_else(|| {
        TranslateError::Invalid("image data URLs must be base64 (data:<type>;base64,<data>)".into())
    })?;
    Ok(Some((mime, data)))
}

/// Seconds since the epoch (`created` of a translated response).
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// JSON content type, `Authorization: Bearer <api_key>` when the deployment has a key, and
/// its `extra_headers`.
pub(crate) fn bearer_json_headers(
    target: &Target,
) -> Result<Vec<(HeaderName, HeaderValue)>, TranslateError> {
    let mut h = vec![(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    )];
    if let Some(key) = target.api_key.as_deref().filter(|k| !k.is_empty()) {
        let mut v = HeaderValue::try_from(format!("Bearer {key}")).map_err(|_| {
            TranslateError::Config("api_key has characters not allowed in a header".into())
        })?;
        v.set_sensitive(true);
        h.push((http::header::AUTHORIZATION, v));
    }
    push_extra_headers(target, &mut h)?;
    Ok(h)
}

/// Appends a deployment's `extra_headers`, refusing names or values HTTP cannot carry.
pub(crate) fn push_extra_headers(
    target: &Target,
    h: &mut Vec<(HeaderName, HeaderValue)>,
) -> Result<(), TranslateError> {
    for (name, value) in &target.extra_headers {
        let n = HeaderName::try_from(name.as_str()).map_err(|_| {
            TranslateError::Config(format!("extra_headers: `{name}` is not a header name"))
        })?;
        let v = HeaderValue::try_from(value.as_str()).map_err(|_| {
            TranslateError::Config(format!("extra_headers: value of `{name}` is not valid"))
        })?;
        h.push((n, v));
    }
    Ok(())
}

/// The translation for a provider name, or `None` when Switchyard does not know it.
pub fn chat_provider(provider: &str) -> Option<&'static dyn ChatProvider> {
    if provider == "openai" || compat::lookup(provider).is_some() {
        Some(&openai_openai::OpenAi)
    } else if provider == "anthropic" {
        Some(&openai_anthropic::Anthropic)
    } else if provider == "azure" {
        Some(&openai_azure::Azure)
    } else if provider == "gemini" {
        Some(&openai_gemini::Gemini)
    } else if provider == "vertex_ai" {
        Some(&openai_vertex::Vertex)
    } else if provider == "cohere" || provider == "cohere_chat" {
        Some(&openai_cohere::Cohere)
    } else if provider == "ollama" || provider == "ollama_chat" {
        Some(&openai_ollama::Ollama)
    } else if provider == "bedrock" {
        Some(&openai_bedrock::Bedrock)
    } else {
        None
    }
}

/// Whether a provider speaks OpenAI's wire format (OpenAI, Azure, the compatible family), so
/// OpenAI-only endpoints (legacy completions) reach it as they are.
pub fn is_openai_format(provider: &str) -> bool {
    provider == "openai" || provider == "azure" || compat::lookup(provider).is_some()
}

/// The default base URL of a provider, when it has one.
pub fn default_api_base(provider: &str) -> Option<&'static str> {
    match provider {
        "openai" => Some(openai_openai::DEFAULT_API_BASE),
        "anthropic" => Some(openai_anthropic::DEFAULT_API_BASE),
        "gemini" => Some(openai_gemini::DEFAULT_API_BASE),
        "ollama" | "ollama_chat" => Some(openai_ollama::DEFAULT_API_BASE),
        "cohere" | "cohere_chat" => Some(openai_cohere::DEFAULT_API_BASE),
        other => compat::lookup(other).and_then(|p| p.api_base),
    }
}

/// The environment variables holding a provider's API key, first found wins.
pub fn api_key_envs(provider: &str) -> &'static [&'static str] {
    match provider {
        "openai" => &["OPENAI_API_KEY"],
        "anthropic" => &["ANTHROPIC_API_KEY"],
        "azure" => &["AZURE_API_KEY"],
        "gemini" => &["GEMINI_API_KEY"],
        "cohere" | "cohere_chat" => &["COHERE_API_KEY"],
        other => compat::lookup(other).map_or(&[], |p| p.api_key_env),
    }
}

/// The environment variable holding a provider's API key by default (the first one read).
pub fn api_key_env(provider: &str) -> Option<&'static str> {
    api_key_envs(provider).first().copied()
}

/// The environment variables that set a provider's base URL when a deployment sets none,
/// first found wins.
pub fn api_base_envs(provider: &str) -> &'static [&'static str] {
    match provider {
        "openai" => &["OPENAI_BASE_URL", "OPENAI_API_BASE"],
        "azure" => &["AZURE_API_BASE"],
        "ollama" | "ollama_chat" => &["OLLAMA_API_BASE"],
        other => compat::lookup(other).map_or(&[], |p| p.api_base_env),
    }
}
