//! LiteLLM's request-body extras: read by the gateway, never sent to a provider.

use std::time::Duration;

use serde_json::Value;
use switchyard_providers::mock::Mock;
use switchyard_types::{Forwardable, JsonObject, Verbatim};

use crate::GatewayError;

/// Body keys that configure the gateway rather than the model. They are removed before the
/// request goes upstream (a provider would reject them as unknown parameters).
const GATEWAY_KEYS: &[&str] = &[
    "metadata",
    "litellm_metadata",
    "fallbacks",
    "disable_fallbacks",
    "num_retries",
    "timeout",
    "stream_timeout",
    "mock_response",
    "mock_testing_fallbacks",
    "mock_testing_context_fallbacks",
    "mock_testing_content_policy_fallbacks",
    "mock_testing_rate_limit_error",
    "tags",
    "cache",
    "caching",
    "guardrails",
    "context_window_fallback_dict",
    "api_key",
    "api_base",
    "base_url",
    "api_version",
    "litellm_call_id",
    "litellm_trace_id",
    "litellm_session_id",
    "proxy_server_request",
    "secret_fields",
    "spend_logs_metadata",
];

/// Whether a body key configures the gateway (and is never sent to a provider).
pub fn is_gateway_key(key: &str) -> bool {
    GATEWAY_KEYS.contains(&key)
}

/// The gateway extras of one request.
#[derive(Debug, Clone, Default)]
pub struct GatewayParams {
    /// `metadata` (tags, trace ids, spend-log metadata).
    pub metadata: Option<Value>,
    /// Client-side fallbacks.
    pub fallbacks: Option<Vec<String>>,
    /// Turn fallbacks off for this request.
    pub disable_fallbacks: bool,
    /// Retries for this request.
    pub num_retries: Option<u32>,
    /// Whole-request timeout for this request.
    pub timeout: Option<Duration>,
    /// Time-to-first-chunk timeout for this request.
    pub stream_timeout: Option<Duration>,
    /// Answer with this instead of calling the provider.
    pub mock_response: Option<Mock>,
    /// Request tags.
    pub tags: Vec<String>,
}

/// The gateway keys among a request's unmodelled fields. Those fields are few: each is
/// looked up in the list, rather than every listed key in them.
fn present(extra: &JsonObject) -> Vec<&'static str> {
    extra
        .keys()
        .filter_map(|k| GATEWAY_KEYS.iter().find(|g| **g == k.as_str()).copied())
        .collect()
}

fn seconds(param: &str, v: &Value) -> Result<Duration, GatewayError> {
    let s = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match s {
        Some(s) if s.is_finite() && s > 0.0 && s < 1.0e7 => Ok(Duration::from_secs_f64(s)),
        _ => Err(GatewayError::bad_param(
            param,
            format!("`{param}` must be a positive number of seconds"),
        )),
    }
}

impl GatewayParams {
    /// Removes the gateway extras from a request's unmodelled fields and reads them.
    pub fn extract(extra: &mut JsonObject) -> Result<GatewayParams, GatewayError> {
        let present = present(extra);
        if present.is_empty() {
            return Ok(GatewayParams::default());
        }
        Self::take(|key| present.contains(&key).then(|| extra.remove(key)).flatten())
    }

    /// [`GatewayParams::extract`] for a chat request that may carry the client's bytes: they
    /// are kept, and a body forwarded from them leaves the gateway's extras out.
    pub fn extract_verbatim<T: Forwardable>(
        request: &mut Verbatim<T>,
    ) -> Result<GatewayParams, GatewayError> {
        let present = present(request.extra());
        if present.is_empty() {
            return Ok(GatewayParams::default());
        }
        Self::take(|key| {
            present
                .contains(&key)
                .then(|| request.remove_extra(key))
                .flatten()
        })
    }

    /// Reads the extras `remove` takes out, one key at a time.
    fn take(mut remove: impl FnMut(&str) -> Option<Value>) -> Result<GatewayParams, GatewayError> {
        let mut p = GatewayParams::default();
        for key in GATEWAY_KEYS {
            let Some(v) = remove(key) else {
                continue;
            };
            match *key {
                "metadata" => p.metadata = Some(v),
                "fallbacks" => {
                    p.fallbacks = Some(serde_json::from_value(v).map_err(|_| {
                        GatewayError::bad_param(
                            "fallbacks",
                            "`fallbacks` must be a list of model names",
                        )
                    })?)
                }
                "disable_fallbacks" => p.disable_fallbacks = v.as_bool().unwrap_or(false),
                "num_retries" => {
                    p.num_retries = Some(
                        v.as_u64()
                            .and_then(|n| u32::try_from(n).ok())
                            .ok_or_else(|| {
                                GatewayError::bad_param(
                                    "num_retries",
                                    "`num_retries` must be a non-negative integer",
                                )
                            })?,
                    )
                }
                "timeout" => p.timeout = Some(seconds("timeout", &v)?),
                "stream_timeout" => p.stream_timeout = Some(seconds("stream_timeout", &v)?),
                "mock_response" => {
                    p.mock_response = Some(Mock::from_value(&v).ok_or_else(|| {
                        GatewayError::bad_param(
                            "mock_response",
                            "`mock_response` must be a string or a response object",
                        )
                    })?)
                }
                "tags" => {
                    p.tags = serde_json::from_value(v).map_err(|_| {
                        GatewayError::bad_param("tags", "`tags` must be a list of strings")
                    })?
                }
                _ => {}
            }
        }
        if let Some(Value::Array(tags)) = p.metadata.as_ref().and_then(|m| m.get("tags")) {
            p.tags
                .extend(tags.iter().filter_map(|t| t.as_str().map(str::to_owned)));
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_types::ChatCompletionRequest;

    #[test]
    fn extras_are_removed_and_read() {
        let mut req: ChatCompletionRequest = serde_json::from_value(serde_json::json!({
            "model": "m", "messages": [], "timeout": 2.5, "num_retries": 1,
            "metadata": {"tags": ["a"]}, "tags": ["b"], "mock_response": "hi", "seed": 1
        }))
        .unwrap();
        let p = GatewayParams::extract(&mut req.extra).unwrap();
        assert_eq!(p.timeout, Some(Duration::from_millis(2500)));
        assert_eq!(p.num_retries, Some(1));
        assert_eq!(p.tags, vec!["b".to_string(), "a".to_string()]);
        assert!(matches!(p.mock_response, Some(Mock::Text(ref t)) if t == "hi"));
        assert!(req.extra.is_empty(), "{:?}", req.extra);
        assert_eq!(req.seed, Some(1));
    }

    #[test]
    fn a_verbatim_request_reads_the_same_extras_and_forwards_without_them() {
        let body = r#"{"model":"m","messages":[],"timeout":2.5,"num_retries":1,"vendor":true,
            "metadata":{"tags":["a"]},"tags":["b"],"mock_response":"hi","seed":1}"#;
        let mut req = Verbatim::<ChatCompletionRequest>::parse(body.into()).unwrap();
        let p = GatewayParams::extract_verbatim(&mut req).unwrap();
        assert_eq!(p.timeout, Some(Duration::from_millis(2500)));
        assert_eq!(p.num_retries, Some(1));
        assert_eq!(p.tags, vec!["b".to_string(), "a".to_string()]);
        assert!(matches!(p.mock_response, Some(Mock::Text(ref t)) if t == "hi"));
        assert_eq!(req.extra.keys().collect::<Vec<_>>(), ["vendor"]);
        let out = req.forward_body("id", |_| false).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"model":"id","messages":[],"vendor":true,"seed":1}"#
        );
        // Nothing of the gateway's: nothing removed, the bytes go as they are.
        let mut plain = Verbatim::<ChatCompletionRequest>::parse(
            r#"{"model":"m","messages":[],"vendor":1}"#.into(),
        )
        .unwrap();
        assert!(GatewayParams::extract_verbatim(&mut plain)
            .unwrap()
            .tags
            .is_empty());
        assert_eq!(plain.extra.len(), 1);
    }

    #[test]
    fn bad_values_are_client_errors() {
        let mut req: ChatCompletionRequest = serde_json::from_value(
            serde_json::json!({"model": "m", "messages": [], "timeout": "soon"}),
        )
        .unwrap();
        let e = GatewayParams::extract(&mut req.extra).unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(e.param.as_deref(), Some("timeout"));
    }
}
