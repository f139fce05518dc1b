//! The one gateway error type.
//!
//! Failure is data: every error records where it came from, whether another attempt may
//! succeed, and a short static reason usable as a metric label. It becomes an HTTP response in
//! exactly one function per ingress format (in the server crate).

use std::time::Duration;

use switchyard_providers::{ProviderError, TranslateError};

/// Who caused a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// The client's request is at fault.
    Client,
    /// The provider failed or answered with an error.
    Upstream,
    /// The gateway itself failed (or its configuration).
    Gateway,
}

/// A failed request.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct GatewayError {
    /// Who caused it.
    pub origin: Origin,
    /// The HTTP status the client gets.
    pub status: u16,
    /// Short, static, low-cardinality reason (a metric label).
    pub reason: &'static str,
    /// For a person; the provider's own message when it sent one.
    pub message: String,
    /// The request parameter at fault.
    pub param: Option<String>,
    /// The provider's error code, kept for the client.
    pub code: Option<String>,
    /// The provider's error type, kept for the client.
    pub provider_type: Option<String>,
    /// Another attempt (on this or another deployment) may succeed.
    pub retryable: bool,
    /// How long the provider asked us to wait.
    pub retry_after: Option<Duration>,
}

impl GatewayError {
    fn new(origin: Origin, status: u16, reason: &'static str, message: impl Into<String>) -> Self {
        GatewayError {
            origin,
            status,
            reason,
            message: message.into(),
            param: None,
            code: None,
            provider_type: None,
            retryable: false,
            retry_after: None,
        }
    }

    /// The client's request is malformed (400).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(Origin::Client, 400, "bad_request", message)
    }

    /// Like [`Self::bad_request`], naming the parameter.
    pub fn bad_param(param: &str, message: impl Into<String>) -> Self {
        let mut e = Self::bad_request(message);
        e.param = Some(param.to_owned());
        e
    }

    /// The model name is not served here (400, as LiteLLM).
    pub fn unknown_model(model: &str) -> Self {
        let mut e = Self::new(
            Origin::Client,
            400,
            "unknown_model",
            format!(
                "Invalid model name passed in model={model}. Call `/v1/models` to view available models for your key."
            ),
        );
        e.param = Some("model".into());
        e
    }

    /// Missing or wrong credentials (401).
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(Origin::Client, 401, "unauthorized", message)
    }

    /// The request body is larger than allowed (413).
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            Origin::Client,
            413,
            "body_too_large",
            format!("Request body is larger than the limit of {limit} bytes (general_settings.max_request_size_mb)."),
        )
    }

    /// No such route (404).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Origin::Client, 404, "not_found", message)
    }

    /// The gateway failed (500). Never for client input.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Origin::Gateway, 500, "internal", message)
    }

    /// A deployment cannot be called as configured (500).
    pub fn misconfigured(message: impl Into<String>) -> Self {
        Self::new(Origin::Gateway, 500, "deployment_misconfigured", message)
    }

    /// The gateway is shutting down or otherwise cannot take the request (503).
    pub fn unavailable(message: impl Into<String>) -> Self {
        let mut e = Self::new(Origin::Gateway, 503, "unavailable", message);
        e.retryable = true;
        e
    }

    /// The provider could not be reached (503, retryable).
    pub fn unreachable(message: impl Into<String>) -> Self {
        let mut e = Self::new(Origin::Upstream, 503, "upstream_unreachable", message);
        e.retryable = true;
        e
    }

    /// The provider's answer broke off or could not be read (502, retryable).
    pub fn bad_gateway(message: impl Into<String>) -> Self {
        let mut e = Self::new(Origin::Upstream, 502, "upstream_malformed", message);
        e.retryable = true;
        e
    }

    /// The provider did not answer in time (408, as LiteLLM's `Timeout`; retryable).
    pub fn timeout(message: impl Into<String>) -> Self {
        let mut e = Self::new(Origin::Upstream, 408, "upstream_timeout", message);
        e.retryable = true;
        e
    }

    /// A provider error, status and message kept.
    pub fn from_provider(e: ProviderError, provider: &str) -> Self {
        let status = if (400..600).contains(&e.status) {
            e.status
        } else {
            502
        };
        let reason = match status {
            400 => "upstream_bad_request",
            401 => "upstream_unauthorized",
            403 => "upstream_forbidden",
            404 => "upstream_not_found",
            408 => "upstream_timeout",
            422 => "upstream_unprocessable",
            429 => "upstream_rate_limited",
            502 => "upstream_malformed",
            500..=599 => "upstream_server_error",
            _ => "upstream_error",
        };
        GatewayError {
            origin: Origin::Upstream,
            status,
            reason,
            message: if e.message.is_empty() {
                format!("{provider} returned HTTP {status}")
            } else {
                e.message
            },
            param: e.param,
            code: e.code,
            provider_type: e.kind,
            // LiteLLM's rule: 408, 409, 429 and 5xx may succeed on another try.
            retryable: matches!(status, 408 | 409 | 429) || status >= 500,
            retry_after: None,
        }
    }

    /// A request that cannot be translated for the provider.
    pub fn from_translate(e: TranslateError) -> Self {
        match e {
            TranslateError::UnsupportedParam { ref param, .. } => {
                let p = param.clone();
                Self::bad_param(&p, e.to_string())
            }
            TranslateError::Invalid(m) => Self::bad_request(m),
            TranslateError::Config(m) => Self::misconfigured(m),
        }
    }
}
