//! Translation and provider errors.

use serde::Deserialize;

/// The request cannot be expressed for this provider.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TranslateError {
    /// A parameter the provider does not take (and `drop_params` is off).
    #[error("{provider} does not support parameter `{param}`; set drop_params: true to drop it")]
    UnsupportedParam {
        /// The provider.
        provider: String,
        /// The parameter.
        param: String,
    },
    /// The request is invalid for this provider.
    #[error("{0}")]
    Invalid(String),
    /// A configured value (key, header) cannot be used on the wire.
    #[error("deployment misconfigured: {0}")]
    Config(String),
}

/// A failure reported by a provider (non-2xx answer, or a body that cannot be read).
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderError {
    /// The upstream HTTP status (502 when the body, not the status, was bad).
    pub status: u16,
    /// The provider's own message, kept for the client.
    pub message: String,
    /// The provider's error type, when it sent one.
    pub kind: Option<String>,
    /// The provider's error code, when it sent one.
    pub code: Option<String>,
    /// The parameter at fault, when the provider named one.
    pub param: Option<String>,
}

impl ProviderError {
    /// A 2xx answer whose body could not be read as the provider's format.
    pub fn malformed(what: impl std::fmt::Display) -> Self {
        ProviderError {
            status: 502,
            message: format!("upstream returned a malformed response: {what}"),
            kind: None,
            code: None,
            param: None,
        }
    }
}

/// Reads an OpenAI-style error body `{"error": {...}}`; any other body becomes the message.
pub fn openai_style_error(status: u16, body: &[u8]) -> ProviderError {
    #[derive(Deserialize)]
    struct Envelope {
        error: Detail,
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Detail {
        Object {
            #[serde(default)]
            message: Option<String>,
            #[serde(rename = "type", default)]
            kind: Option<String>,
            #[serde(default)]
            code: Option<serde_json::Value>,
            #[serde(default)]
            param: Option<serde_json::Value>,
        },
        Text(String),
    }
    let text_of = |v: serde_json::Value| match v {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    };
    match serde_json::from_slice::<Envelope>(body) {
        Ok(Envelope {
            error:
                Detail::Object {
                    message,
                    kind,
                    code,
                    param,
                },
        }) => ProviderError {
            status,
            message: message.unwrap_or_else(|| format!("upstream error (HTTP {status})")),
            kind,
            code: code.and_then(text_of),
            param: param.and_then(text_of),
        },
        Ok(Envelope {
            error: Detail::Text(message),
        }) => ProviderError {
            status,
            message,
            kind: None,
            code: None,
            param: None,
        },
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            let message = if text.is_empty() {
                format!("upstream error (HTTP {status}) with an empty body")
            } else {
                // Bound what we echo: an HTML error page can be large.
                let cut: String = text.chars().take(1000).collect();
                format!("upstream error (HTTP {status}): {cut}")
            };
            ProviderError {
                status,
                message,
                kind: None,
                code: None,
                param: None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_providers_message_type_and_code() {
        let e = openai_style_error(
            429,
            br#"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#,
        );
        assert_eq!(e.status, 429);
        assert_eq!(e.message, "Rate limit reached");
        assert_eq!(e.kind.as_deref(), Some("requests"));
        assert_eq!(e.code.as_deref(), Some("rate_limit_exceeded"));
    }

    #[test]
    fn non_json_bodies_become_the_message() {
        let e = openai_style_error(503, b"<html>Service Unavailable</html>");
        assert!(e.message.contains("Service Unavailable"));
        let e = openai_style_error(500, b"");
        assert!(e.message.contains("empty body"));
        let e = openai_style_error(400, br#"{"error":"bad thing"}"#);
        assert_eq!(e.message, "bad thing");
    }
}
