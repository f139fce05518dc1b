//! Pass-through routes: `/openai/*`, `/anthropic/*`, `/gemini/*`, `/vertex_ai/*`, `/cohere/*`,
//! `/azure/*`. Any provider-native request, after virtual-key auth, goes to the provider with
//! the gateway's credentials (a configured deployment of that provider — the one serving the
//! request's model when there is one — else the provider's environment key) and comes back as
//! the provider sent it, streams included.
//!
//! They run the same pipeline as every other route (`chat::handle`): model access for the
//! deployment's model group, rate limits and budgets (a key over its budget is refused here
//! too: budgets cannot be bypassed through pass-through), and settlement — usage is read from
//! the answer or its events in any provider's format (`switchyard_providers::passthrough`),
//! priced, logged (`call_type: pass_through_endpoint`) and counted.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use axum::Extension;
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::BodyExt;
use serde_json::{Map, Value};
use switchyard_governance::Caller;
use switchyard_providers::passthrough::{StreamTally, Tally};
use switchyard_router::{
    CallOptions, ChatResponse, ChatStream, Completion, Deployment, Format, GatewayError,
};

use crate::chat::{handle, Ingress};
use crate::dialect::Dialect;
use crate::AppState;

/// Client headers a provider needs to read the request (never the client's credentials).
const FORWARDED: &[&str] = &[
    "content-type",
    "accept",
    "anthropic-version",
    "anthropic-beta",
    "openai-beta",
];

/// A provider-native request.
pub(crate) struct PassThrough {
    model: String,
    /// The model the request names, for its price.
    requested: Option<String>,
    user: Option<String>,
    extra: Map<String, Value>,
    deployment: Arc<Deployment>,
    method: Method,
    path_and_query: String,
    headers: Vec<(axum::http::HeaderName, axum::http::HeaderValue)>,
    body: Bytes,
}

/// The model a native request names: `model` in the body, or `models/{model}:` / `model/{id}/`
/// in the path (Gemini, Vertex AI, Bedrock).
fn model_hint(path: &str, body: Option<&Value>) -> Option<String> {
    if let Some(m) = body.and_then(|b| b.get("model")).and_then(Value::as_str) {
        return Some(m.to_owned());
    }
    for marker in ["/models/", "/model/"] {
        if let Some(i) = path.find(marker) {
            let rest = &path[i + marker.len()..];
            let end = rest.find([':', '/', '?']).unwrap_or(rest.len());
            if end > 0 {
                // Bedrock model ids are percent-encoded in the path (`:` as `%3A`).
                let id = rest[..end]
                    .replace("%3A", ":")
                    .replace("%3a", ":")
                    .replace("%2F", "/")
                    .replace("%2f", "/");
                return Some(id);
            }
        }
    }
    None
}

/// The query without a `key=` parameter (Gemini clients put their — the gateway's — key there).
fn without_key(query: Option<&str>) -> String {
    let kept: Vec<&str> = query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("key="))
        .collect();
    if kept.is_empty() {
        String::new()
    } else {
        format!("?{}", kept.join("&"))
    }
}

impl Ingress for PassThrough {
    fn model_mut(&mut self) -> &mut String {
        &mut self.model
    }
    fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }
    fn extra(&self) -> &Map<String, Value> {
        &self.extra
    }
    /// A rough worst case: the body's size in tokens (four bytes a token) and its
    /// `max_tokens`, at the deployment's price.
    fn estimate(&self, _state: &AppState) -> (u64, i64) {
        let prompt = (self.body.len() / 4) as u64;
        let out = serde_json::from_slice::<Value>(&self.body)
            .ok()
            .and_then(|b| {
                ["max_tokens", "max_output_tokens", "max_completion_tokens"]
                    .iter()
                    .find_map(|k| b.get(*k).and_then(Value::as_u64))
            })
            .unwrap_or(0);
        let nano = self.deployment.price.as_ref().map_or(0, |p| {
            let pico =
                u128::from(prompt) * u128::from(p.input) + u128::from(out) * u128::from(p.output);
            i64::try_from(pico.div_ceil(1000)).unwrap_or(i64::MAX)
        });
        (prompt, nano)
    }
    async fn call(
        self,
        router: &switchyard_router::Router,
        opts: &CallOptions,
    ) -> Result<ChatResponse, GatewayError> {
        let d = &self.deployment;
        let price = self
            .requested
            .as_deref()
            .filter(|m| *m != d.target.model)
            .and_then(|m| router.prices().lookup(&d.target.provider, m))
            .or_else(|| d.price.clone());
        let (mut meta, resp) = router
            .pass_through(
                d,
                self.method,
                &self.path_and_query,
                self.headers,
                self.body,
                opts,
            )
            .await?;
        meta.unpriced = price.is_none();
        let is_stream = resp
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if is_stream {
            let usage = Arc::new(Mutex::new(None));
            let slot = Arc::clone(&usage);
            let mut tally = StreamTally::default();
            let events = resp
                .into_body()
                .into_data_stream()
                .map(move |chunk| match chunk {
                    Ok(b) => {
                        tally.push(&b);
                        if let (Some(u), Ok(mut s)) = (tally.tally.usage(), slot.lock()) {
                            *s = Some(u);
                        }
                        Ok(b)
                    }
                    Err(e) => Err(GatewayError::bad_gateway(format!(
                        "the provider's stream broke off: {e}"
                    ))),
                })
                .boxed();
            return Ok(ChatResponse::Stream(ChatStream {
                meta,
                events,
                usage,
                price,
                format: Format::PassThrough,
            }));
        }
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| GatewayError::bad_gateway(format!("reading the provider's answer: {e}")))?
            .to_bytes();
        let mut tally = Tally::default();
        if let Ok(v) = serde_json::from_slice::<Value>(&body) {
            tally.read(&v);
        }
        let usage = tally.usage();
        let cost = match (&price, &usage) {
            (Some(p), Some(u)) => Some(p.cost(u)),
            _ => None,
        };
        Ok(ChatResponse::Complete(Completion {
            body,
            usage,
            cost,
            meta,
            format: Format::PassThrough,
        }))
    }
}

/// Any method on `/{provider}/{*rest}`.
pub async fn forward(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let path = uri.path();
    let (provider, rest) = path
        .trim_start_matches('/')
        .split_once('/')
        .unwrap_or((path.trim_start_matches('/'), ""));
    let provider = provider.to_owned();
    let path_and_query = format!("/{rest}{}", without_key(uri.query()));
    let forwarded: Vec<_> = FORWARDED
        .iter()
        .filter_map(|h| {
            headers
                .get(*h)
                .map(|v| (axum::http::HeaderName::from_static(h), v.clone()))
        })
        .collect();
    let st = Arc::clone(&state);
    let parse = move |b: &Bytes| {
        let json: Option<Value> = serde_json::from_slice(b).ok();
        let requested = model_hint(&path_and_query, json.as_ref());
        let deployment = st
            .router
            .pass_through_deployment(&provider, requested.as_deref())
            .ok_or_else(|| {
                GatewayError::not_found(format!(
                    "No `{provider}` deployment is configured and no {provider} key is set in the environment for /{provider}/ pass-through"
                ))
            })?;
        let user = json
            .as_ref()
            .and_then(|j| j.get("user").or_else(|| j.pointer("/metadata/user_id")))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let mut extra = Map::new();
        if let Some(tags) = json.as_ref().and_then(|j| j.get("tags")) {
            extra.insert("tags".into(), tags.clone());
        }
        Ok((
            PassThrough {
                model: deployment.model_name.clone(),
                requested,
                user,
                extra,
                deployment,
                method,
                path_and_query,
                headers: forwarded,
                body: b.clone(),
            },
            None,
        ))
    };
    handle(
        state,
        caller,
        headers,
        body,
        "/passthrough",
        Dialect::OpenAi,
        parse,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_and_queries() {
        assert_eq!(
            model_hint("/v1beta/models/gemini-2.0-flash:generateContent", None).as_deref(),
            Some("gemini-2.0-flash")
        );
        assert_eq!(
            model_hint("/model/anthropic.claude-v2%3A1/invoke", None).as_deref(),
            Some("anthropic.claude-v2:1")
        );
        let body = serde_json::json!({"model": "gpt-4o"});
        assert_eq!(
            model_hint("/v1/chat/completions", Some(&body)).as_deref(),
            Some("gpt-4o")
        );
        assert_eq!(without_key(Some("key=sk-1&alt=sse")), "?alt=sse");
        assert_eq!(without_key(Some("key=sk-1")), "");
        assert_eq!(without_key(None), "");
    }
}
