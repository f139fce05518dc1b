//! `POST /v1/chat/completions`: ingress, then the router, then settle.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::BodyExt;
use switchyard_governance::admission::{Admitted, KeyHeaders};
use switchyard_governance::{Caller, SpendLog};
use switchyard_pricing::{Cost, Price};
use switchyard_router::{
    CallMeta, CallOptions, ChatResponse, Format, GatewayError, Native, Origin, UsageSlot,
};
use switchyard_types::{ChatCompletionRequest, Usage, Verbatim};

use crate::fixed::Fixed;

use crate::dialect::Dialect;
use crate::telemetry::FailureLabels;
use crate::{AppState, VERSION};

/// Reads a request body, refusing more than `limit` bytes with a 413.
pub async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, GatewayError> {
    read_body_declared(declared_length(headers), body, limit).await
}

/// The body's declared length (`content-length`), if any.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// [`read_body`] with the declared length already read.
async fn read_body_declared(
    declared: Option<u64>,
    body: Body,
    limit: usize,
) -> Result<Bytes, GatewayError> {
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(GatewayError::too_large(limit));
    }
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(GatewayError::too_large(limit)),
        Err(e) => Err(GatewayError::bad_request(format!(
            "Could not read the request body: {e}"
        ))),
    }
}

/// Parses a chat request, with serde's message (naming the field and position) on failure.
/// It keeps the body, to be forwarded as sent while the request is unchanged.
pub fn parse_request(bytes: Bytes) -> Result<Verbatim<ChatCompletionRequest>, GatewayError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(GatewayError::bad_request(
            "Request body is empty; send a JSON chat completion request.",
        ));
    }
    Verbatim::parse(bytes)
        .map_err(|e| GatewayError::bad_request(format!("Invalid request body: {e}")))
}

/// `llm_provider-{name}` for a provider's response header `name` (LiteLLM echoes each one so).
///
/// The names providers send on every answer are made at compile time: building one per
/// header per request (a `format!` and a parse) cost 0.9k instructions a header, 14k a
/// request against OpenAI's sixteen. Others are built as they come.
macro_rules! provider_headers {
    ($($name:literal),* $(,)?) => {
        fn provider_header(name: &HeaderName) -> Option<HeaderName> {
            match name.as_str() {
                $($name => Some(const { HeaderName::from_static(concat!("llm_provider-", $name)) }),)*
                other => HeaderName::try_from(format!("llm_provider-{other}")).ok(),
            }
        }

        /// The names [`provider_header`] knows.
        #[cfg(test)]
        const PROVIDER_HEADERS: &[&str] = &[$($name),*];
    };
}

provider_headers!(
    // OpenAI (and the OpenAI-compatible family), and the CDN in front of it.
    "x-request-id",
    "openai-organization",
    "openai-processing-ms",
    "openai-project",
    "openai-version",
    "x-ratelimit-limit-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-requests",
    "x-ratelimit-reset-tokens",
    "x-envoy-upstream-service-time",
    "access-control-expose-headers",
    "x-content-type-options",
    "cf-cache-status",
    "cf-ray",
    "cache-control",
    "retry-after",
    "via",
    // Azure OpenAI.
    "apim-request-id",
    "x-ms-region",
    "x-ms-rai-invoked",
    "x-ms-client-request-id",
    "x-ms-deployment-name",
    "azureml-model-session",
    // Anthropic.
    "request-id",
    "anthropic-organization-id",
    "anthropic-ratelimit-requests-limit",
    "anthropic-ratelimit-requests-remaining",
    "anthropic-ratelimit-requests-reset",
    "anthropic-ratelimit-tokens-limit",
    "anthropic-ratelimit-tokens-remaining",
    "anthropic-ratelimit-tokens-reset",
    "anthropic-ratelimit-input-tokens-limit",
    "anthropic-ratelimit-input-tokens-remaining",
    "anthropic-ratelimit-input-tokens-reset",
    "anthropic-ratelimit-output-tokens-limit",
    "anthropic-ratelimit-output-tokens-remaining",
    "anthropic-ratelimit-output-tokens-reset",
    // AWS Bedrock.
    "x-amzn-requestid",
    "x-amzn-bedrock-invocation-latency",
    "x-amzn-bedrock-input-token-count",
    "x-amzn-bedrock-output-token-count",
    // Google (Gemini, Vertex AI).
    "server-timing",
    "x-frame-options",
    "x-xss-protection",
);

/// Request headers the pipeline reads on every request, named once: a lookup by `&str`
/// parses and validates the name each time.
static TIMEOUT_HEADER: HeaderName = HeaderName::from_static("x-litellm-timeout");
static STREAM_TIMEOUT_HEADER: HeaderName = HeaderName::from_static("x-litellm-stream-timeout");
static TAGS_HEADER: HeaderName = HeaderName::from_static("x-litellm-tags");
static END_USER_HEADERS: [HeaderName; 2] = [
    HeaderName::from_static("x-litellm-end-user-id"),
    HeaderName::from_static("x-litellm-customer-id"),
];

fn header_seconds(
    headers: &HeaderMap,
    name: &HeaderName,
) -> Result<Option<Duration>, GatewayError> {
    let Some(v) = headers.get(name) else {
        return Ok(None);
    };
    match v.to_str().ok().and_then(|s| s.trim().parse::<f64>().ok()) {
        Some(s) if s.is_finite() && s > 0.0 && s < 1.0e7 => Ok(Some(Duration::from_secs_f64(s))),
        _ => Err(GatewayError::bad_request(format!(
            "Header {name} must be a positive number of seconds"
        ))),
    }
}

/// How a request ended, as the settle stage records it.
#[derive(Clone, Copy)]
struct Outcome<'a> {
    status: u16,
    meta: Option<&'a CallMeta>,
    usage: Option<&'a Usage>,
    cost: Option<Cost>,
    error: Option<&'a GatewayError>,
}

impl Outcome<'_> {
    fn cost_usd(&self) -> f64 {
        self.cost.map_or(0.0, |c| c.usd())
    }

    /// Nano-dollars, rounded to the nearest: the unit spend is stored in.
    fn cost_nano(&self) -> i64 {
        self.cost.map_or(0, |c| {
            i64::try_from(c.total_pico().saturating_add(500) / 1000).unwrap_or(i64::MAX)
        })
    }
}

/// Who a request's spend belongs to.
#[derive(Default)]
struct Owner {
    caller: Option<Caller>,
    end_user: Option<String>,
    tags: Vec<String>,
    spend_logs_metadata: Option<serde_json::Value>,
    /// The model name the client asked for.
    model: String,
    /// Its limits and budgets, counted at admission.
    admitted: Option<Admitted>,
}

/// What the settle stage needs about a request. Counts the request in flight while alive.
struct Settle {
    state: Arc<AppState>,
    call_id: String,
    started: Instant,
    stream: bool,
    route: &'static str,
    requested_model: String,
    wall_start_ms: i64,
    owner: Owner,
    /// The request's trace span, when traces are exported.
    span: Option<crate::otel::RequestSpan>,
    /// The request's messages as JSON, when log sinks or spans keep them.
    input: Option<Bytes>,
    /// The answer as JSON (or text), when log sinks or spans keep it.
    output: Option<Bytes>,
}

impl Drop for Settle {
    fn drop(&mut self) {
        self.state.metrics.in_flight.dec();
    }
}

impl Settle {
    fn new(state: Arc<AppState>, call_id: String, started: Instant, route: &'static str) -> Settle {
        state.metrics.in_flight.inc();
        Settle {
            state,
            call_id,
            started,
            stream: false,
            route,
            requested_model: String::new(),
            wall_start_ms: switchyard_store::now_ms(),
            owner: Owner::default(),
            span: None,
            input: None,
            output: None,
        }
    }

    /// Settles a request: its metrics, its log line, its spend record, a slow-answer alert.
    fn finish(&mut self, o: Outcome<'_>) {
        if let (Some(alerts), Some(meta), None) = (&self.state.alerts, o.meta, o.error) {
            alerts.slow(
                &meta.model_group,
                &meta.deployment_id,
                self.started.elapsed(),
            );
        }
        self.record(o);
        self.log(o);
        self.trace(o);
        self.account(o);
    }

    /// Ends the request's span, with what it used and who it belongs to.
    fn trace(&self, o: Outcome<'_>) {
        let Some(span) = &self.span else { return };
        let key = self
            .owner
            .caller
            .as_ref()
            .and_then(Caller::principal)
            .map(|p| &p.key.record);
        span.end(crate::otel::Ended {
            status: o.status,
            meta: o.meta,
            usage: o.usage,
            cost_usd: o.cost_usd(),
            error: o.error,
            key_alias: key.and_then(|k| k.key_alias.as_deref()),
            team_id: key.and_then(|k| k.team_id.as_deref()),
            user_id: key.and_then(|k| k.user_id.as_deref()),
            end_user: self.owner.end_user.as_deref(),
            input: self
                .input
                .as_ref()
                .filter(|_| self.state.otel.as_ref().is_some_and(|o| o.log_messages)),
            output: self
                .output
                .as_ref()
                .filter(|_| self.state.otel.as_ref().is_some_and(|o| o.log_messages)),
        });
    }

    /// Queues the request's spend record (written in batches off the request path).
    fn account(&mut self, o: Outcome<'_>) {
        let principal = self.owner.caller.as_ref().and_then(Caller::principal);
        let key = principal.map(|p| &p.key.record);
        let u = o.usage;
        let cached = u
            .and_then(|u| u.prompt_tokens_details.as_ref())
            .and_then(|d| d.cached_tokens)
            .unwrap_or(0);
        let reasoning = u
            .and_then(|u| u.completion_tokens_details.as_ref())
            .and_then(|d| d.reasoning_tokens)
            .unwrap_or(0);
        let cache_write = u
            .and_then(|u| u.extra.get("cache_creation_input_tokens"))
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let mut budget_periods = Vec::new();
        if let Some(a) = self.owner.admitted.take() {
            budget_periods = a.budget_periods;
            if let Some(adm) = a.admission {
                let tokens = u.map_or(0, |u| u.prompt_tokens + u.completion_tokens);
                adm.settle(tokens, o.cost_nano());
            }
        }
        let end = switchyard_store::now_ms();
        let mut metadata = serde_json::Map::new();
        if let Some(m) = &self.owner.spend_logs_metadata {
            metadata.insert("spend_logs_metadata".into(), m.clone());
        }
        let log = SpendLog {
            request_id: self.call_id.clone(),
            call_type: match self.route {
                "/v1/messages" => "anthropic_messages",
                "/embeddings" => "aembedding",
                "/completions" => "atext_completion",
                "/responses" => "aresponses",
                "/passthrough" => "pass_through_endpoint",
                "/images/generations" => "aimage_generation",
                "/audio/speech" => "aspeech",
                "/moderations" => "amoderation",
                "/rerank" => "arerank",
                "/audio/transcriptions" => "atranscription",
                _ => "acompletion",
            }
            .into(),
            api_key: principal.map(|p| p.hash.to_string()),
            key_alias: key.and_then(|k| k.key_alias.clone()),
            user_id: key.and_then(|k| k.user_id.clone()),
            team_id: key.and_then(|k| k.team_id.clone()),
            end_user: self.owner.end_user.clone(),
            model_group: o
                .meta
                .map_or_else(|| self.owner.model.clone(), |m| m.model_group.clone()),
            model: o.meta.map(|m| m.model.clone()).unwrap_or_default(),
            model_id: o.meta.map(|m| m.deployment_id.clone()).unwrap_or_default(),
            provider: o.meta.map(|m| m.provider.clone()).unwrap_or_default(),
            api_base: o
                .meta
                .map(|m| m.api_base.split('?').next().unwrap_or_default().to_owned())
                .unwrap_or_default(),
            prompt_tokens: n(u.map_or(0, |u| u.prompt_tokens)),
            completion_tokens: n(u.map_or(0, |u| u.completion_tokens)),
            total_tokens: n(u.map_or(0, |u| u.prompt_tokens + u.completion_tokens)),
            cache_read_tokens: n(cached),
            cache_write_tokens: n(cache_write),
            reasoning_tokens: n(reasoning),
            spend_nano: o.cost_nano(),
            status: if o.error.is_none() {
                "success"
            } else {
                "failure"
            }
            .into(),
            status_code: i64::from(o.status),
            error_reason: o.error.map(|e| e.reason.to_owned()),
            stream: self.stream,
            cache_hit: false,
            attempted_retries: o.meta.map_or(0, |m| i64::from(m.attempted_retries)),
            attempted_fallbacks: o.meta.map_or(0, |m| i64::from(m.attempted_fallbacks)),
            start_time: self.wall_start_ms,
            end_time: end,
            completion_start_time: None,
            request_duration_ms: end - self.wall_start_ms,
            request_tags: self.owner.tags.clone(),
            metadata: serde_json::Value::Object(metadata),
            budget_periods,
        };
        if let Some(sinks) = &self.state.sinks {
            let bodies = self
                .input
                .take()
                .filter(|_| sinks.log_messages)
                .map(|messages| crate::sinks::Bodies {
                    messages,
                    response: self.output.take().unwrap_or_default(),
                });
            sinks.record(&log, bodies);
        }
        self.state.governor.accounting().record(log);
    }

    /// Records the request's metrics.
    fn record(&self, o: Outcome<'_>) {
        let cost_usd = o.cost_usd();
        let Outcome {
            status,
            meta,
            usage,
            error,
            ..
        } = o;
        let m = &self.state.metrics;
        let total = self.started.elapsed().as_secs_f64();
        let status_text = StatusText::new(status);
        m.requests(&crate::telemetry::RequestLabelsRef {
            requested_model: &self.requested_model,
            model_group: meta.map_or("", |m| m.model_group.as_str()),
            model_id: meta.map_or("", |m| m.deployment_id.as_str()),
            status_code: status_text.as_str(),
            route: self.route,
            stream: if self.stream { "true" } else { "false" },
        })
        .inc();
        if let Some(e) = error {
            m.failures
                .get_or_create(&FailureLabels {
                    requested_model: self.requested_model.clone(),
                    exception_status: status.to_string(),
                    exception_class: e.reason.to_owned(),
                })
                .inc();
        }
        if let Some(p) = self.owner.caller.as_ref().and_then(Caller::principal) {
            let k = &p.key.record;
            let team = p.team.as_ref().map(|t| &t.record);
            let series = m.key_series(&crate::telemetry::KeyLabelsRef {
                end_user: "",
                hashed_api_key: &p.hash,
                api_key_alias: k.key_alias.as_deref().unwrap_or_default(),
                requested_model: &self.requested_model,
                model: meta.map_or("", |m| m.model_group.as_str()),
                team: k.team_id.as_deref().unwrap_or_default(),
                team_alias: team
                    .and_then(|t| t.team_alias.as_deref())
                    .unwrap_or_default(),
                user: k.user_id.as_deref().unwrap_or_default(),
            });
            series.requests.inc();
            let key_headers = self.owner.admitted.as_ref().and_then(|a| a.key.as_ref());
            if let Some(r) = key_headers.map(|h| &h.remaining) {
                let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
                if r.limit_requests.is_some() {
                    series.requests_left(m).set(n(r.remaining_requests));
                }
                if r.limit_tokens.is_some() {
                    series.tokens_left(m).set(n(r.remaining_tokens));
                }
            }
            if let Some(max) = key_headers.and_then(|h| h.max_budget) {
                let spent = key_headers.map_or(0.0, |h| h.spend_nano as f64 / 1e9) + o.cost_usd();
                series.max_budget(m).set(max);
                series.budget_remaining(m).set(max - spent);
            }
        }
        let Some(meta) = meta else { return };
        if meta.attempted_retries > 0 {
            m.retries
                .get_or_create(&crate::telemetry::LatencyLabels {
                    model_group: meta.model_group.clone(),
                })
                .inc_by(u64::from(meta.attempted_retries));
        }
        if meta.attempted_fallbacks > 0 {
            m.fallbacks
                .get_or_create(&crate::telemetry::FallbackLabels {
                    requested_model: self.requested_model.clone(),
                    fallback_model: meta.model_group.clone(),
                })
                .inc();
        }
        // Configured deployments have their series ready; a directly addressed one (SDK use)
        // resolves it here.
        let owned;
        let series = match self.state.series.get(&meta.deployment_id) {
            Some(s) => s,
            None => {
                owned = m.deployment_series(&meta.model, &meta.model_group, &meta.provider);
                &owned
            }
        };
        // A key's usage goes in series of its own (by key, team and user, as LiteLLM's).
        let keyed = self
            .owner
            .caller
            .as_ref()
            .and_then(Caller::principal)
            .map(|p| {
                let k = &p.key.record;
                m.keyed_usage(&crate::telemetry::UsageLabelsRef {
                    model: &meta.model,
                    model_group: &meta.model_group,
                    api_provider: &meta.provider,
                    end_user: "",
                    hashed_api_key: &p.hash,
                    api_key_alias: k.key_alias.as_deref().unwrap_or_default(),
                    team: k.team_id.as_deref().unwrap_or_default(),
                    team_alias: p
                        .team
                        .as_ref()
                        .and_then(|t| t.record.team_alias.as_deref())
                        .unwrap_or_default(),
                    user: k.user_id.as_deref().unwrap_or_default(),
                })
            });
        let counters = keyed.as_deref().unwrap_or(&series.usage);
        if let Some(u) = usage {
            counters.input_tokens.inc_by(u.prompt_tokens);
            counters.output_tokens.inc_by(u.completion_tokens);
            counters
                .total_tokens
                .inc_by(u.prompt_tokens + u.completion_tokens);
        }
        if cost_usd > 0.0 {
            counters.spend.inc_by(cost_usd);
        }
        if meta.unpriced {
            series.unpriced.inc();
        }
        let upstream = meta.upstream_latency.as_secs_f64();
        series.total_latency.observe(total);
        series.llm_api_latency.observe(upstream);
        if self.stream {
            // For a stream the router's upstream time is the wait for the first bytes.
            m.ttft
                .get_or_create(&crate::telemetry::LatencyLabels {
                    model_group: meta.model_group.clone(),
                })
                .observe(upstream);
        } else {
            series.overhead_latency.observe((total - upstream).max(0.0));
        }
    }

    fn log(&self, o: Outcome<'_>) {
        let cost_usd = o.cost_usd();
        let Outcome {
            status,
            meta,
            usage,
            error,
            ..
        } = o;
        // Milliseconds to the microsecond: `12.345`, not `12.344999999999999`.
        let ms = |d: Duration| (d.as_secs_f64() * 1e6).round() / 1000.0;
        let latency_ms = ms(self.started.elapsed());
        let (group, deployment, provider) = meta.map_or(("", "", ""), |m| {
            (
                m.model_group.as_str(),
                m.deployment_id.as_str(),
                m.provider.as_str(),
            )
        });
        let upstream_ms = meta.map_or(0.0, |m| ms(m.upstream_latency));
        let (prompt, completion) = usage.map_or((0, 0), |u| (u.prompt_tokens, u.completion_tokens));
        match error {
            // Formatted off the request path (see `request_log`).
            None => {
                if crate::request_log::enabled() {
                    crate::request_log::send(crate::request_log::Line {
                        call_id: self.call_id.clone(),
                        model_group: group.to_owned(),
                        deployment: deployment.to_owned(),
                        provider: provider.to_owned(),
                        status,
                        stream: self.stream,
                        latency_ms,
                        upstream_ms,
                        prompt_tokens: prompt,
                        completion_tokens: completion,
                        cost_usd,
                    });
                }
            }
            // Client mistakes are routine; upstream and gateway failures need attention.
            Some(e) if e.origin == Origin::Client => tracing::info!(
                target: "switchyard::request",
                call_id = %self.call_id, model_group = group, deployment, provider, status,
                stream = self.stream, latency_ms, reason = e.reason, origin = ?e.origin,
                error = %e.message,
                "request refused"
            ),
            Some(e) => tracing::warn!(
                target: "switchyard::request",
                call_id = %self.call_id, model_group = group, deployment, provider, status,
                stream = self.stream, latency_ms, reason = e.reason, origin = ?e.origin,
                error = %e.message,
                "request failed"
            ),
        }
    }
}

/// An HTTP status as text, without an allocation.
struct StatusText([u8; 3]);

impl StatusText {
    fn new(status: u16) -> StatusText {
        // Statuses are three digits (100-999); anything else reads as 999.
        let s = if (100..1000).contains(&status) {
            status
        } else {
            999
        };
        StatusText([
            b'0' + (s / 100) as u8,
            b'0' + (s / 10 % 10) as u8,
            b'0' + (s % 10) as u8,
        ])
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("999")
    }
}

fn hv(s: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(s).ok()
}

/// The gateway's headers on an answer: the call's, the provider's (`llm_provider-*`) and, for
/// a virtual key, the key's.
fn set_call_headers(
    headers: &mut HeaderMap,
    call_id: &str,
    meta: Option<&CallMeta>,
    key: Option<&KeyHeaders>,
    started: Instant,
) {
    // Up to a dozen headers follow, and ten for a key: one allocation, not a growth per few.
    headers.reserve(12 + meta.map_or(0, |m| m.upstream_headers.len()) + key.map_or(0, |_| 10));
    if let Some(k) = key {
        set_key_headers(headers, k);
    }
    if let Some(v) = hv(call_id) {
        headers.insert(HeaderName::from_static("x-litellm-call-id"), v);
    }
    headers.insert(
        HeaderName::from_static("x-litellm-version"),
        HeaderValue::from_static(VERSION),
    );
    let total = started.elapsed();
    if let Some(m) = meta {
        for (name, value) in &m.upstream_headers {
            if let Some(n) = provider_header(name) {
                headers.append(n, value.clone());
            }
        }
        if let Some(v) = hv(&m.deployment_id) {
            headers.insert(HeaderName::from_static("x-litellm-model-id"), v);
        }
        headers.insert(
            HeaderName::from_static("x-litellm-attempted-retries"),
            HeaderValue::from(m.attempted_retries),
        );
        headers.insert(
            HeaderName::from_static("x-litellm-attempted-fallbacks"),
            HeaderValue::from(m.attempted_fallbacks),
        );
        if !m.fallback_errors.is_empty() {
            // LiteLLM's JSON list of `{message, type, param, code}`; a header carries printable
            // ASCII only, so anything else becomes `?`.
            if let Some(v) = serde_json::to_string(&m.fallback_errors)
                .ok()
                .map(|j| {
                    j.chars()
                        .map(|c| {
                            if c.is_ascii_graphic() || c == ' ' {
                                c
                            } else {
                                '?'
                            }
                        })
                        .collect::<String>()
                })
                .and_then(|j| hv(&j))
            {
                headers.insert(HeaderName::from_static("x-litellm-fallback-errors"), v);
            }
        }
        if let Some(v) = hv(&m.model_group) {
            headers.insert(HeaderName::from_static("x-litellm-model-group"), v);
        }
        if let Some(v) =
            hv(m.api_base.split('?').next().unwrap_or_default()).filter(|v| !v.is_empty())
        {
            headers.insert(HeaderName::from_static("x-litellm-model-api-base"), v);
        }
        headers.insert(
            HeaderName::from_static("x-litellm-overhead-duration-ms"),
            Fixed::millis(total.saturating_sub(m.upstream_latency)).header(),
        );
    }
    headers.insert(
        HeaderName::from_static("x-litellm-response-duration-ms"),
        Fixed::millis(total).header(),
    );
}

/// Logs a stream's line when it ends, completed or not (a client may go away mid-way).
struct StreamGuard {
    settle: Settle,
    meta: CallMeta,
    usage: UsageSlot,
    price: Option<Arc<Price>>,
    failed: Option<GatewayError>,
    /// The answer as it streams, when log sinks keep it.
    text: Option<crate::transcript::StreamText>,
}

impl StreamGuard {
    /// Notes a mid-stream failure; `event` (its error event) ends the stream.
    fn fail(&mut self, e: GatewayError, event: Bytes) -> Bytes {
        self.failed = Some(e);
        event
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let usage = self.usage.lock().ok().and_then(|u| u.clone());
        let cost = match (&self.price, &usage) {
            (Some(p), Some(u)) => Some(p.cost(u)),
            _ => None,
        };
        let status = if self.failed.is_some() { 502 } else { 200 };
        if let Some(t) = self.text.take() {
            self.settle.output = serde_json::to_vec(&t.finish()).ok().map(Bytes::from);
        }
        self.settle.finish(Outcome {
            status,
            meta: Some(&self.meta),
            usage: usage.as_ref(),
            cost,
            error: self.failed.as_ref(),
        });
    }
}

/// What the pipeline needs of a request, whatever its route.
pub(crate) trait Ingress: Send + 'static {
    /// The model name asked for (rewritten by key and team aliases).
    fn model_mut(&mut self) -> &mut String;
    /// The `user` field.
    fn user(&self) -> Option<&str>;
    /// Fields the type does not model (`tags`, `metadata`).
    fn extra(&self) -> &serde_json::Map<String, serde_json::Value>;
    /// Prompt tokens and worst-case cost in nano-dollars, for limits and budgets.
    fn estimate(&self, state: &AppState) -> (u64, i64);
    /// What log sinks keep of the request when they keep messages.
    fn logged_input(&self) -> Bytes {
        Bytes::new()
    }
    /// The request's GenAI attributes for its trace span (`gen_ai.request.max_tokens`, …).
    fn span_attributes(&self) -> Vec<opentelemetry::KeyValue> {
        Vec::new()
    }
    /// Routes the request.
    fn call(
        self,
        router: &switchyard_router::Router,
        opts: &CallOptions,
    ) -> impl std::future::Future<Output = Result<ChatResponse, GatewayError>> + Send;
}

impl Ingress for Verbatim<ChatCompletionRequest> {
    fn model_mut(&mut self) -> &mut String {
        Verbatim::model_mut(self)
    }
    fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }
    fn extra(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.extra
    }
    fn estimate(&self, state: &AppState) -> (u64, i64) {
        estimate(state, self)
    }
    fn logged_input(&self) -> Bytes {
        serde_json::to_vec(&self.messages).map_or_else(|_| Bytes::new(), Bytes::from)
    }
    fn span_attributes(&self) -> Vec<opentelemetry::KeyValue> {
        use opentelemetry::KeyValue;
        let mut out = vec![KeyValue::new(
            "gen_ai.request.stream",
            self.stream.unwrap_or(false),
        )];
        if let Some(m) = self.max_completion_tokens.or(self.max_tokens) {
            out.push(KeyValue::new(
                "gen_ai.request.max_tokens",
                i64::try_from(m).unwrap_or(i64::MAX),
            ));
        }
        for (k, v) in [
            ("gen_ai.request.temperature", self.temperature),
            ("gen_ai.request.top_p", self.top_p),
            ("gen_ai.request.presence_penalty", self.presence_penalty),
            ("gen_ai.request.frequency_penalty", self.frequency_penalty),
        ] {
            if let Some(v) = v {
                out.push(KeyValue::new(k, v));
            }
        }
        if let Some(seed) = self.seed {
            out.push(KeyValue::new("gen_ai.request.seed", seed));
        }
        if let Some(n) = self.n.filter(|n| *n != 1) {
            out.push(KeyValue::new("gen_ai.request.choice.count", i64::from(n)));
        }
        out
    }
    async fn call(
        self,
        router: &switchyard_router::Router,
        opts: &CallOptions,
    ) -> Result<ChatResponse, GatewayError> {
        router.chat(self, opts).await
    }
}

impl Ingress for Verbatim<switchyard_types::EmbeddingRequest> {
    fn model_mut(&mut self) -> &mut String {
        Verbatim::model_mut(self)
    }
    fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }
    fn extra(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.extra
    }
    fn logged_input(&self) -> Bytes {
        serde_json::to_vec(&self.input).map_or_else(|_| Bytes::new(), Bytes::from)
    }
    /// The inputs' tokens at the priciest deployment's input price.
    fn estimate(&self, state: &AppState) -> (u64, i64) {
        use switchyard_pricing::tokens;
        let enc = tokens::encoding_for(&self.model);
        let prompt: u64 = match self.input.texts() {
            Some(texts) => texts.iter().map(|t| tokens::count_text(enc, t)).sum(),
            None => match &self.input {
                switchyard_types::EmbeddingInput::Tokens(t) => t.len() as u64,
                switchyard_types::EmbeddingInput::TokenLists(l) => {
                    l.iter().map(|t| t.len() as u64).sum()
                }
                _ => 0,
            },
        };
        let worst = state
            .router
            .deployments(&self.model)
            .unwrap_or_default()
            .iter()
            .filter_map(|d| d.price.as_deref())
            .map(|p| u128::from(prompt) * u128::from(p.input))
            .max()
            .unwrap_or(0);
        (
            prompt,
            i64::try_from(worst.div_ceil(1000)).unwrap_or(i64::MAX),
        )
    }
    async fn call(
        self,
        router: &switchyard_router::Router,
        opts: &CallOptions,
    ) -> Result<ChatResponse, GatewayError> {
        router
            .embedding(self, opts)
            .await
            .map(ChatResponse::Complete)
    }
}

impl Ingress for switchyard_router::EndpointRequest {
    fn model_mut(&mut self) -> &mut String {
        &mut self.model
    }
    fn user(&self) -> Option<&str> {
        self.body.get("user").and_then(serde_json::Value::as_str)
    }
    fn extra(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.body
    }
    fn logged_input(&self) -> Bytes {
        serde_json::to_vec(&self.body).map_or_else(|_| Bytes::new(), Bytes::from)
    }
    /// Per-unit prices count what the request asks for (images, characters, one query);
    /// token prices the body's size, at the priciest deployment.
    fn estimate(&self, state: &AppState) -> (u64, i64) {
        use switchyard_providers::endpoints::Endpoint;
        let text_len = |k: &str| {
            self.body.get(k).map_or(0, |v| {
                v.as_str().map_or_else(|| v.to_string().len(), str::len)
            })
        };
        let tokens =
            (text_len("input") + text_len("prompt") + text_len("query") + text_len("documents"))
                as u64
                / 4;
        let units = match self.endpoint {
            Endpoint::Images => self
                .body
                .get("n")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(1),
            Endpoint::Speech => text_len("input") as u64,
            Endpoint::Rerank => 1,
            Endpoint::Moderations => 0,
        };
        let worst = state
            .router
            .deployments(&self.model)
            .unwrap_or_default()
            .iter()
            .filter_map(|d| d.price.as_deref())
            .map(|p| {
                u128::from(tokens) * u128::from(p.input)
                    + p.per_unit
                        .map_or(0, |u| u128::from(units) * u128::from(u.pico))
            })
            .max()
            .unwrap_or(0);
        (
            tokens,
            i64::try_from(worst.div_ceil(1000)).unwrap_or(i64::MAX),
        )
    }
    async fn call(
        self,
        router: &switchyard_router::Router,
        opts: &CallOptions,
    ) -> Result<ChatResponse, GatewayError> {
        router.endpoint(self, opts).await
    }
}

/// Tags of a request: the key's, the body's (`tags`, `metadata.tags`) and `x-litellm-tags`.
fn request_tags(caller: &Caller, request: &impl Ingress, headers: &HeaderMap) -> Vec<String> {
    let mut tags: Vec<String> = caller
        .principal()
        .map(|p| p.key.record.tags.clone())
        .unwrap_or_default();
    let extra = request.extra();
    let from_body = extra
        .get("tags")
        .into_iter()
        .chain(extra.get("metadata").and_then(|m| m.get("tags")));
    for list in from_body {
        if let Some(a) = list.as_array() {
            tags.extend(a.iter().filter_map(|t| t.as_str().map(str::to_owned)));
        }
    }
    if let Some(h) = headers.get(&TAGS_HEADER).and_then(|v| v.to_str().ok()) {
        tags.extend(
            h.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
        );
    }
    tags.sort();
    tags.dedup();
    tags
}

/// The request's end user: `x-litellm-end-user-id` / `x-litellm-customer-id`, else `user`.
fn end_user(request: &impl Ingress, headers: &HeaderMap) -> Option<String> {
    END_USER_HEADERS
        .iter()
        .find_map(|h| headers.get(h).and_then(|v| v.to_str().ok()))
        .map(str::to_owned)
        .or_else(|| request.user().map(str::to_owned))
        .filter(|u| !u.is_empty())
}

/// Admission: the key's model access (with its aliases) and the end user's standing.
async fn admit(
    state: &AppState,
    caller: &Caller,
    request: &mut impl Ingress,
    owner: &mut Owner,
    headers: &HeaderMap,
) -> Result<(), GatewayError> {
    let gov = &state.governor;
    owner.model.clone_from(request.model_mut());
    *request.model_mut() = gov
        .admit_model(caller, &owner.model)
        .map_err(crate::governance::policy_error)?;
    owner.tags = request_tags(caller, request, headers);
    owner.end_user = end_user(request, headers);
    owner.spend_logs_metadata = request
        .extra()
        .get("metadata")
        .and_then(|m| m.get("spend_logs_metadata"))
        .cloned();
    if let Some(id) = owner.end_user.as_deref() {
        let customer = gov.end_user_cached(id);
        if customer.is_some_and(|c| c.record.limits.blocked == Some(true)) {
            return Err(crate::governance::policy_error(
                switchyard_governance::PolicyError::new(
                    403,
                    "auth_error",
                    format!("End user={id} is blocked. Unblock it with /customer/unblock."),
                ),
            ));
        }
    }
    let model = request.model_mut().clone();
    let admitted = gov
        .admit(
            caller,
            &model,
            owner.end_user.as_deref(),
            &owner.tags,
            || request.estimate(state),
        )
        .await
        .map_err(crate::governance::policy_error)?;
    owner.admitted = Some(admitted);
    Ok(())
}

/// A request's prompt tokens and worst-case cost (nano-dollars): the prompt and the most
/// output it may produce (`max_completion_tokens`, `max_tokens`, else the model's output
/// limit, else 4096), at the priciest deployment of its group.
fn estimate(state: &AppState, request: &ChatCompletionRequest) -> (u64, i64) {
    let prompt = switchyard_pricing::tokens::count_messages(
        &request.model,
        &request.messages,
        request.tools.as_deref(),
    );
    let deployments = state.router.deployments(&request.model).unwrap_or_default();
    let worst = deployments
        .iter()
        .filter_map(|d| d.price.as_deref())
        .map(|p| {
            let out = request
                .max_completion_tokens
                .or(request.max_tokens)
                .or(p.max_output_tokens)
                .unwrap_or(4096);
            u128::from(prompt) * u128::from(p.input) + u128::from(out) * u128::from(p.output)
        })
        .max()
        .unwrap_or(0);
    let nano = i64::try_from(worst.div_ceil(1000)).unwrap_or(i64::MAX);
    (prompt, nano)
}

/// `x-litellm-key-*` and `x-ratelimit-*` for a virtual key.
fn set_key_headers(headers: &mut HeaderMap, k: &KeyHeaders) {
    let mut put = |name: &'static str, v: HeaderValue| {
        headers.insert(HeaderName::from_static(name), v);
    };
    // Fixed-point text (as `f64`'s Display would print it) and itoa integers: no float
    // formatting and no intermediate `String`.
    put(
        "x-litellm-key-spend",
        Fixed::usd_from_nano(k.spend_nano).header(),
    );
    if let Some(max) = k.max_budget {
        put(
            "x-litellm-key-max-budget",
            Fixed::usd_from_nano(switchyard_governance::records::nano(max)).header(),
        );
    }
    if let Some(l) = k.rpm_limit {
        put("x-litellm-key-rpm-limit", HeaderValue::from(l));
    }
    if let Some(l) = k.tpm_limit {
        put("x-litellm-key-tpm-limit", HeaderValue::from(l));
    }
    let r = &k.remaining;
    let secs = |s: i64| Fixed::with_unit(u64::try_from(s).unwrap_or(0), b's');
    if let Some(l) = r.limit_requests {
        put("x-ratelimit-limit-requests", HeaderValue::from(l));
        put(
            "x-ratelimit-remaining-requests",
            HeaderValue::from(r.remaining_requests),
        );
        put("x-ratelimit-reset-requests", secs(r.reset_requests));
    }
    if let Some(l) = r.limit_tokens {
        put("x-ratelimit-limit-tokens", HeaderValue::from(l));
        put(
            "x-ratelimit-remaining-tokens",
            HeaderValue::from(r.remaining_tokens),
        );
        put("x-ratelimit-reset-tokens", secs(r.reset_tokens));
    }
}

/// A parsed request: the gateway's form, and the client's own when a provider takes it as is.
pub(crate) type Parsed<R = Verbatim<ChatCompletionRequest>> = (R, Option<Arc<Native>>);

/// The request pipeline shared by every chat-like route: read and parse the body, admit,
/// route, then answer in the route's dialect and settle.
pub(crate) async fn handle<R: Ingress>(
    state: Arc<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
    route: &'static str,
    dialect: Dialect,
    parse: impl FnOnce(&Bytes) -> Result<Parsed<R>, GatewayError>,
) -> Response {
    let limit = state.body_limit;
    let declared = declared_length(&headers);
    let read = async move {
        let bytes = read_body_declared(declared, body, limit).await?;
        parse(&bytes)
    };
    handle_parsed(state, caller, headers, route, dialect, read).await
}

/// The pipeline after the body: `read` yields the parsed request (a route that streams its
/// body upstream parses only its head).
pub(crate) async fn handle_parsed<R: Ingress>(
    state: Arc<AppState>,
    caller: Caller,
    headers: HeaderMap,
    route: &'static str,
    dialect: Dialect,
    read: impl std::future::Future<Output = Result<Parsed<R>, GatewayError>>,
) -> Response {
    let started = Instant::now();
    tracing::trace!("chat: request head received");
    let call_id = crate::call_id();
    let mut settle = Settle::new(Arc::clone(&state), call_id.clone(), started, route);
    settle.owner.caller = Some(caller.clone());
    settle.span = state.otel.as_ref().map(|o| o.request_span(&headers, route));
    let result = async {
        let (mut request, native) = read.await?;
        if state.sinks.as_ref().is_some_and(|s| s.log_messages)
            || state.otel.as_ref().is_some_and(|o| o.log_messages)
        {
            settle.input = Some(request.logged_input());
        }
        if let Some(span) = &settle.span {
            let attributes = request.span_attributes();
            span.requested(&call_id, request.model_mut(), attributes);
        }
        admit(&state, &caller, &mut request, &mut settle.owner, &headers).await?;
        let opts = CallOptions {
            call_id: call_id.clone(),
            timeout: header_seconds(&headers, &TIMEOUT_HEADER)?,
            stream_timeout: header_seconds(&headers, &STREAM_TIMEOUT_HEADER)?,
            native,
            deadline: None,
            trace: match &settle.span {
                Some(span) => span.trace(),
                None => switchyard_router::Trace::passed_on(&headers),
            },
        };
        // A label value must come from a bounded set: a client can send any model name.
        let model = request.model_mut();
        settle.requested_model = if state.router.deployments(model).is_some() {
            model.clone()
        } else {
            "other".to_owned()
        };
        // Boxed: the routed call's future is kilobytes, and this one would hold it inline
        // and be moved whole when the handler starts.
        let mut answer = Box::pin(request.call(&state.router, &opts)).await?;
        // A chat answer to a client of another dialect is translated back.
        if let ChatResponse::Complete(c) = &mut answer {
            if c.format == Format::OpenAi {
                if let Some(body) = dialect.translate(&c.body) {
                    c.body = body.map_err(|e| {
                        GatewayError::bad_gateway(format!("Could not translate the answer: {e}"))
                    })?;
                }
            }
            dialect.keep(&c.body, c.format);
        }
        Ok::<_, GatewayError>(answer)
    }
    .await;

    let key_headers = settle.owner.admitted.as_ref().and_then(|a| a.key.clone());
    let key_headers = key_headers.as_ref();
    match result {
        Err(e) => {
            settle.finish(Outcome {
                status: e.status,
                meta: None,
                usage: None,
                cost: None,
                error: Some(&e),
            });
            let mut resp = dialect.error_response(e);
            set_call_headers(resp.headers_mut(), &call_id, None, key_headers, started);
            resp
        }
        Ok(ChatResponse::Complete(c)) => {
            let cost = Fixed::usd_from_pico(c.cost.map_or(0, |c| c.total_pico()));
            if settle.input.is_some() {
                let ct = c.meta.content_type.as_ref().and_then(|v| v.to_str().ok());
                settle.output = Some(crate::transcript::body(&c.body, ct));
            }
            settle.finish(Outcome {
                status: 200,
                meta: Some(&c.meta),
                usage: c.usage.as_ref(),
                cost: c.cost,
                error: None,
            });
            let content_type = c
                .meta
                .content_type
                .clone()
                .unwrap_or(HeaderValue::from_static("application/json"));
            let mut resp = (StatusCode::OK, [(CONTENT_TYPE, content_type)], c.body).into_response();
            set_call_headers(
                resp.headers_mut(),
                &call_id,
                Some(&c.meta),
                key_headers,
                started,
            );
            // LiteLLM sends the cost of every answered call, 0 for unpriced models.
            resp.headers_mut().insert(
                HeaderName::from_static("x-litellm-response-cost"),
                cost.header(),
            );
            resp
        }
        Ok(ChatResponse::Stream(s)) => {
            settle.stream = true;
            let mut headers = HeaderMap::new();
            set_call_headers(&mut headers, &call_id, Some(&s.meta), key_headers, started);
            let content_type = s.meta.content_type.clone();
            let mut back = dialect.stream_back(s.format);
            let mut keeper = dialect.keeper(s.format);
            let mut guard = StreamGuard {
                text: settle
                    .input
                    .is_some()
                    .then(crate::transcript::StreamText::default),
                settle,
                meta: s.meta,
                usage: s.usage,
                price: s.price,
                failed: None,
            };
            let body = s.events.map(move |item| {
                let out = match item {
                    Ok(b) => match back.as_mut() {
                        Some(back) => concat(back.push(&b)),
                        None => b,
                    },
                    Err(e) => {
                        let ev = dialect.error_event(&e);
                        guard.fail(e, ev)
                    }
                };
                if let Some(k) = keeper.as_mut() {
                    k.observe(&out);
                }
                if let Some(t) = guard.text.as_mut() {
                    t.observe(&out);
                }
                Ok::<_, Infallible>(out)
            });
            tracing::trace!("chat: stream response ready");
            let mut resp = Response::new(Body::from_stream(body));
            *resp.headers_mut() = headers;
            let h = resp.headers_mut();
            h.insert(
                CONTENT_TYPE,
                content_type.unwrap_or(HeaderValue::from_static("text/event-stream")),
            );
            h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            h.insert(
                HeaderName::from_static("x-accel-buffering"),
                HeaderValue::from_static("no"),
            );
            resp
        }
    }
}

/// Several events as one piece of the response body.
fn concat(events: Vec<Bytes>) -> Bytes {
    match events.len() {
        0 => Bytes::new(),
        1 => events.into_iter().next().unwrap_or_default(),
        _ => Bytes::from(events.concat()),
    }
}

/// The body, with the model from the path (Azure-style routes) when the body names none.
/// Borrowed as it came when there is no path model.
fn with_path_model(bytes: &Bytes, path_model: Option<String>) -> Result<Bytes, GatewayError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(GatewayError::bad_request(
            "Request body is empty; send a JSON request.",
        ));
    }
    let Some(model) = path_model else {
        return Ok(bytes.clone());
    };
    let mut v: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| GatewayError::bad_request(format!("Invalid request body: {e}")))?;
    if let Some(o) = v.as_object_mut() {
        o.entry("model").or_insert(serde_json::Value::String(model));
    }
    serde_json::to_vec(&v)
        .map(Bytes::from)
        .map_err(|e| GatewayError::bad_request(format!("Invalid request body: {e}")))
}

/// An OpenAI chat request body.
fn parse_chat(bytes: &Bytes, path_model: Option<String>) -> Result<Parsed, GatewayError> {
    Ok((parse_request(with_path_model(bytes, path_model)?)?, None))
}

/// An embeddings request body, kept to be forwarded as sent while the request is unchanged.
fn parse_embedding(
    bytes: &Bytes,
    path_model: Option<String>,
) -> Result<Parsed<Verbatim<switchyard_types::EmbeddingRequest>>, GatewayError> {
    let request = Verbatim::parse(with_path_model(bytes, path_model)?)
        .map_err(|e| GatewayError::bad_request(format!("Invalid request body: {e}")))?;
    Ok((request, None))
}

/// A legacy completions body: the chat form for routing, the original for OpenAI-format
/// deployments.
fn parse_completions(bytes: &Bytes, path_model: Option<String>) -> Result<Parsed, GatewayError> {
    let r = switchyard_providers::completions_openai::parse(&with_path_model(bytes, path_model)?)
        .map_err(GatewayError::from_translate)?;
    Ok((
        r.chat.into(),
        Some(Arc::new(Native::Completions {
            body: r.body,
            chat_refusal: r.chat_refusal,
        })),
    ))
}

/// A route and its Azure-style twin with the model in the path: `$plain` and `$for_model`.
macro_rules! route_pair {
    ($plain:ident, $for_model:ident, $route:literal, $dialect:expr, $parse:ident, $doc:literal) => {
        #[doc = $doc]
        pub async fn $plain(
            State(state): State<Arc<AppState>>,
            Extension(caller): Extension<Caller>,
            headers: HeaderMap,
            body: Body,
        ) -> Response {
            handle(state, caller, headers, body, $route, $dialect, |b| $parse(b, None)).await
        }

        #[doc = $doc]
        #[doc = " With the model in the path (`/engines/{model}/…`, `/openai/deployments/{model}/…`)."]
        pub async fn $for_model(
            State(state): State<Arc<AppState>>,
            Path(model): Path<String>,
            Extension(caller): Extension<Caller>,
            headers: HeaderMap,
            body: Body,
        ) -> Response {
            handle(state, caller, headers, body, $route, $dialect, |b| {
                $parse(b, Some(model))
            })
            .await
        }
    };
}

route_pair!(
    chat_completions,
    chat_completions_for,
    "/chat/completions",
    Dialect::OpenAi,
    parse_chat,
    "`POST /v1/chat/completions` and `/chat/completions`."
);
route_pair!(
    embeddings,
    embeddings_for,
    "/embeddings",
    Dialect::OpenAi,
    parse_embedding,
    "`POST /v1/embeddings` and `/embeddings`."
);
route_pair!(
    completions,
    completions_for,
    "/completions",
    Dialect::OpenAiText,
    parse_completions,
    "`POST /v1/completions` and `/completions`."
);

/// A JSON body for one of the smaller endpoints.
fn parse_endpoint(
    endpoint: switchyard_providers::endpoints::Endpoint,
    bytes: &Bytes,
) -> Result<Parsed<switchyard_router::EndpointRequest>, GatewayError> {
    Ok((
        switchyard_router::EndpointRequest::parse(endpoint, &with_path_model(bytes, None)?)?,
        None,
    ))
}

macro_rules! endpoint_handler {
    ($name:ident, $endpoint:ident, $route:literal, $doc:literal) => {
        #[doc = $doc]
        pub async fn $name(
            State(state): State<Arc<AppState>>,
            Extension(caller): Extension<Caller>,
            headers: HeaderMap,
            body: Body,
        ) -> Response {
            handle(state, caller, headers, body, $route, Dialect::OpenAi, |b| {
                parse_endpoint(switchyard_providers::endpoints::Endpoint::$endpoint, b)
            })
            .await
        }
    };
}

endpoint_handler!(
    images,
    Images,
    "/images/generations",
    "`POST /v1/images/generations`."
);
endpoint_handler!(
    speech,
    Speech,
    "/audio/speech",
    "`POST /v1/audio/speech`: audio streamed back."
);
endpoint_handler!(
    moderations,
    Moderations,
    "/moderations",
    "`POST /v1/moderations`."
);
endpoint_handler!(
    rerank,
    Rerank,
    "/rerank",
    "`POST /v1/rerank` and `/v2/rerank` (Cohere's format)."
);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn status_text_is_the_status_as_to_string_prints_it() {
        for status in [100u16, 200, 201, 404, 429, 500, 503, 999] {
            assert_eq!(StatusText::new(status).as_str(), status.to_string());
        }
        assert_eq!(StatusText::new(42).as_str(), "999");
        assert_eq!(StatusText::new(1000).as_str(), "999");
    }

    #[test]
    fn provider_headers_are_echoed_under_the_same_names_known_or_not() {
        for name in PROVIDER_HEADERS
            .iter()
            .chain(&["x-vendor-thing", "x-request-ids"])
        {
            let built = HeaderName::try_from(format!("llm_provider-{name}")).unwrap();
            let got = provider_header(&HeaderName::from_static(name)).unwrap();
            assert_eq!(got, built, "{name}");
            assert_eq!(got.as_str(), built.as_str());
        }
    }
}
